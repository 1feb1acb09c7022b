"""What the ingest API does with a decoded request: route, authorize, validate, enrich, queue.

Invalid events are quarantined before valid ones are queued, so a failure to quarantine
answers 503 before anything was acknowledged and a client retry duplicates nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from pydantic_core import ValidationError

from edge.decoding import write_key_from
from edge.enrichment import NO_BATCH, BatchDefaults, IpPolicy, RequestFacts, enrich, format_timestamp
from edge.errors import ClientError
from edge.limits import MAX_BATCH_EVENTS, MAX_EVENT_BYTES
from edge.models import EVENT_TYPES, BatchEnvelope, FieldError, field_errors, validate_event
from edge.observability import MetricName, MetricUnit, logger, metrics
from edge.queueing import QueueWriter, message_prefix, pack, serialize
from edge.secret import SecretStore

#: A rejected event bigger than this is quarantined as its first QUARANTINE_HEAD_BYTES only.
QUARANTINE_EVENT_BYTES: Final = 2 * MAX_EVENT_BYTES
QUARANTINE_HEAD_BYTES: Final = 4096
_ENVELOPE_ROOM: Final = 1024  # a message's envelope around its events, generously

__all__ = ["ROUTES", "Ingestor", "Outcome", "Rejection", "RouteKind", "route_kind"]


class RouteKind(Enum):
    BATCH = "batch"
    TELEMETRY = "telemetry"


#: Path segment after ``/v1/`` → event type, or a batch / telemetry route.
ROUTES: Final[dict[str, str | RouteKind]] = {
    **{name: name for name in EVENT_TYPES},
    **{name[0]: name for name in EVENT_TYPES},
    "batch": RouteKind.BATCH,
    "b": RouteKind.BATCH,
    "import": RouteKind.BATCH,
    "m": RouteKind.TELEMETRY,
}


def route_kind(segment: str) -> str | RouteKind:
    """The event type or route kind of ``/v1/<segment>``; 404 for anything else."""
    kind = ROUTES.get(segment)
    if kind is None:
        raise ClientError(404, "not_found", f"No such route: /v1/{segment}.")
    return kind


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event that was not accepted, and why."""

    index: int
    reason: str
    errors: list[FieldError]
    event: Any
    message_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {"index": self.index, "messageId": self.message_id, "errors": self.errors}


@dataclass(slots=True)
class Outcome:
    """What happened to one request's events."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    sqs_calls: int = 0

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"success": True}
        if self.rejected:
            answer["rejected"] = [r.public() for r in self.rejected]
        return answer


class Ingestor:
    """Accepts requests for one deployment: its secret, its queues, its IP policy."""

    def __init__(
        self,
        *,
        events: QueueWriter,
        quarantine: QueueWriter,
        secrets: SecretStore,
        ip_policy: IpPolicy,
    ) -> None:
        self._events = events
        self._quarantine = quarantine
        self._secrets = secrets
        self._ip_policy = ip_policy

    def accept(
        self,
        route: str | RouteKind,
        body: Any,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        facts: RequestFacts,
    ) -> Outcome:
        """Authorize, validate, enrich and queue a decoded request; raise for a 4xx or 503."""
        source = self._secrets.get().authorize(write_key_from(headers, body, query))
        if route is RouteKind.BATCH:
            items, defaults = _batch_items(body)
            route_type = None
        elif isinstance(route, str):
            items, defaults, route_type = [_single_event(body)], NO_BATCH, route
        else:  # pragma: no cover - telemetry is answered before decoding
            raise ClientError(404, "not_found", "Not an event route.")

        outcome = Outcome()
        accepted: list[bytes] = []
        for index, item in enumerate(items):
            result = self._prepare(index, item, route_type, defaults, facts)
            if isinstance(result, Rejection):
                outcome.rejected.append(result)
            else:
                accepted.append(result)

        self._quarantine_all(outcome.rejected, route, facts)
        if route_type is not None and outcome.rejected:
            raise _single_rejection(outcome.rejected[0])
        if items and not accepted:
            raise ClientError(
                400,
                "invalid_batch",
                "Every event in the batch is invalid.",
                [r.public() for r in outcome.rejected],
            )
        if accepted:
            messages = list(pack(accepted, message_prefix(source), self._events.max_bytes))
            outcome.sqs_calls = self._events.send(messages)
            outcome.accepted = len(accepted)
            metrics.add_metric(MetricName.SQS_MESSAGES_SENT, MetricUnit.Count, len(messages))
        metrics.add_metric(MetricName.EVENTS_ACCEPTED, MetricUnit.Count, outcome.accepted)
        return outcome

    def _prepare(
        self,
        index: int,
        item: Any,
        route_type: str | None,
        defaults: BatchDefaults,
        facts: RequestFacts,
    ) -> bytes | Rejection:
        """One item serialized and enriched, or the reason it is rejected."""
        if not isinstance(item, dict):
            return Rejection(index, "not_an_object", [{"field": "", "message": "must be an object"}], item)
        event_type = route_type or item.get("type")
        refusal = _shape_refusal(item, event_type, route_type)
        if refusal is not None:
            reason, field_name, message = refusal
            return _reject(index, reason, field_name, message, item)
        errors = validate_event(item, str(event_type))
        if errors:
            return Rejection(index, "invalid_event", errors, _without_key(item), _message_id(item))
        event = enrich(item, facts=facts, ip_policy=self._ip_policy, route_type=route_type, batch=defaults)
        data = serialize(event)
        if len(data) > self._events.max_bytes - _ENVELOPE_ROOM:  # a huge batch-level context merged in
            message = "exceeds the queue's message size once the batch's context is merged in"
            return _reject(index, "event_too_large", "context", message, event)
        return data

    def _quarantine_all(
        self, rejected: Sequence[Rejection], route: str | RouteKind, facts: RequestFacts
    ) -> None:
        if not rejected:
            return
        _count_rejections(Counter(r.reason for r in rejected))
        received_at = format_timestamp(facts.received_at)
        route_name = route.value if isinstance(route, RouteKind) else route
        items = (
            serialize(
                {
                    "index": r.index,
                    "reason": r.reason,
                    "errors": r.errors,
                    "route": route_name,
                    "receivedAt": received_at,
                    "event": _quarantinable(r.event, r.message_id),
                }
            )
            for r in rejected
        )
        prefix = message_prefix(None, kind="quarantine", items="rejected")
        self._quarantine.send(pack(items, prefix, self._quarantine.max_bytes))
        metrics.add_metric(MetricName.EVENTS_QUARANTINED, MetricUnit.Count, len(rejected))
        logger.info("events quarantined", extra={"count": len(rejected), "route": route_name})


def _shape_refusal(
    item: dict[str, Any], event_type: Any, route_type: str | None
) -> tuple[str, str, str] | None:
    """Why an item cannot even be validated: (reason, field, message), or None."""
    if route_type is None and (not isinstance(event_type, str) or event_type not in EVENT_TYPES):
        return "invalid_type", "type", _type_message(event_type)
    if route_type is not None and item.get("type") not in (None, "", route_type):
        return "type_mismatch", "type", f"is {item.get('type')!r} but this route takes {route_type!r} events"
    if len(serialize(item)) > MAX_EVENT_BYTES:
        return "event_too_large", "", f"exceeds {MAX_EVENT_BYTES // 1024} KB"
    return None


def _quarantinable(event: Any, message_id: str | None) -> Any:
    """The event as quarantined: whole when it fits a message with room to spare, else its head.

    An oversized event (up to the 500 KB body limit) would not fit an SQS message, and a
    quarantine that cannot be written would turn a client's mistake into a 503 forever.
    """
    data = serialize(event)
    if len(data) <= QUARANTINE_EVENT_BYTES:
        return event
    head = data[:QUARANTINE_HEAD_BYTES].decode("utf-8", "ignore")
    return {"truncated": True, "bytes": len(data), "messageId": message_id, "head": head}


def _batch_items(body: Any) -> tuple[list[Any], BatchDefaults]:
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_json", "The request body must be a JSON object.")
    try:
        envelope = BatchEnvelope.model_validate(body)
    except ValidationError as exc:
        raise ClientError(400, "invalid_batch", "The batch envelope is invalid.", field_errors(exc)) from exc
    if len(envelope.batch) > MAX_BATCH_EVENTS:
        raise ClientError(413, "batch_too_large", f"A batch holds at most {MAX_BATCH_EVENTS} events.")
    return envelope.batch, BatchDefaults(envelope.sentAt, envelope.context, envelope.integrations)


def _single_event(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _type_message(value: Any) -> str:
    if value is None:
        return "is required"
    return f"must be one of {', '.join(sorted(EVENT_TYPES))}"


def _reject(index: int, reason: str, field_name: str, message: str, item: dict[str, Any]) -> Rejection:
    return Rejection(
        index, reason, [{"field": field_name, "message": message}], _without_key(item), _message_id(item)
    )


def _message_id(item: dict[str, Any]) -> str | None:
    value = item.get("messageId")
    return value if isinstance(value, str) else None


def _without_key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "writeKey"}


def _single_rejection(rejection: Rejection) -> ClientError:
    if rejection.reason == "event_too_large":
        return ClientError(
            413, "event_too_large", f"The event exceeds {MAX_EVENT_BYTES // 1024} KB.", rejection.errors
        )
    return ClientError(400, rejection.reason, "The event is invalid.", rejection.errors)


def _count_rejections(by_reason: Counter[str]) -> None:
    """EventsRejected with a ``reason`` dimension: one EMF record per reason."""
    from aws_lambda_powertools.metrics import single_metric

    for reason, count in by_reason.items():
        with single_metric(
            name=MetricName.EVENTS_REJECTED,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension("reason", reason)
