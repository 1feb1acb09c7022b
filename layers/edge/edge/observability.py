"""Logger and Metrics shared by both functions, and the documented metric names.

Never log a whole event, a write key, a Source ID or the secret: log codes and counts.
"""

from __future__ import annotations

from typing import Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["NAMESPACE", "MetricName", "MetricUnit", "logger", "metrics"]

NAMESPACE: Final = "MetaRouterEdge"

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics(namespace=NAMESPACE)


class MetricName:
    """Metric names (EMF, namespace ``MetaRouterEdge``)."""

    EVENTS_ACCEPTED: Final = "EventsAccepted"
    """Events validated and queued."""
    EVENTS_REJECTED: Final = "EventsRejected"
    """Events refused, with a ``reason`` dimension (invalid_event, event_too_large, …)."""
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
