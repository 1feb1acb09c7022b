"""Effectively-once delivery: a DynamoDB table of the events claimed and delivered per Source.

Before a request is sent, the forwarder **claims** the events in it: one ``TransactWriteItems``
of up to 100 conditional puts per request, each allowed only if nobody holds the event — no
item, an expired one, or a claim of this invocation's own. A claim names its invocation and
expires ``hold_seconds`` (the longest a request may take: two connects and a read) plus
``CLAIM_MARGIN`` after it was taken, so a claimant that crashed blocks nobody for long. When the
upstream confirms a request, the claims of its events become **delivery records**, written as
each request is confirmed (``BatchWriteItem``, 25 items a call, off the main thread) and expiring
after the window. Never one call per event.

A claim that fails names its reason: the event was delivered within the window (done: it is not
sent again), or another invocation holds it (a copy of the event queued twice, in flight
elsewhere). A held event is not sent; at the end of the invocation the log is read once for it
(``BatchGetItem``): delivered meanwhile, it is done; otherwise it goes back to the queue with the
rest of its message, and its next delivery finds it delivered or its claim expired.

An item is ``{"pk": "<source hash>#<messageId>", "expiresAt": <epoch seconds>}``, plus
``claimedBy`` (a random token per invocation) while it is a claim. The source hash is the first
128 bits of the SHA-256 of the Source ID: neither Source IDs nor write keys are stored.
DynamoDB's TTL deletes expired items, but only eventually (within days), so an expired item
still found counts as absent: the window is exact.

What the table cannot see: an answer after the read timeout, and an answer the invocation never
read (killed with requests in flight): the upstream may have taken those events, and after the
claim expires they are sent again. A failed claim, read or write is logged, counted in the
``DeliveryLogErrors`` metric, and the events are sent anyway: the log may let duplicates
through, it never holds an event up.

``DeliveryTracker`` is one forward invocation's use of the log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from edge.core.errors import TransientError
from edge.core.observability import ForwardTally, logger
from edge.core.queueing import REPLAY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesTypeDef,
        TransactWriteItemTypeDef,
        WriteRequestTypeDef,
    )

    from edge.forward.batching import Item, Request

__all__ = [
    "CLAIM_ATTRIBUTE",
    "CLAIM_MARGIN",
    "KEY_ATTRIBUTE",
    "TTL_ATTRIBUTE",
    "Claims",
    "DeliveryLog",
    "DeliveryTracker",
    "DynamoDeliveryLog",
    "source_hash",
]

KEY_ATTRIBUTE: Final = "pk"
TTL_ATTRIBUTE: Final = "expiresAt"
CLAIM_ATTRIBUTE: Final = "claimedBy"
#: Seconds a claim outlives the longest request started under it; a request is started under a
#: claim only in the first ``CLAIM_MARGIN - 1`` of them (expiries are whole epoch seconds).
CLAIM_MARGIN: Final = 5.0
_READ_KEYS: Final = 100  # BatchGetItem's limit
_WRITE_ITEMS: Final = 25  # BatchWriteItem's limit
_CLAIM_ITEMS: Final = 100  # TransactWriteItems' limit
_ATTEMPTS: Final = 5  # calls per chunk while DynamoDB leaves keys or items unprocessed
#: Confirmed events are written as soon as this many are waiting (a BatchWriteItem's worth), and
#: at the end of each batch of answers: a request of 100 events at once, one-event calls together.
_RECORD_AT: Final = _WRITE_ITEMS
#: Why a claim was cancelled that means "someone else is on it": a claim being written right now.
_CONFLICT: Final = "TransactionConflict"
_CONDITION_FAILED: Final = "ConditionalCheckFailed"


def source_hash(source_id: str) -> str:
    """A stable name for a Source ID that does not reveal it (first 128 bits of its SHA-256)."""
    return hashlib.sha256(b"metarouter-edge/delivered\0" + source_id.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Claims:
    """What a claim of some keys found."""

    won: set[str] = field(default_factory=set)
    """Claimed for the caller: send them."""
    delivered: set[str] = field(default_factory=set)
    """Delivered within the window: done."""
    held: set[str] = field(default_factory=set)
    """Claimed by another invocation whose claim has not expired: not now."""
    failed: set[str] = field(default_factory=set)
    """Not settled (DynamoDB failed or throttled): sent without a claim."""

    def merge(self, other: Claims) -> None:
        self.won |= other.won
        self.delivered |= other.delivered
        self.held |= other.held
        self.failed |= other.failed


class DeliveryLog(Protocol):
    """Which events were claimed or delivered to a Source within a window."""

    def key(self, source_id: str, message_id: str) -> str: ...

    def claim(self, keys: Collection[str], owner: str) -> Claims: ...

    def delivered(self, keys: Collection[str]) -> set[str]: ...

    def record(self, keys: Collection[str]) -> list[Future[int]]:
        """Start recording ``keys`` as delivered; each future gives how many stayed unwritten."""
        ...


class DeliveryTracker:
    """One invocation's use of the log; its calls are counted in ``tally``."""

    def __init__(
        self,
        log: DeliveryLog,
        tally: ForwardTally,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._tally = tally
        self.owner = owner or secrets.token_hex(8)
        self._clock = clock
        self._twins: list[tuple[Item, Item]] = []
        self._claimed_until: dict[str, float] = {}
        self._held: dict[str, Item] = {}
        self._confirmed: list[str] = []
        self._writes: list[Future[int]] = []

    def to_send(self, items: Iterable[Item], source_id_for: Callable[[Item], str | None]) -> list[Item]:
        """The items to send: the first of those sharing a key, each with its key.

        A later item with the key of an earlier one (a client's retry queued twice) waits for
        it: done if the first is delivered (``follow_twins``), sent back with its message if not.
        Events replayed from the archive to be sent whatever the log says (``replay``) get no key.
        """
        first: dict[str, Item] = {}
        send: list[Item] = []
        for item in items:
            source_id = source_id_for(item)
            if source_id is None or item.message_id is None or item.kind == REPLAY:
                send.append(item)
                continue
            item.key = self._log.key(source_id, item.message_id)
            if item.key in first:
                self._twins.append((item, first[item.key]))
                continue
            first[item.key] = item
            send.append(item)
        return send

    def claim(self, requests: list[Request]) -> list[Request]:
        """``requests`` with only the events this invocation holds a fresh claim on (or that have no
        key): events delivered within the window are done, those another invocation holds wait
        for the end of the invocation (``settle``). One claim per request of 100 events or fewer."""
        now = self._clock()
        wanted = {
            item.key: item
            for request in requests
            for item in request.items
            if item.key is not None and self._claimed_until.get(item.key, 0.0) <= now
        }
        if not wanted:
            return requests
        try:
            claims = self._log.claim(wanted.keys(), self.owner)
        except TransientError as exc:
            claims = Claims(failed=set(wanted))
            reason = exc.message
        else:
            reason = "throttled or failed"
        finally:
            self._tally.log_seconds += self._clock() - now
            self._tally.log_claims += len(wanted)
        fresh_until = now + CLAIM_MARGIN - 1
        for key in claims.won:
            self._claimed_until[key] = fresh_until
        for key in claims.delivered:
            wanted[key].done = wanted[key].delivered = True
        self._tally.skipped += len(claims.delivered)
        for key in claims.held:
            self._held[key] = wanted[key]
        if claims.failed:
            self._unavailable("delivery log claims failed: sending without them", reason, len(claims.failed))
        if not (claims.delivered or claims.held):
            return requests
        kept = [
            replace(r, items=[i for i in r.items if not i.done and i.key not in self._held]) for r in requests
        ]
        return [r for r in kept if r.items]

    def confirm(self, items: Iterable[Item]) -> None:
        """The upstream accepted ``items``: their claims become delivery records, written at once
        when a request's worth is waiting (``flush`` writes the rest)."""
        self._confirmed.extend(item.key for item in items if item.key is not None)
        if len(self._confirmed) >= _RECORD_AT:
            self.flush()

    def flush(self) -> None:
        """Start writing what was confirmed since the last write (off this thread)."""
        keys, self._confirmed = self._confirmed, []
        if keys:
            self._writes.extend(self._log.record(keys))
            self._tally.log_writes += len(keys)

    def settle(self, time_left: Callable[[], float]) -> None:
        """At the end of sending: the writes finished (within ``time_left``), and the events
        another invocation held read once more — delivered meanwhile, they are done."""
        self.flush()
        started = self._clock()
        try:
            self._await_writes(time_left())
            self._read_held()
        finally:
            self._tally.log_seconds += self._clock() - started

    def follow_twins(self) -> None:
        """Items that share the key of an item delivered (now, or before) are done too."""
        for twin, first in self._twins:
            if first.delivered:
                twin.done = twin.delivered = True
                self._tally.skipped += 1

    def _await_writes(self, timeout: float) -> None:
        writes, self._writes = self._writes, []
        if not writes:
            return
        finished, unfinished = wait(writes, timeout=max(timeout, 0.0))
        unwritten = sum(f.result() for f in finished if f.exception() is None)
        failed = sum(1 for f in finished if f.exception() is not None) + len(unfinished)
        if unwritten or failed:
            detail = f"{unwritten} items unwritten, {failed} calls failed or unfinished"
            self._unavailable("could not record deliveries", detail, unwritten + failed)

    def _read_held(self) -> None:
        held = {key: item for key, item in self._held.items() if not item.done}
        if not held:
            return
        self._tally.log_reads += len(held)
        try:
            delivered = self._log.delivered(held.keys())
        except TransientError as exc:
            self._unavailable("delivery log unavailable: held events go back", exc.message, len(held))
            return
        for key in delivered:
            held[key].done = held[key].delivered = True
        self._tally.skipped += len(delivered)
        self._tally.held += len(held) - len(delivered)

    def _unavailable(self, message: str, reason: str, count: int) -> None:
        logger.warning(message, extra={"reason": reason, "count": count})
        self._tally.log_errors += count


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
        hold_seconds: float,
        executor: Executor,
        writer: Executor | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 0.05,
    ) -> None:
        self._dynamodb = dynamodb
        self.table = table
        self.window_seconds = window_hours * 3600
        self.claim_seconds = hold_seconds + CLAIM_MARGIN
        """How long a claim holds an event: the longest request, and the margin."""
        self._executor = executor
        self._writer = writer or executor
        """Records are written on threads of their own: never queued behind the next claims."""
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._hashes: dict[str, str] = {}

    def key(self, source_id: str, message_id: str) -> str:
        hashed = self._hashes.get(source_id)
        if hashed is None:
            hashed = self._hashes[source_id] = source_hash(source_id)
        return f"{hashed}#{message_id}"

    def claim(self, keys: Collection[str], owner: str) -> Claims:
        """Claim ``keys`` for ``owner``, 100 a transaction, the transactions concurrently."""
        claims = Claims()
        ordered = list(dict.fromkeys(keys))  # a transaction refuses two actions on one item
        for part in self._executor.map(
            lambda chunk: self._claim(chunk, owner), _chunks(ordered, _CLAIM_ITEMS)
        ):
            claims.merge(part)
        return claims

    def delivered(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` delivered within the window; ``TransientError`` if DynamoDB failed."""
        ordered = list(keys)
        found: set[str] = set()
        for part in self._executor.map(self._read, _chunks(ordered, _READ_KEYS)):
            found |= part
        return found

    def record(self, keys: Collection[str]) -> list[Future[int]]:
        """Start recording ``keys`` as delivered now, 25 items a call on the writer threads."""
        expires = str(int(self._clock()) + self.window_seconds)
        items: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": {KEY_ATTRIBUTE: {"S": k}, TTL_ATTRIBUTE: {"N": expires}}}}
            for k in dict.fromkeys(keys)  # BatchWriteItem refuses a key twice in one call
        ]
        return [self._writer.submit(self._write, chunk) for chunk in _chunks(items, _WRITE_ITEMS)]

    def _claim(self, keys: Sequence[str], owner: str) -> Claims:
        """One transaction of conditional puts, again without the keys it could not claim."""
        from botocore.exceptions import BotoCoreError, ClientError

        claims = Claims()
        pending = list(keys)
        for attempt in range(_ATTEMPTS):
            now = self._clock()
            try:
                self._dynamodb.transact_write_items(TransactItems=self._claims(pending, owner, now))
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons")
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException" or not reasons:
                    claims.failed.update(pending)
                    return claims
                retry, throttled = self._cancelled(pending, reasons, now, claims)
                pending = retry + throttled
                if not pending:
                    return claims
                if throttled:
                    self._sleep(self._backoff * 2**attempt)
                continue
            except BotoCoreError:
                claims.failed.update(pending)
                return claims
            claims.won.update(pending)
            return claims
        claims.failed.update(pending)
        return claims

    def _claims(self, keys: Sequence[str], owner: str, now: float) -> list[TransactWriteItemTypeDef]:
        expires = str(int(now + self.claim_seconds))
        values = {":now": {"N": str(int(now))}, ":me": {"S": owner}}
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        KEY_ATTRIBUTE: {"S": k},
                        TTL_ATTRIBUTE: {"N": expires},
                        CLAIM_ATTRIBUTE: {"S": owner},
                    },
                    "ConditionExpression": "attribute_not_exists(#k) OR #t < :now OR #c = :me",
                    "ExpressionAttributeNames": {
                        "#k": KEY_ATTRIBUTE,
                        "#t": TTL_ATTRIBUTE,
                        "#c": CLAIM_ATTRIBUTE,
                    },
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for k in keys
        ]

    @staticmethod
    def _cancelled(
        keys: Sequence[str], reasons: Sequence[Any], now: float, claims: Claims
    ) -> tuple[list[str], list[str]]:
        """Sort the keys of a cancelled transaction into ``claims``; those to try again (their
        puts were fine: another one's condition cancelled the transaction) and those throttled."""
        retry: list[str] = []
        throttled: list[str] = []
        for key, reason in zip(keys, reasons, strict=False):
            code = reason.get("Code")
            if code in (None, "None"):
                retry.append(key)
            elif code == _CONDITION_FAILED:
                old = reason.get("Item") or {}
                if CLAIM_ATTRIBUTE in old or _expires(old) <= now:
                    claims.held.add(key)  # a live claim of another (an expired one would have passed)
                else:
                    claims.delivered.add(key)
            elif code == _CONFLICT:
                claims.held.add(key)
            else:  # ThrottlingError, ProvisionedThroughputExceeded, …
                throttled.append(key)
        return retry, throttled

    def _read(self, keys: Sequence[str]) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self._clock()
        request: dict[str, KeysAndAttributesTypeDef] = {
            self.table: {
                "Keys": [{KEY_ATTRIBUTE: {"S": k}} for k in keys],
                "ProjectionExpression": "#k, #t, #c",
                "ExpressionAttributeNames": {"#k": KEY_ATTRIBUTE, "#t": TTL_ATTRIBUTE, "#c": CLAIM_ATTRIBUTE},
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
                if CLAIM_ATTRIBUTE not in item and _expires(item) > now
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
            if logger.log_level <= logging.DEBUG:  # which records were written (a load test's accounting)
                logger.debug("deliveries recorded", extra={"messageIds": _message_ids(pending, left)})
            pending = list(left)
            if not pending:
                return 0
        return len(pending)


def _message_ids(sent: Sequence[Any], unprocessed: Sequence[Any]) -> list[str]:
    """The ``messageId``s of the puts in ``sent`` that DynamoDB did not leave ``unprocessed``."""
    left = {str(p["PutRequest"]["Item"][KEY_ATTRIBUTE]["S"]) for p in unprocessed}
    keys = (str(p["PutRequest"]["Item"][KEY_ATTRIBUTE]["S"]) for p in sent)
    return [key.split("#", 1)[1] for key in keys if key not in left]


def _expires(item: dict[str, Any]) -> float:
    try:
        return float(item[TTL_ATTRIBUTE]["N"])
    except (KeyError, TypeError, ValueError):
        return float("inf")  # no expiry written: take it as delivered
