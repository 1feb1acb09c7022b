"""What is left of an events-queue message after an invocation, and sending it back to the queue.

An invocation ends with each event of a message accepted upstream, parked, or not done yet.
What happens to the message follows from that (``next_step``, a pure function):

- every event done: the message is acknowledged (deleted by the event source mapping);
- none done: SQS redelivers the whole message after its visibility timeout, as it always has;
- some done: only the events not done yet go back on the events queue, in new version-1
  messages with the same ``messageId``s, and the original is acknowledged. Events the upstream
  confirmed are therefore never sent again because another event of their message failed;
- the delivery attempts used up (see below): the events not done yet are parked in the
  dead-letter queue with ``reason=attempts_exhausted``.

A message sent back starts a new SQS receive count, so the attempts travel with it in the
``deliveryAttempts`` attribute: the attempts of a delivery are that attribute plus SQS's
``ApproximateReceiveCount``. Parking when they reach the redrive policy's ``maxReceiveCount``
keeps today's rule: an event that keeps failing is dead-lettered after as many deliveries as an
untouched message would be. A message that was never sent back carries no attribute, so for it
the rule is exactly SQS's; a parked letter carries none either, so a redriven message starts over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from edge.core.queueing import Entry, Queue, pack_events

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

__all__ = [
    "ATTEMPTS_ATTRIBUTE",
    "Acknowledge",
    "Exhausted",
    "Redeliver",
    "Requeue",
    "Requeuer",
    "Step",
    "carried_attempts",
    "delivery_attempts",
    "next_step",
]

#: The message attribute (Number) with the delivery attempts of earlier messages of these events.
ATTEMPTS_ATTRIBUTE: Final = "deliveryAttempts"
#: Room kept in a message for its attributes (SQS counts them in the size limit).
_ATTRIBUTE_ROOM: Final = 1024


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Every event is done: delete the message."""


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Nothing is done: leave the message to SQS (``batchItemFailures``)."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """Send ``bodies`` (the events not done yet) back with ``attempts``, then delete the message."""

    origin: str
    bodies: tuple[bytes, ...]
    attempts: int
    events: int


@dataclass(frozen=True, slots=True)
class Exhausted:
    """The attempts are used up: park the events not done yet (positions in the message)."""

    attempts: int
    pending: tuple[int, ...]


type Step = Acknowledge | Redeliver | Requeue | Exhausted


def delivery_attempts(record: Mapping[str, Any]) -> int:
    """The deliveries of an SQS record's events, this one included: SQS's receive count plus the
    attempts its events carried from earlier messages."""
    attributes = record.get("attributes") or {}
    count = attributes.get("ApproximateReceiveCount", 1)
    if count == "1":  # the first delivery, nearly every record: no conversion
        received = 1
    else:
        try:
            received = max(1, int(str(count)))
        except ValueError:
            received = 1
    return received + carried_attempts(record.get("messageAttributes"))


def carried_attempts(attributes: Mapping[str, Any] | None) -> int:
    """The ``deliveryAttempts`` of a record's ``messageAttributes`` (Lambda's spelling), else 0.

    Anything unreadable counts as 0: at worst a message gets SQS's own count again.
    """
    value = (attributes or {}).get(ATTEMPTS_ATTRIBUTE)
    if not value:  # nearly every record: no exception raised and caught for it
        return 0
    text = value.get("stringValue") if isinstance(value, Mapping) else None
    try:
        attempts = int(str(text))
    except ValueError:
        return 0
    return max(0, attempts)


def next_step(
    origin: str,
    source: str | None,
    events: Sequence[bytes],
    done: Sequence[bool],
    *,
    attempts: int,
    max_attempts: int,
    max_bytes: int,
    kind: str | None = None,
) -> Step:
    """What to do with the message ``origin`` whose serialized ``events`` are ``done`` or not.

    ``attempts`` counts this delivery; at ``max_attempts`` the events not done are exhausted. The
    rest sent back keeps its message's ``kind`` (events replayed from the archive stay so).
    """
    pending = tuple(index for index, finished in enumerate(done) if not finished)
    if not pending:
        return Acknowledge()
    if attempts >= max_attempts:
        return Exhausted(attempts, pending)
    if len(pending) == len(events):
        return Redeliver()
    bodies = pack_events(source, (events[i] for i in pending), max_bytes - _ATTRIBUTE_ROOM, kind=kind)
    return Requeue(origin, tuple(bodies), attempts, len(pending))


class Requeuer:
    """Sends remainders back to the events queue, ``delay`` seconds later.

    The delay stands in for the visibility timeout a redelivered message would wait out, so a
    remainder is retried no sooner than its whole message would have been.
    """

    def __init__(self, sqs: SQSClient, queue_url: str, *, delay: int, backoff: float = 0.05) -> None:
        self._queue = Queue(sqs, queue_url, attempts=2, backoff=backoff)
        self.delay = delay

    def acknowledge(self, receipt_handles: Sequence[str], *, time_left: Callable[[], float]) -> int:
        """Delete messages whose every event was delivered before the invocation ends: were it to
        crash, they would not come back (the event source mapping deletes them again, harmlessly).
        How many could not be deleted."""
        return self._queue.delete(receipt_handles, time_left=time_left)

    def send_bodies(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]:
        """Send ``bodies`` as they are, at once (no delay); the positions of those not sent."""
        return self._queue.send([Entry(body) for body in bodies], time_left=time_left)

    def send(self, remainders: Iterable[Requeue], *, time_left: Callable[[], float]) -> set[str]:
        """Send every remainder; the origins of those not (wholly) sent, which SQS must redeliver."""
        origins: list[str] = []
        entries: list[Entry] = []
        for remainder in remainders:
            attributes: dict[str, MessageAttributeValueTypeDef] = {
                ATTEMPTS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(remainder.attempts)}
            }
            for body in remainder.bodies:
                origins.append(remainder.origin)
                entries.append(Entry(body.decode("utf-8"), attributes, self.delay))
        return {origins[i] for i in self._queue.send(entries, time_left=time_left)}
