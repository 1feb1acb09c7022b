"""Logger and Metrics shared by both functions, and the documented metric names.

Never log a whole event, a write key, a Source ID or the secret: log codes and counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["NAMESPACE", "MetricName", "MetricUnit", "add_counts", "logger", "metrics"]

NAMESPACE: Final = "MetaRouterEdge"

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics(namespace=NAMESPACE)


class MetricName:
    """Metric names (EMF, namespace ``MetaRouterEdge``)."""

    EVENTS_ACCEPTED: Final = "EventsAccepted"
    """Events validated and queued."""
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


def add_counts(name: str, dimension: str, counts: Mapping[str, int]) -> None:
    """One count per value of ``dimension``, each its own EMF record (Metrics has one dimension set)."""
    from aws_lambda_powertools.metrics import single_metric

    for value, count in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(dimension, value)
