"""Logger and Metrics shared by both functions, and the documented metric names.

Never log a whole event, a write key, a Source ID or the secret: log codes and counts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "NAMESPACE",
    "ForwardTally",
    "Invocations",
    "MetricName",
    "MetricUnit",
    "add_counts",
    "count",
    "logger",
    "metrics",
]

NAMESPACE: Final = "MetaRouterEdge"
"""The metrics' namespace is this, a slash and the stack's name (``POWERTOOLS_METRICS_NAMESPACE``,
set by the template): each stack's alarms and dashboard read only its own metrics."""

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE


def _apply_log_level() -> None:
    """The functions' own lines at ``POWERTOOLS_LOG_LEVEL``, whatever Lambda's filter says.

    Lambda's filter (``AWS_LAMBDA_LOG_LEVEL``) stays at INFO or below, because the metric lines
    carry no ``level`` and Lambda would drop them under WARN; Powertools prefers Lambda's level
    to its own, so the chosen one is set on the logger here.
    """
    level = os.environ.get("POWERTOOLS_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        logging.getLogger(logger.service).setLevel(level)


_apply_log_level()


class Invocations:
    """The Lambda keys of every log line (``cold_start``, ``function_*``, ``correlation_id``), set
    in one ``append_keys`` per invocation: the keys ``Logger.inject_lambda_context`` sets, without
    the context model and the JMESPath query it builds for each request (~7 µs of every request)."""

    def __init__(self) -> None:
        self._cold = True

    def begin(self, context: LambdaContext, correlation_id: str | None) -> None:
        cold, self._cold = self._cold, False
        logger.append_keys(
            cold_start=cold,
            function_name=context.function_name,
            function_memory_size=context.memory_limit_in_mb,
            function_arn=context.invoked_function_arn,
            function_request_id=context.aws_request_id,
            correlation_id=correlation_id,
        )


class MetricName:
    """Metric names (EMF, namespace ``MetaRouterEdge/<stack name>``)."""

    EVENTS_ACCEPTED: Final = "EventsAccepted"
    """Events validated and queued."""
    CUSTOM_EVENTS_ACCEPTED: Final = "CustomEventsAccepted"
    """MetaRouter custom events (``/v1/custom/event``) validated and queued (in EventsAccepted too)."""
    EVENTS_REJECTED: Final = "EventsRejected"
    """Events refused, with a ``reason`` dimension (invalid_event, event_too_large, …)."""
    EVENTS_REPAIRED: Final = "EventsRepaired"
    """Repairs made to accepted input, with a ``repair`` dimension (id_number, epoch_time, …)."""
    EVENTS_FILTERED: Final = "EventsFiltered"
    """Events answered as accepted but not forwarded, with a ``reason`` dimension (bot, gpc, consent)."""
    EVENTS_FLAGGED_AS_BOTS: Final = "EventsFlaggedAsBots"
    """Events forwarded with ``context.isBot: true`` (the bot policy is ``flag``)."""
    FIELDS_HASHED: Final = "FieldsHashed"
    """String values replaced by their SHA-256 (``HASH_FIELDS``)."""
    EVENTS_CONSENT_FROM_COOKIE: Final = "EventsConsentFromCookie"
    """Events forwarded with ``context.consent`` made from the consent platform's cookie."""
    CONSENT_COOKIES_UNREADABLE: Final = "ConsentCookiesUnreadable"
    """Requests whose consent platform's cookie could not be read (ignored)."""
    PLAN_VIOLATIONS: Final = "PlanViolations"
    """Tracking-plan violations found in events about to be forwarded (at most 10 an event), with
    ``event`` (a planned track event's name, ``(unplanned)``, or the call's type in parentheses)
    and ``kind`` dimensions."""
    EVENTS_BLOCKED: Final = "EventsBlocked"
    """Events the tracking plan blocked (``TrackingPlanMode`` ``block``): answered as accepted,
    kept in the quarantine queue with their violations."""
    EVENTS_QUARANTINED: Final = "EventsQuarantined"
    """Rejected events written to the quarantine queue."""
    SQS_MESSAGES_SENT: Final = "SqsMessagesSent"
    """Messages written to the events queue."""
    REQUESTS_UNAVAILABLE: Final = "RequestsUnavailable"
    """Requests answered 503 because SQS or the secret could not be reached."""
    REQUESTS_REFUSED: Final = "RequestsRefused"
    """Requests answered with a 4xx (malformed, invalid, too large, unknown route, unauthorized)."""
    REQUESTS_UNAUTHORIZED: Final = "RequestsUnauthorized"
    """Requests answered 401 in closed mode."""
    CLIENT_TELEMETRY: Final = "ClientTelemetry"
    """analytics.js telemetry posts to /v1/m (answered, not forwarded)."""
    CUSTOM_EVENTS_FORWARDED: Final = "CustomEventsForwarded"
    """MetaRouter custom events MetaRouter accepted (in EventsForwarded too)."""
    EVENTS_FORWARDED: Final = "EventsForwarded"
    """Events the upstream accepted (2xx, or not named as failed in a 207)."""
    UPSTREAM_RESPONSES: Final = "UpstreamResponses"
    """Upstream answers, with a ``status_class`` dimension (2xx … 5xx, ``error`` for timeouts and
    connection errors)."""
    UPSTREAM_LATENCY: Final = "UpstreamLatency"
    """Milliseconds from sending an upstream request to its answer (or its failure)."""
    UPSTREAM_RETRIES: Final = "UpstreamRetries"
    """Upstream requests sent again after a retryable answer (408, 429, 5xx, timeout, …)."""
    UPSTREAM_AUTH_FAILURES: Final = "UpstreamAuthFailures"
    """401/403 answers even after the secret was read again: alarm, the Source ID is refused."""
    UPSTREAM_PER_CALL_SWITCHES: Final = "UpstreamPerCallSwitches"
    """Execution environments that switched to per-call mode after a 404/405 to /v1/batch."""
    EVENTS_DEAD_LETTERED: Final = "EventsDeadLettered"
    """Events (or undecodable messages) parked in the dead-letter queue, with a ``reason`` dimension."""
    MESSAGES_NOT_FORWARDED: Final = "MessagesNotForwarded"
    """SQS messages reported in ``batchItemFailures`` for SQS to redeliver."""
    EVENTS_REQUEUED: Final = "EventsRequeued"
    """Events sent back to the events queue because others of their message were delivered."""
    EVENTS_ALREADY_DELIVERED: Final = "EventsAlreadyDelivered"
    """Events skipped because the delivery log (``DedupeWindowHours``) holds them."""
    DELIVERY_LOG_ERRORS: Final = "DeliveryLogErrors"
    """Events the delivery log could not claim, read or record (a write that failed whole counts
    once): the forwarder went on without it, at least once as without a log."""
    EVENTS_ARCHIVED: Final = "EventsArchived"
    """Events the archive function wrote to the archive bucket."""
    ARCHIVE_ERRORS: Final = "ArchiveErrors"
    """Events the archive could not take at once: the archive queue refused them (the forwarder sent
    them through the events queue instead, or left their messages to SQS), or the bucket did (the
    archive function leaves them on the archive queue, retried)."""


#: Powertools publishes a metrics record early once it holds this many metrics, or values of one.
_MAX_METRICS: Final = 100
_COUNT: Final = MetricUnit.Count.value


def count(name: str, value: float) -> None:
    """``metrics.add_metric(name, MetricUnit.Count, value)`` for a documented name: the same entry
    in the invocation's record, without checking a constant name and unit again and formatting
    the debug message Powertools builds on every call (~5 µs each: a few per cent of a warm
    beacon, docs/performance.md). Powertools' own call takes over near its limits."""
    metric_set = metrics.metric_set
    metric = metric_set.get(name)
    if metric is None and len(metric_set) < _MAX_METRICS - 1:
        metric_set[name] = {"Unit": _COUNT, "StorageResolution": 60, "Value": [float(value)]}
    elif metric is not None and len(metric["Value"]) < _MAX_METRICS - 1:
        metric["Value"].append(float(value))
    else:
        metrics.add_metric(name, MetricUnit.Count, value)


def add_counts(name: str, dimension: str | tuple[str, ...], counts: Mapping[Any, int]) -> None:
    """One count per value of ``dimension`` (or per tuple of values of several), each its own
    EMF record (Metrics has one dimension set), written as Powertools' ``single_metric`` writes
    it, without the provider it builds, validates and flushes for each (~35 µs a record: most
    of what a request with violations of a tracking plan costs more, docs/performance.md).
    Without a namespace, Powertools' own call decides (it refuses)."""
    if not counts:
        return
    names = (dimension,) if isinstance(dimension, str) else dimension
    namespace, service = metrics.namespace, metrics.service
    if not namespace:
        _single_metrics(name, names, counts)
        return
    extra = {**metrics.default_dimensions}
    if service and "service" not in extra:
        extra["service"] = service
    timestamp = int(time.time() * 1000)
    for values, count in counts.items():
        dimensions = dict(zip(names, (values,) if isinstance(values, str) else values, strict=True)) | extra
        record = {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": _COUNT}],
                    }
                ],
            },
            **dimensions,
            name: [float(count)],
        }
        print(json.dumps(record, separators=(",", ":")))


def _single_metrics(name: str, names: tuple[str, ...], counts: Mapping[Any, int]) -> None:
    from aws_lambda_powertools.metrics import single_metric

    for values, count in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            for dimension_name, value in zip(
                names, (values,) if isinstance(values, str) else values, strict=True
            ):
                metric.add_dimension(dimension_name, value)


@dataclass(slots=True)
class ForwardTally:
    """One forward invocation's figures, published once at its end: metrics and one log line."""

    requests: int = 0
    forwarded: int = 0
    custom_forwarded: int = 0
    """Of ``forwarded``, MetaRouter custom events."""
    retries: int = 0
    auth_failures: int = 0
    skipped: int = 0
    """Events the delivery log says were delivered already."""
    statuses: Counter[str] = field(default_factory=Counter)
    checkpointed: int = 0
    """Messages deleted before the end of the invocation, all their events delivered."""
    log_claims: int = 0
    log_reads: int = 0
    log_writes: int = 0
    log_errors: int = 0
    """Events the delivery log failed for (claims, reads, writes): sent or left without it."""
    held: int = 0
    """Events another invocation held a claim on at the end: sent back with their messages."""
    log_seconds: float = 0.0
    archived: int = 0
    """Events whose archive copy went to the archive queue."""
    archive_errors: int = 0
    """Events (and relayed archive messages) the archive queue refused."""

    def answered(self, status_class: str, elapsed_ms: float) -> None:
        self.statuses[status_class] += 1
        metrics.add_metric(MetricName.UPSTREAM_LATENCY, MetricUnit.Milliseconds, elapsed_ms)

    def publish(
        self,
        *,
        messages: int,
        failed: int,
        requeued: int,
        parked: Mapping[str, int],
        mode: str,
        delivery_log: bool,
        archive: bool = False,
    ) -> None:
        """The invocation's metrics, and its ``messages forwarded`` log line."""
        metrics.add_metric(MetricName.EVENTS_FORWARDED, MetricUnit.Count, self.forwarded)
        for name, value in (
            (MetricName.CUSTOM_EVENTS_FORWARDED, self.custom_forwarded),
            (MetricName.UPSTREAM_RETRIES, self.retries),
            (MetricName.MESSAGES_NOT_FORWARDED, failed),
            (MetricName.EVENTS_REQUEUED, requeued),
            (MetricName.EVENTS_ALREADY_DELIVERED, self.skipped),
            (MetricName.UPSTREAM_AUTH_FAILURES, self.auth_failures),
            (MetricName.DELIVERY_LOG_ERRORS, self.log_errors),
            (MetricName.ARCHIVE_ERRORS, self.archive_errors),
        ):
            if value:
                metrics.add_metric(name, MetricUnit.Count, value)
        if self.auth_failures:
            logger.error("upstream refused the Source ID after the secret was read again")
        add_counts(MetricName.UPSTREAM_RESPONSES, "status_class", self.statuses)
        add_counts(MetricName.EVENTS_DEAD_LETTERED, "reason", parked)
        figures = {
            "messages": messages,
            "failed_messages": failed,
            "events_forwarded": self.forwarded,
            "custom_events_forwarded": self.custom_forwarded,
            "dead_lettered": sum(parked.values()),
            "dead_letter_reasons": dict(parked),
            "retries": self.retries,
            "events_requeued": requeued,
            "events_skipped": self.skipped,
            "requests": self.requests,
            "messages_checkpointed": self.checkpointed,
            "upstream_statuses": dict(self.statuses),
            "mode": mode,
        }
        if archive:
            figures |= {"events_archived": self.archived, "archive_errors": self.archive_errors}
        if delivery_log:
            figures |= {
                "log_claims": self.log_claims,
                "log_reads": self.log_reads,
                "log_writes": self.log_writes,
                "log_errors": self.log_errors,
                "events_held": self.held,
                "log_ms": round(self.log_seconds * 1000, 1),
            }
        logger.info("messages forwarded", extra=figures)
