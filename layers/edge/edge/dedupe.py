"""Effectively-once delivery: a DynamoDB table of the events delivered to each Source, for a window.

The forwarder reads the keys of an invocation's events before sending (``BatchGetItem``, 100
keys a call) and skips those found; it writes the keys of what the upstream confirmed
(``BatchWriteItem``, 25 items a call) after each round of requests. Calls run concurrently on
the forwarder's thread pool; never one call per event.

An item is ``{"pk": "<source hash>#<messageId>", "expiresAt": <epoch seconds>}``. The source
hash is the first 128 bits of the SHA-256 of the Source ID: neither Source IDs nor write keys
are stored. DynamoDB's TTL deletes expired items, but only eventually (within days), so an
expired item still found counts as absent: the window is exact.

What the table cannot see: a crash between the upstream's 2xx and the write, an answer after
the read timeout (the edge never learned of the delivery), and two invocations sending the same
event at the same moment. A failed read or write is logged and the events are sent anyway:
the log may add duplicates back, it never holds an event up.

``DeliveryTracker`` is one forward invocation's use of the log: which events to send, which to
drop before a retry (delivered meanwhile by another invocation), and what to record.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from edge.errors import TransientError
from edge.observability import ForwardTally, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef, WriteRequestTypeDef

    from edge.batching import Item, Request

__all__ = [
    "KEY_ATTRIBUTE",
    "TTL_ATTRIBUTE",
    "DeliveryLog",
    "DeliveryTracker",
    "DynamoDeliveryLog",
    "source_hash",
]

KEY_ATTRIBUTE: Final = "pk"
TTL_ATTRIBUTE: Final = "expiresAt"
_READ_KEYS: Final = 100  # BatchGetItem's limit
_WRITE_ITEMS: Final = 25  # BatchWriteItem's limit
_ATTEMPTS: Final = 5  # calls per chunk while DynamoDB leaves keys or items unprocessed
#: Confirmed events are recorded as soon as this many are waiting (a BatchWriteItem's worth).
_RECORD_AT: Final = _WRITE_ITEMS


def source_hash(source_id: str) -> str:
    """A stable name for a Source ID that does not reveal it (first 128 bits of its SHA-256)."""
    return hashlib.sha256(b"metarouter-edge/delivered\0" + source_id.encode()).hexdigest()[:32]


class DeliveryLog(Protocol):
    """Which events were delivered to a Source within a window."""

    def key(self, source_id: str, message_id: str) -> str: ...

    def delivered(self, keys: Collection[str]) -> set[str]: ...

    def record(self, keys: Collection[str]) -> None: ...


class DeliveryTracker:
    """One invocation's use of the delivery log; its reads and writes are counted in ``tally``."""

    def __init__(self, log: DeliveryLog, tally: ForwardTally) -> None:
        self._log = log
        self._tally = tally
        self._twins: list[tuple[Item, Item]] = []
        self._confirmed: list[str] = []

    def to_send(self, items: Iterable[Item], source_id_for: Callable[[str | None], str | None]) -> list[Item]:
        """The items to send: not in the log, and the first of those sharing a key.

        A later item with the key of an earlier one (a client's retry queued twice) waits for
        it: done if the first is delivered (``follow_twins``), sent back with its message if not.
        """
        first: dict[str, Item] = {}
        send: list[Item] = []
        for item in items:
            source_id = source_id_for(item.source)
            if source_id is None or item.message_id is None:
                send.append(item)
                continue
            item.key = self._log.key(source_id, item.message_id)
            if item.key in first:
                self._twins.append((item, first[item.key]))
                continue
            first[item.key] = item
            send.append(item)
        self._skip(first)
        return [item for item in send if not item.done]

    def still_undelivered(self, requests: list[Request]) -> list[Request]:
        """``requests`` without the events delivered since the log was read (by another
        invocation, e.g. a copy of the event queued twice): it is read again before each retry."""
        pending = {item.key: item for r in requests for item in r.items if item.key is not None}
        if not self._skip(pending):
            return requests
        kept = [replace(r, items=[i for i in r.items if not i.done]) for r in requests]
        return [r for r in kept if r.items]

    def confirm(self, items: Iterable[Item]) -> None:
        """The upstream accepted ``items``: recorded in batches, as they come (a crash loses little)."""
        self._confirmed.extend(item.key for item in items if item.key is not None)
        if len(self._confirmed) >= _RECORD_AT:
            self.flush()

    def flush(self) -> None:
        """Record what was confirmed since the last write."""
        keys, self._confirmed = self._confirmed, []
        if not keys:
            return
        started = time.monotonic()
        try:
            self._log.record(keys)
        except TransientError as exc:
            logger.warning("could not record deliveries", extra={"reason": exc.message, "events": len(keys)})
        finally:
            self._tally.log_seconds += time.monotonic() - started
            self._tally.log_writes += len(keys)

    def follow_twins(self) -> None:
        """Items that share the key of an item delivered (now, or before) are done too."""
        for twin, first in self._twins:
            if first.delivered:
                twin.done = twin.delivered = True
                self._tally.skipped += 1

    def _skip(self, items: dict[str, Item]) -> bool:
        """Mark the ``items`` (by key) the log holds as delivered; whether there were any."""
        if not items:
            return False
        started = time.monotonic()
        try:
            delivered = self._log.delivered(items.keys())
        except TransientError as exc:
            logger.warning("delivery log unavailable: sending without it", extra={"reason": exc.message})
            return False
        finally:
            self._tally.log_seconds += time.monotonic() - started
            self._tally.log_reads += len(items)
        for key in delivered:
            items[key].done = items[key].delivered = True
        self._tally.skipped += len(delivered)
        return bool(delivered)


def _chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class DynamoDeliveryLog:
    """The delivery log in one DynamoDB table (on-demand, TTL on ``expiresAt``)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        window_hours: int,
        executor: Executor,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 0.05,
    ) -> None:
        self._dynamodb = dynamodb
        self.table = table
        self.window_seconds = window_hours * 3600
        self._executor = executor
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._hashes: dict[str, str] = {}

    def key(self, source_id: str, message_id: str) -> str:
        hashed = self._hashes.get(source_id)
        if hashed is None:
            hashed = self._hashes[source_id] = source_hash(source_id)
        return f"{hashed}#{message_id}"

    def delivered(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` delivered within the window; ``TransientError`` if DynamoDB failed."""
        ordered = list(keys)
        found: set[str] = set()
        for part in self._executor.map(self._read, _chunks(ordered, _READ_KEYS)):
            found |= part
        return found

    def record(self, keys: Collection[str]) -> None:
        """Record ``keys`` as delivered now; ``TransientError`` if some could not be written."""
        expires = str(int(self._clock()) + self.window_seconds)
        items: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": {KEY_ATTRIBUTE: {"S": k}, TTL_ATTRIBUTE: {"N": expires}}}}
            for k in dict.fromkeys(keys)  # BatchWriteItem refuses a key twice in one call
        ]
        unwritten = sum(self._executor.map(self._write, _chunks(items, _WRITE_ITEMS)))
        if unwritten:
            raise TransientError(f"{unwritten} deliveries could not be recorded.")

    def _read(self, keys: Sequence[str]) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self._clock()
        request: dict[str, KeysAndAttributesTypeDef] = {
            self.table: {
                "Keys": [{KEY_ATTRIBUTE: {"S": k}} for k in keys],
                "ProjectionExpression": "#k, #t",
                "ExpressionAttributeNames": {"#k": KEY_ATTRIBUTE, "#t": TTL_ATTRIBUTE},
            }
        }
        found: set[str] = set()
        answer: Any
        for attempt in range(_ATTEMPTS):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                answer = self._dynamodb.batch_get_item(RequestItems=request)
            except (BotoCoreError, ClientError) as exc:
                raise TransientError("The delivery log could not be read.") from exc
            found |= {
                str(item[KEY_ATTRIBUTE]["S"])
                for item in answer.get("Responses", {}).get(self.table, [])
                if _expires(item) > now
            }
            unprocessed = answer.get("UnprocessedKeys") or {}
            if not unprocessed.get(self.table, {}).get("Keys"):
                return found
            request = {self.table: cast("KeysAndAttributesTypeDef", unprocessed[self.table])}
        raise TransientError("The delivery log left keys unread.")

    def _write(self, items: Sequence[WriteRequestTypeDef]) -> int:
        """Write one chunk; how many items stayed unwritten."""
        from botocore.exceptions import BotoCoreError, ClientError

        pending = list(items)
        for attempt in range(_ATTEMPTS):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                answer = self._dynamodb.batch_write_item(RequestItems={self.table: pending})
            except (BotoCoreError, ClientError):
                return len(pending)
            left: Any = (answer.get("UnprocessedItems") or {}).get(self.table, [])
            pending = list(left)
            if not pending:
                return 0
        return len(pending)


def _expires(item: dict[str, Any]) -> float:
    try:
        return float(item[TTL_ATTRIBUTE]["N"])
    except (KeyError, TypeError, ValueError):
        return float("inf")  # no expiry written: take it as delivered
