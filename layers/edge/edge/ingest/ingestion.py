"""What the ingest API does with a decoded request: authorize, repair, validate, enrich, queue.

Invalid events are quarantined before valid ones are queued, so a failure to quarantine
answers 503 before anything was acknowledged and a client retry duplicates nothing. Every
limit holds for the event as it will be forwarded, however it was built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic_core import ValidationError

from edge.core.config import IpPolicy
from edge.core.errors import RequestError
from edge.core.observability import MetricName, MetricUnit, add_counts, count, logger, metrics
from edge.core.queueing import PARKING_ROOM, QueueWriter, message_prefix, pack, pack_events, serialize
from edge.core.secret import EdgeSecret, SecretStore
from edge.core.timestamps import format_timestamp
from edge.ingest.consent import ConsentCount
from edge.ingest.custom import METADATA_HEADER, queued, read_metadata, without_write_key
from edge.ingest.decoding import basic_auth_user, check_inflation, json_problem, write_key_from
from edge.ingest.enrichment import NO_BATCH, BatchDefaults, RequestFacts, enrich
from edge.ingest.limits import (
    ENRICHMENT_ALLOWANCE,
    MAX_BATCH_EVENTS,
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    MAX_REJECTIONS_SHOWN,
    QUEUED_PER_BODY_BYTE,
)
from edge.ingest.models import EVENT_TYPES, BatchEnvelope, FieldError, field_errors, validate_event
from edge.ingest.plan import NO_PLAN, PlanPolicy, Violation
from edge.ingest.privacy import NO_PRIVACY, PrivacyPolicy, RequestPrivacy, hash_fields
from edge.ingest.repairs import Repair, repair_event, repair_ip, repair_timestamp
from edge.ingest.routes import RouteKind

#: A rejected event bigger than this is quarantined as its first QUARANTINE_HEAD_BYTES only.
QUARANTINE_EVENT_BYTES: Final = 2 * MAX_EVENT_BYTES
QUARANTINE_HEAD_BYTES: Final = 4096
#: The ``kind`` of quarantine messages holding events the tracking plan blocked, and their items'
#: ``reason``: ``make redrive BLOCKED=1`` sends them on.
BLOCKED: Final = "blocked"
PLAN_VIOLATION: Final = "plan_violation"
#: Client values echoed in answers (a mismatched type, a messageId, a field path) are cut to this length.
_ECHO_CHARS: Final = 100

__all__ = [
    "BLOCKED",
    "PLAN_VIOLATION",
    "QUARANTINE_EVENT_BYTES",
    "QUARANTINE_HEAD_BYTES",
    "Ingestor",
    "Outcome",
    "Rejection",
    "quarantinable",
    "shown",
]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event that was not accepted, and why."""

    index: int
    reason: str
    errors: list[FieldError]
    event: Any
    message_id: str | None = None

    def public(self) -> dict[str, Any]:
        """As an answer lists it: a field path (client keys can be long) cut to a readable length."""
        errors = [
            {**error, "field": _cut(error["field"])} if len(error["field"]) > _ECHO_CHARS else error
            for error in self.errors
        ]
        return {"index": self.index, "messageId": self.message_id, "errors": errors}


def shown(rejected: Sequence[Rejection]) -> list[dict[str, Any]]:
    """The rejections an answer lists: the first ``MAX_REJECTIONS_SHOWN`` (its ``rejectedCount``
    has them all), so an answer stays small whatever a batch holds."""
    return [r.public() for r in rejected[:MAX_REJECTIONS_SHOWN]]


@dataclass(slots=True)
class Outcome:
    """What happened to one request's events."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    #: Events answered as accepted but not forwarded (``edge.ingest.privacy``), by reason.
    filtered: Counter[str] = field(default_factory=Counter)
    #: What the consent control did to the forwarded events (``edge.ingest.consent.ConsentCount``),
    #: and ``cookie_unreadable`` (1) when the request's consent cookie could not be read.
    consent: Counter[str] = field(default_factory=Counter)
    #: A custom event's ``anonymousID`` (none when a JSONPath): what the first-party cookie keeps.
    anonymous_id: str | None = None
    #: Events the tracking plan blocked: answered as accepted, quarantined with their violations.
    blocked: int = 0
    #: The tracking plan's violations found in the request's events, by kind.
    violations: Counter[str] = field(default_factory=Counter)

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"success": True}
        if self.rejected:
            answer["rejected"] = shown(self.rejected)
            answer["rejectedCount"] = len(self.rejected)
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
        privacy: PrivacyPolicy = NO_PRIVACY,
        plan: PlanPolicy = NO_PLAN,
    ) -> None:
        self._events = events
        self._quarantine = quarantine
        self._secrets = secrets
        self._ip_policy = ip_policy
        self._privacy = privacy
        self._plan = plan

    def accept(
        self,
        route: str | RouteKind,
        body: Any,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        facts: RequestFacts,
        cookies: Iterable[str] = (),
    ) -> Outcome:
        """Authorize, repair, validate, enrich and queue a decoded request; raise for a 4xx or 503."""
        secret = self._secrets.get()
        request_key = write_key_from(headers, body, query)
        source = secret.authorize(request_key)
        repairs: Counter[str] = Counter()
        items, defaults, route_type = _route_items(route, body, repairs)
        if facts.wire_bytes is not None:  # compressed: its events follow its size on the wire too
            check_inflation(facts.body_bytes, len(items), facts.wire_bytes)

        privacy = self._privacy.for_request(headers, self._ip_policy, cookies)
        if self._privacy.hash_paths and defaults.context:
            repairs["hashed"] += hash_fields({"context": defaults.context}, self._privacy.hash_paths)
        outcome = Outcome()
        request = _Request(
            route_type, defaults, facts, secret, request_key, source, privacy, outcome.consent, Counter()
        )
        budget = _Budget(facts.body_bytes, len(items), privacy.consent.allowance + self._plan.allowance)
        accepted: dict[str | None, list[bytes]] = {}
        blocked: dict[str | None, list[_Blocked]] = {}
        for index, item in enumerate(items):
            result = self._prepare(index, item, request, repairs, budget)
            if isinstance(result, Rejection):
                outcome.rejected.append(result)
            elif isinstance(result, str):
                outcome.filtered[result] += 1
            elif isinstance(result, _Blocked):
                blocked.setdefault(result.source, []).append(result)
            else:
                item_source, data = result
                accepted.setdefault(item_source, []).append(data)

        self._quarantine_all(outcome.rejected, route, facts, source)
        self._quarantine_blocked(blocked, route, facts, outcome)
        if privacy.consent.unreadable:
            outcome.consent[COOKIE_UNREADABLE] = 1
        self._count(repairs, outcome)
        self._count_violations(request.violations, outcome)
        if route_type is not None and outcome.rejected:
            raise _single_rejection(outcome.rejected[0])
        if items and not accepted and not outcome.filtered and not outcome.blocked:
            listed = shown(outcome.rejected)
            raise RequestError(
                400,
                "invalid_batch",
                "Every event in the batch is invalid."
                + (f" The first {len(listed)} are listed." if len(listed) < len(outcome.rejected) else ""),
                listed,
                rejected_count=len(outcome.rejected),
            )
        if accepted:
            room = self._events.max_bytes - PARKING_ROOM
            messages = [
                message
                for item_source, events in accepted.items()
                for message in pack_events(item_source, events, room)
            ]
            self._events.send(messages)
            outcome.accepted = sum(len(events) for events in accepted.values())
            count(MetricName.SQS_MESSAGES_SENT, len(messages))
        count(MetricName.EVENTS_ACCEPTED, outcome.accepted)
        return outcome

    def accept_custom(
        self,
        body: Any,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        facts: RequestFacts,
    ) -> Outcome:
        """A custom event (``edge.ingest.custom``): its metadata read, its key authorized (Basic
        auth, else the metadata's), the controls applied, filled in and queued under its Source."""
        header = headers.get(METADATA_HEADER)
        metadata = read_metadata(body, header, query)
        secret = self._secrets.get()
        key = basic_auth_user(headers.get("authorization")) or metadata.get("writeKey")
        source = secret.authorize(key)
        privacy = self._privacy.for_request(headers, self._ip_policy)
        outcome = Outcome()
        repairs: Counter[str] = Counter()
        if privacy.policy.hash_paths:  # first, so no copy of the value is kept anywhere
            repairs["hashed"] += hash_fields(body, privacy.policy.hash_paths)
        filtered = privacy.filtered(body, None)
        if filtered is not None:
            outcome.filtered[filtered] += 1
            self._count(repairs, outcome)
            count(MetricName.EVENTS_ACCEPTED, 0)
            return outcome
        bot = privacy.policy.bot_policy == "flag" and privacy.is_bot(body, None)
        event = queued(body, metadata, facts=facts, ip_policy=privacy.ip_policy, bot=bot)
        repairs["bot_flagged"] += bot
        # What the header and the query add counts as body: neither may amplify a request.
        carried = facts.body_bytes + len(header or "") + sum(len(k) + len(v) for k, v in query.items())
        data = _custom_data(body, event, _Budget(carried, 1))
        if isinstance(data, Rejection):
            rejection = data
            self._quarantine_all([rejection], RouteKind.CUSTOM, facts, source)
            self._count(repairs, outcome)
            raise _single_rejection(rejection)
        room = self._events.max_bytes - PARKING_ROOM
        self._events.send(list(pack_events(source, [data], room)))
        self._count(repairs, outcome)
        outcome.accepted = 1
        anonymous_id = metadata.get("anonymousID")
        if isinstance(anonymous_id, str) and not anonymous_id.startswith("$"):
            outcome.anonymous_id = anonymous_id
        count(MetricName.SQS_MESSAGES_SENT, 1)
        count(MetricName.EVENTS_ACCEPTED, 1)
        count(MetricName.CUSTOM_EVENTS_ACCEPTED, 1)
        return outcome

    def _prepare(
        self,
        index: int,
        item: Any,
        request: _Request,
        repairs: Counter[str],
        budget: _Budget,
    ) -> tuple[str | None, bytes] | Rejection | _Blocked | str:
        """One item's source and its event serialized as it will be forwarded, why it is rejected,
        or why it is filtered (answered as accepted, not forwarded, never quarantined)."""
        if not isinstance(item, dict):
            return Rejection(index, "not_an_object", [{"field": "", "message": "must be an object"}], item)
        privacy = request.privacy
        if privacy.policy.hash_paths:  # first, so no copy of the value is kept anywhere
            repairs["hashed"] += hash_fields(item, privacy.policy.hash_paths)
        filtered = privacy.filtered(item, request.defaults.context)
        if filtered is not None:
            return filtered
        repairs.update(repair_event(item))
        event_type = request.route_type or item.get("type")
        refusal = _shape_refusal(item, event_type, request.route_type)
        if refusal is None:
            refusal = request.source_refusal(item)
        if refusal is not None:
            reason, field_name, message = refusal
            return _reject(index, reason, field_name, message, item)
        errors = validate_event(item, str(event_type))
        if errors:
            return Rejection(index, "invalid_event", errors, _without_key(item), _message_id(item))
        return self._forwarded(index, item, request, repairs, budget)

    def _forwarded(
        self,
        index: int,
        item: dict[str, Any],
        request: _Request,
        repairs: Counter[str],
        budget: _Budget,
    ) -> tuple[str | None, bytes] | Rejection | _Blocked:
        """A valid item enriched and serialized as it will be forwarded, unless that breaks a limit."""
        event = enrich(
            dict(item),  # the item itself stays as the client sent it, for the quarantine
            facts=request.facts,
            ip_policy=request.privacy.ip_policy,
            route_type=request.route_type,
            batch=request.defaults,
        )
        if request.privacy.flag(event):
            repairs["bot_flagged"] += 1
        problem = json_problem(event)
        if problem is not None:
            reason, error = problem
            return Rejection(index, reason, [error], _without_key(item), _message_id(item))
        # After the walk: what the consent control adds is booleans under category codes, a few
        # levels deep, and the consent it repairs or merges into was walked with the event.
        request.privacy.consent.stamp(event, repairs, request.consent)
        data = serialize(event)
        verdict = None
        if self._plan.plan is not None and len(data) <= MAX_EVENT_BYTES:
            # Judged once serialized, so strict JSON; flag and omit mark it within its allowance.
            data, verdict = self._plan.apply(event, data)
        budget.spend(len(data))
        if len(data) > MAX_EVENT_BYTES:
            merged = request.defaults.context or request.defaults.integrations
            field_name, message = ("context", _MERGED_TOO_LARGE) if merged else ("", _TOO_LARGE)
            return _reject(index, "event_too_large", field_name, message, item)
        if verdict is not None:
            name = self._plan.metric_event(event)
            request.violations.update((name, violation["kind"]) for violation in verdict.violations)
            if self._plan.mode == "block":
                return _Blocked(index, request.source_of(item), event, verdict.violations)
        return request.source_of(item), data

    @staticmethod
    def _count(repairs: Counter[str], outcome: Outcome) -> None:
        """EventsRepaired, EventsFiltered (dimensioned: one record each), EventsFlaggedAsBots,
        FieldsHashed and the consent metrics (plain counts in the request's one record)."""
        flagged, hashed = repairs.pop("bot_flagged", 0), repairs.pop("hashed", 0)
        if repairs:
            add_counts(MetricName.EVENTS_REPAIRED, "repair", repairs)
        if outcome.filtered:
            add_counts(MetricName.EVENTS_FILTERED, "reason", outcome.filtered)
        if flagged:
            count(MetricName.EVENTS_FLAGGED_AS_BOTS, flagged)
        if hashed:
            count(MetricName.FIELDS_HASHED, hashed)
        if outcome.consent:
            for name, key in _CONSENT_METRICS:
                if key in outcome.consent:
                    count(name, outcome.consent[key])

    @staticmethod
    def _count_violations(violations: Counter[tuple[str, str]], outcome: Outcome) -> None:
        """PlanViolations by event and kind (one record each), and the outcome's kinds."""
        if not violations:
            return
        add_counts(MetricName.PLAN_VIOLATIONS, ("event", "kind"), violations)
        for (_, kind), number in violations.items():
            outcome.violations[kind] += number

    def _quarantine_blocked(
        self,
        blocked: dict[str | None, list[_Blocked]],
        route: str | RouteKind,
        facts: RequestFacts,
        outcome: Outcome,
    ) -> None:
        """Events the plan blocked, to the quarantine with their violations, before anything is
        queued: a failure answers 503 and nothing was acknowledged."""
        if not blocked:
            return
        received_at = format_timestamp(facts.received_at)
        route_name = route.value if isinstance(route, RouteKind) else route
        for item_source, events in blocked.items():
            prefix = message_prefix(item_source, kind=BLOCKED, items="rejected")
            items = (event.item(route_name, received_at) for event in events)
            self._quarantine.send(pack(items, prefix, self._quarantine.max_bytes))
            outcome.blocked += len(events)
        count(MetricName.EVENTS_BLOCKED, outcome.blocked)

    def _quarantine_all(
        self,
        rejected: Sequence[Rejection],
        route: str | RouteKind,
        facts: RequestFacts,
        source: str | None,
    ) -> None:
        if not rejected:
            return
        add_counts(MetricName.EVENTS_REJECTED, "reason", Counter(r.reason for r in rejected))
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
                    "event": quarantinable(r.event, r.message_id),
                }
            )
            for r in rejected
        )
        # The request's source fingerprint (null in open mode) tells an operator who sent them.
        prefix = message_prefix(source, kind="quarantine", items="rejected")
        self._quarantine.send(pack(items, prefix, self._quarantine.max_bytes))
        metrics.add_metric(MetricName.EVENTS_QUARANTINED, MetricUnit.Count, len(rejected))
        logger.info("events quarantined", extra={"count": len(rejected), "route": route_name})


def _custom_data(body: dict[str, Any], event: dict[str, Any], budget: _Budget) -> bytes | Rejection:
    """A queued custom event serialized, unless it is not strict JSON or breaks a limit."""
    problem = json_problem(event)
    if problem is not None:
        reason, error = problem
        error = {**error, "field": error["field"].removeprefix("body.")}
        return Rejection(0, reason, [error], without_write_key(body), event["messageId"])
    data = serialize(event)
    budget.spend(len(data))
    if len(data) > MAX_EVENT_BYTES:
        return _reject(0, "event_too_large", "", _TOO_LARGE, without_write_key(body))
    return data


#: ``Outcome.consent``'s key for a request whose consent cookie could not be read.
COOKIE_UNREADABLE: Final = "cookie_unreadable"
#: The consent control's counts (``Outcome.consent``) and their metrics.
_CONSENT_METRICS: Final = (
    (MetricName.EVENTS_CONSENT_FROM_COOKIE, ConsentCount.FROM_COOKIE),
    (MetricName.CONSENT_COOKIES_UNREADABLE, COOKIE_UNREADABLE),
)
_TOO_LARGE: Final = f"exceeds {MAX_EVENT_BYTES // 1024} KB"
_MERGED_TOO_LARGE: Final = f"{_TOO_LARGE} once the batch's context and integrations are merged in"


@dataclass(frozen=True, slots=True)
class _Request:
    """What every item of one request shares: its route, batch defaults, facts and key."""

    route_type: str | None
    defaults: BatchDefaults
    facts: RequestFacts
    secret: EdgeSecret
    key: str | None
    source: str | None
    privacy: RequestPrivacy
    #: What the consent control did to the events (``Outcome.consent``).
    consent: Counter[str]
    #: The tracking plan's violations, by the event's name (``PlanPolicy.metric_event``) and kind.
    violations: Counter[tuple[str, str]]

    def source_refusal(self, item: dict[str, Any]) -> tuple[str, str, str] | None:
        """In closed mode, an item presenting its own key that is not listed is refused."""
        if self.secret.sources is None:  # open mode: any key is accepted
            return None
        own = _own_key(item, self.key)
        if own is not None and self.secret.source_for(own) is None:
            return "invalid_write_key", "writeKey", "is not a valid write key"
        return None

    def source_of(self, item: dict[str, Any]) -> str | None:
        """The item's own key's source when it presents a different one, else the request's."""
        own = _own_key(item, self.key)
        if own is None or self.secret.sources is None:
            return self.source
        return self.secret.source_for(own)


def _own_key(item: dict[str, Any], request_key: str | None) -> str | None:
    key = item.get("writeKey")
    return key if isinstance(key, str) and key and key != request_key else None


@dataclass(frozen=True, slots=True)
class _Blocked:
    """An event the tracking plan blocked: as it would have been forwarded, with its violations."""

    index: int
    source: str | None
    event: dict[str, Any]
    violations: list[Violation]

    def item(self, route: str, received_at: str) -> bytes:
        """Its quarantine item: the event whole (it is within the event limit)."""
        return serialize(
            {
                "index": self.index,
                "reason": PLAN_VIOLATION,
                "violations": self.violations,
                "route": route,
                "receivedAt": received_at,
                "event": self.event,
            }
        )


class _Budget:
    """What one request's events may total as forwarded: never amplified beyond a small multiple.

    Events that are too large count too, so the work a request causes stays bounded as well.
    """

    def __init__(self, body_bytes: int, events: int, consent_allowance: int = 0) -> None:
        self.per_event = ENRICHMENT_ALLOWANCE + consent_allowance
        self.left = QUEUED_PER_BODY_BYTE * body_bytes + self.per_event * events

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise RequestError(
                413,
                "payload_too_large",
                f"With the batch's context and integrations merged into each event, the events would "
                f"total more than {QUEUED_PER_BODY_BYTE} times the request body plus "
                f"{self.per_event} bytes per event.",
            )


def _shape_refusal(
    item: dict[str, Any], event_type: Any, route_type: str | None
) -> tuple[str, str, str] | None:
    """Why an item cannot even be validated: (reason, field, message), or None."""
    if route_type is None and (not isinstance(event_type, str) or event_type not in EVENT_TYPES):
        return "invalid_type", "type", _type_message(event_type)
    if route_type is not None and item.get("type") not in (None, "", route_type):
        shown = _shown(item.get("type"))
        return "type_mismatch", "type", f"is {shown} but this route takes {route_type!r} events"
    return None


def quarantinable(event: Any, message_id: str | None) -> Any:
    """The event as quarantined: whole when it fits a message with room to spare, else its head.

    An oversized event (up to the 500 KB body limit) would not fit an SQS message, and a
    quarantine that cannot be written would turn a client's mistake into a 503 forever. An event
    that is not strict JSON within the depth limit (pixel parameters can nest without end) is
    stored cut at the limit, its out-of-range numbers as strings.
    """
    if json_problem(event) is not None:
        event = _storable(event, MAX_DEPTH)
    data = serialize(event)
    if len(data) <= QUARANTINE_EVENT_BYTES:
        return event
    head = data[:QUARANTINE_HEAD_BYTES].decode("utf-8", "ignore")
    return {"truncated": True, "bytes": len(data), "messageId": message_id, "head": head}


def _storable(value: Any, depth: int) -> Any:
    """``value`` with containers below ``depth`` levels cut to a marker and numbers no double can
    hold written as strings (the recursion is as shallow as ``depth``)."""
    if isinstance(value, dict):
        return {k: _storable(v, depth - 1) for k, v in value.items()} if depth > 0 else "…"
    if isinstance(value, list):
        return [_storable(v, depth - 1) for v in value] if depth > 0 else "…"
    if json_problem([value]) is not None:
        return str(value)
    return value


def _route_items(
    route: str | RouteKind, body: Any, repairs: Counter[str]
) -> tuple[list[Any], BatchDefaults, str | None]:
    """A request's items, the batch's defaults, and the route's event type (None for a batch)."""
    if route is RouteKind.BATCH:
        items, defaults = _batch_items(body, repairs)
        return items, defaults, None
    if not isinstance(route, RouteKind):
        return [_single_event(body)], NO_BATCH, route
    # Not reached: the handler answers telemetry and custom events itself, and a pixel names its type.
    raise RequestError(404, "not_found", "Not an event route.")


def _batch_items(body: Any, repairs: Counter[str]) -> tuple[list[Any], BatchDefaults]:
    """The items of a batch body and what they inherit from it (its envelope repaired like an event)."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_json", "The request body must be a JSON object.")
    envelope = {name: body[name] for name in ("batch", "context", "integrations") if name in body}
    for name in ("context", "integrations"):
        if envelope.get(name) == []:
            envelope[name] = {}
            repairs[Repair.EMPTY_ARRAY] += 1
    if repair_ip(envelope.get("context")):
        repairs[Repair.IP_REPLACED] += 1
    try:
        parsed = BatchEnvelope.model_validate(envelope)
    except ValidationError as exc:
        raise RequestError(400, "invalid_batch", "The batch envelope is invalid.", field_errors(exc)) from exc
    if len(parsed.batch) > MAX_BATCH_EVENTS:
        raise RequestError(413, "batch_too_large", f"A batch holds at most {MAX_BATCH_EVENTS} events.")
    sent_at = body.get("sentAt")
    if sent_at is not None:
        repaired = repair_timestamp(sent_at)
        if repaired != sent_at:
            repairs[Repair.TIME_DROPPED if repaired is None else Repair.EPOCH_TIME] += 1
        sent_at = repaired
    return parsed.batch, BatchDefaults(sent_at, parsed.context, parsed.integrations)


def _single_event(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _type_message(value: Any) -> str:
    if value is None:
        return "is required"
    return f"must be one of {', '.join(sorted(EVENT_TYPES))}"


def _shown(value: Any) -> str:
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"


def _reject(index: int, reason: str, field_name: str, message: str, item: dict[str, Any]) -> Rejection:
    return Rejection(
        index, reason, [{"field": field_name, "message": message}], _without_key(item), _message_id(item)
    )


def _message_id(item: dict[str, Any]) -> str | None:
    value = item.get("messageId")
    return value if isinstance(value, str) and len(value) <= _ECHO_CHARS else None


def _without_key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "writeKey"}


#: A lone event's rejection reason → its answer (status, code, message); others are 400s.
_SINGLE_ANSWERS: Final = {
    "event_too_large": (413, "event_too_large", f"The event exceeds {MAX_EVENT_BYTES // 1024} KB."),
    "invalid_write_key": (401, "invalid_write_key", "A valid write key is required."),
    "invalid_json": (400, "invalid_json", "The event is not strict JSON."),
    "too_deep": (400, "too_deep", f"The JSON is nested deeper than {MAX_DEPTH} levels."),
}


def _single_rejection(rejection: Rejection) -> RequestError:
    status, code, message = _SINGLE_ANSWERS.get(
        rejection.reason, (400, rejection.reason, "The event is invalid.")
    )
    return RequestError(status, code, message, rejection.errors)
