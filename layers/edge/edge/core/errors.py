"""The exception tree of the edge, and what each branch means to a client or to SQS.

- ``RequestError``: the request is wrong; answered with its 4xx status and a stable ``code``.
- ``TransientError``: a dependency (SQS, Secrets Manager, the upstream) could not be reached;
  answered 503 with ``Retry-After`` by the ingest API and retried by the forwarder. Never a
  401/403/404, because some SDKs disable themselves for good on those.
- ``UndeliverableError``: a queued message the forwarder can never send; it is dead-lettered.

``Reason`` names why events were parked in the dead-letter queue (its ``reason`` attribute).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "EdgeError",
    "Reason",
    "RequestError",
    "TransientError",
    "UndeliverableError",
]


class EdgeError(Exception):
    """Root of every error the edge raises on purpose."""


class RequestError(EdgeError):
    """Something the client sent cannot be accepted (4xx)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        rejected_count: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        #: How many events were rejected in all, when ``details`` lists only the first of them.
        self.rejected_count = rejected_count


class TransientError(EdgeError):
    """A dependency failed in a way that retrying later can fix (503 + Retry-After)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Reason(StrEnum):
    """Why events were parked in the dead-letter queue: the ``reason`` attribute of the letter."""

    INVALID_MESSAGE = "invalid_message"
    """The body is not JSON or not an events message."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """An events message of a version this forwarder does not read."""
    UNMAPPED_SOURCE = "unmapped_source"
    """The source fingerprint maps to no Source ID in the current secret."""
    UPSTREAM_REJECTED = "upstream_rejected"
    """The upstream refused the lone event for good (400, 413 or 422)."""
    UNROUTABLE_EVENT = "unroutable_event"
    """Per-call mode, and the event's type has no per-call path."""
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    """Not accepted after ``maxReceiveCount`` deliveries (``detail``: the upstream's last answer)."""


class UndeliverableError(EdgeError):
    """A queued message that can never be forwarded (not the v1 format, unmapped source): dead-letter it."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
