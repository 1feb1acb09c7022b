"""Parking what can never be forwarded in the dead-letter queue, with the reason (README).

A parked message is what the forwarder read: the original body when it could not be decoded,
else a version-1 events message (``edge.queueing``) holding the parked events, so a redrive of
the dead-letter queue into the events queue replays it. Attributes say why:

- ``reason`` (String): ``invalid_message``, ``unsupported_version``, ``unmapped_source``,
  ``upstream_rejected``, ``unroutable_event`` or ``attempts_exhausted``;
- ``detail`` (String, optional): a short explanation, e.g. the upstream's answer (truncated);
- ``upstreamStatus`` (Number, optional): the status the upstream refused the event with;
- ``originMessageId`` (String): the SQS message the events arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from edge.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

__all__ = ["DeadLetter", "DeadLetterQueue", "Reason"]

_DETAIL_CHARS: Final = 256


class Reason:
    """The ``reason`` attribute of a parked message."""

    INVALID_MESSAGE: Final = "invalid_message"
    """The body is not JSON or not an events message."""
    UNSUPPORTED_VERSION: Final = "unsupported_version"
    """An events message of a version this forwarder does not read."""
    UNMAPPED_SOURCE: Final = "unmapped_source"
    """The source fingerprint maps to no Source ID in the current secret."""
    UPSTREAM_REJECTED: Final = "upstream_rejected"
    """The upstream refused the lone event for good (400, 413 or 422)."""
    UNROUTABLE_EVENT: Final = "unroutable_event"
    """Per-call mode, and the event's type has no per-call path."""
    ATTEMPTS_EXHAUSTED: Final = "attempts_exhausted"
    """Not accepted after ``maxReceiveCount`` deliveries (``detail``: the upstream's last answer)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message for the dead-letter queue."""

    body: str
    reason: str
    origin: str
    detail: str | None = None
    status: int | None = None

    def attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "reason": {"DataType": "String", "StringValue": self.reason},
            "originMessageId": {"DataType": "String", "StringValue": self.origin},
        }
        if self.detail:
            attributes["detail"] = {"DataType": "String", "StringValue": printable(self.detail)}
        if self.status is not None:
            attributes["upstreamStatus"] = {"DataType": "Number", "StringValue": str(self.status)}
        return attributes


def printable(text: str, limit: int = _DETAIL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with characters SQS refuses in attributes replaced."""
    return "".join(char if char.isprintable() else " " for char in text[:limit]) or "-"


class DeadLetterQueue:
    """Sends parked messages to the dead-letter queue, one ``SendMessage`` each (rare by design)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def park(self, letter: DeadLetter) -> None:
        """Send one letter or raise ``TransientError`` (botocore already retried)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=letter.body, MessageAttributes=letter.attributes()
            )
        except (BotoCoreError, ClientError) as exc:
            raise TransientError("The dead-letter queue could not be reached.") from exc
