"""Forwarding: events-queue messages → requests per upstream Source → answers handled.

An SQS message is acknowledged once every one of its events was accepted upstream, parked in the
dead-letter queue, or sent back to the events queue (``edge.requeue``: only the events not done
yet, so what the upstream confirmed is never sent again). A message none of whose events got
through is left for SQS to redeliver. With a delivery log (``edge.dedupe``), events delivered
within its window are skipped, and what the upstream confirms is recorded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from pydantic_core import from_json

from edge.deadletter import DeadLetter, DeadLetterQueue, Reason
from edge.enrichment import format_timestamp
from edge.errors import NotForwardedError, TransientError, UndeliverableError
from edge.observability import MetricName, MetricUnit, add_counts, logger, metrics
from edge.queueing import MESSAGE_VERSION, message_prefix, serialize
from edge.requeue import Exhausted, Redeliver, Requeue, Requeuer, next_step
from edge.retrying import Deadline, RetryPolicy
from edge.secret import EdgeSecret, SecretStore
from edge.upstream import (
    BATCH_PATH,
    CALL_TYPES,
    Answer,
    FailedItem,
    UpstreamClient,
    Verdict,
    batch_body,
    batch_overhead,
    failed_items,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "BatchLimits",
    "ForwardResult",
    "Forwarder",
    "Item",
    "QueuedMessage",
    "Request",
    "decode_message",
    "plan",
    "split",
]

#: The upstream's request size limit (Segment's 500 KB per batch).
MAX_BATCH_BYTES: Final = 500 * 1024
#: Item statuses in a 207 answer that mean "refused for good": the item is parked, not retried.
PERMANENT_STATUSES: Final = frozenset({400, 413, 422})
_BATCH_OVERHEAD: Final = batch_overhead()
#: Confirmed events recorded in the delivery log as soon as this many are waiting (a BatchWriteItem).
_RECORD_AT: Final = 25
#: SQS's classic message size limit, what a message sent back is packed to.
_MAX_MESSAGE_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """An SQS message of the events queue, as the event source mapping hands it over."""

    message_id: str
    body: str
    attempts: int = 1
    """Deliveries of these events so far, this one included (``edge.requeue``)."""


@dataclass(slots=True, eq=False)
class Item:
    """One event on its way upstream, serialized once."""

    origin: str
    """The SQS ``messageId`` the event arrived in."""
    source: str | None
    """The inbound key's fingerprint (``None`` in open mode)."""
    data: bytes
    event_type: str | None
    message_id: str | None
    settled: bool = False
    """Accepted upstream, parked, or already delivered: nothing left to do for it."""
    delivered: bool = False
    """Accepted upstream in this invocation, or found in the delivery log."""
    key: str | None = None
    """Its key in the delivery log, when there is one."""
    last_status: int | None = None
    last_error: str | None = None
    """The last retryable answer to it (status, or ``timeout``/``connection_error``)."""


@dataclass(slots=True, eq=False)
class Request:
    """Events for one Source ID sent together: a batch, or one event per call."""

    items: list[Item]
    source_id: str
    per_call: bool = False
    after_refresh: bool = False
    """Built from a secret fetched again after a 401/403: another refusal is not retried at once."""

    @property
    def path(self) -> str:
        return f"/v1/{self.items[0].event_type}" if self.per_call else BATCH_PATH

    def halves(self) -> list[Request]:
        middle = len(self.items) // 2
        return [replace(self, items=self.items[:middle]), replace(self, items=self.items[middle:])]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How big one upstream batch request may get."""

    max_events: int = 100
    max_bytes: int = MAX_BATCH_BYTES


@dataclass(frozen=True, slots=True)
class ForwardResult:
    """The outcome of one invocation."""

    failed: frozenset[str]
    """SQS ``messageId``s to report in ``batchItemFailures``."""
    forwarded: int = 0
    dead_lettered: int = 0
    requeued: int = 0
    """Events sent back to the events queue (their messages are acknowledged)."""
    skipped: int = 0
    """Events the delivery log says were delivered already."""

    def check(self, message_id: str) -> None:
        """Raise for a message SQS must redeliver (``BatchProcessor`` reports it as a failure)."""
        if message_id in self.failed:
            raise NotForwardedError("Not every event of the message was forwarded or parked.")


def decode_message(message: QueuedMessage) -> tuple[str | None, list[dict[str, Any]]]:
    """The source fingerprint and events of a version-1 message, or ``UndeliverableError``."""
    try:
        body = from_json(message.body)
    except ValueError as exc:
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The body is not JSON.") from exc
    if not isinstance(body, dict) or "v" not in body:
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The body is not an events message.")
    version = body["v"]
    if not isinstance(version, int) or isinstance(version, bool) or version != MESSAGE_VERSION:
        raise UndeliverableError(Reason.UNSUPPORTED_VERSION, f"Version {version!r} is not read here.")
    source, events = body.get("source"), body.get("events")
    if source is not None and not isinstance(source, str):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The source is not a string or null.")
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The events are not a list of objects.")
    return source, events


def _items(message: QueuedMessage, source: str | None, events: Iterable[dict[str, Any]]) -> list[Item]:
    items = []
    for event in events:
        event.pop("writeKey", None)  # ingest removes it; a hand-made or old message may not have
        event_type, message_id = event.get("type"), event.get("messageId")
        items.append(
            Item(
                origin=message.message_id,
                source=source,
                data=serialize(event),
                event_type=event_type if isinstance(event_type, str) else None,
                message_id=message_id if isinstance(message_id, str) else None,
            )
        )
    return items


def split(items: Sequence[Item], limits: BatchLimits) -> list[list[Item]]:
    """Runs of consecutive items whose batch body stays within the byte and event limits.

    An item too large to share a request still gets one of its own (the upstream decides).
    """
    chunks: list[list[Item]] = []
    chunk: list[Item] = []
    size = _BATCH_OVERHEAD
    for item in items:
        extra = len(item.data) + (1 if chunk else 0)
        if chunk and (len(chunk) >= limits.max_events or size + extra > limits.max_bytes):
            chunks.append(chunk)
            chunk, size, extra = [], _BATCH_OVERHEAD, len(item.data)
        chunk.append(item)
        size += extra
    if chunk:
        chunks.append(chunk)
    return chunks


def plan(items: Iterable[Item], secret: EdgeSecret, limits: BatchLimits) -> tuple[list[Request], list[Item]]:
    """Batch requests per Source ID (first-seen order), and the items whose source maps to none."""
    source_ids: dict[str | None, str | None] = {}
    groups: dict[str, list[Item]] = {}
    unmapped: list[Item] = []
    for item in items:
        if item.source not in source_ids:
            source_ids[item.source] = secret.source_id_for(item.source)
        source_id = source_ids[item.source]
        if source_id is None:
            unmapped.append(item)
        else:
            groups.setdefault(source_id, []).append(item)
    requests = [
        Request(chunk, source_id) for source_id, group in groups.items() for chunk in split(group, limits)
    ]
    return requests, unmapped


def _utc_now() -> datetime:
    return datetime.now(UTC)


_DEFAULT_LIMITS: Final = BatchLimits()
_DEFAULT_POLICY: Final = RetryPolicy()


class DeliveryLog(Protocol):
    """Which events were delivered to a Source within a window (``edge.dedupe``)."""

    def key(self, source_id: str, message_id: str) -> str: ...

    def delivered(self, keys: Collection[str]) -> set[str]: ...

    def record(self, keys: Collection[str]) -> None: ...


class Forwarder:
    """Forwards the events of SQS messages upstream; one per execution environment.

    The forwarding mode is part of its state: once the upstream answers 404/405 to
    ``/v1/batch``, this execution environment sends one event per call from then on.
    """

    def __init__(
        self,
        *,
        upstream: UpstreamClient,
        secrets: SecretStore,
        dead_letters: DeadLetterQueue,
        executor: Executor,
        limits: BatchLimits = _DEFAULT_LIMITS,
        policy: RetryPolicy = _DEFAULT_POLICY,
        per_call: bool = False,
        margin: float = 2.0,
        requeuer: Requeuer | None = None,
        max_deliveries: int | None = None,
        max_message_bytes: int = _MAX_MESSAGE_BYTES,
        delivery_log: DeliveryLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.upstream = upstream
        self.secrets = secrets
        self.dead_letters = dead_letters
        self.executor = executor
        self.limits = limits
        self.policy = policy
        self.per_call = per_call
        self.margin = margin
        self.requeuer = requeuer
        self.max_deliveries = max_deliveries
        """The redrive policy's ``maxReceiveCount``: events still failing are parked at that many
        deliveries (None: left to SQS)."""
        self.max_message_bytes = max_message_bytes
        self.delivery_log = delivery_log
        self.sleep = sleep
        self.clock = clock
        self.now = now

    @property
    def mode(self) -> str:
        return "per-call" if self.per_call else "batch"

    def forward(self, messages: Sequence[QueuedMessage], remaining_ms: int) -> ForwardResult:
        """Forward every message's events within the invocation's ``remaining_ms``."""
        deadline = Deadline.within(remaining_ms, margin=self.margin, clock=self.clock)
        return _Delivery(self, deadline).run(messages)

    def use_per_call(self) -> None:
        """Switch this execution environment to per-call mode (the upstream has no batch route)."""
        if not self.per_call:
            self.per_call = True
            logger.warning("upstream refused /v1/batch: switching to per-call mode")
            metrics.add_metric(MetricName.UPSTREAM_PER_CALL_SWITCHES, MetricUnit.Count, 1)

    def close(self) -> None:
        """Release the threads and pooled connections (tests; Lambda just freezes)."""
        self.executor.shutdown(wait=True)
        self.upstream.close()


@dataclass(frozen=True, slots=True)
class _Letter:
    letter: DeadLetter
    items: list[Item]


@dataclass(frozen=True, slots=True)
class _Message:
    """A decoded message and its items, in order."""

    message: QueuedMessage
    source: str | None
    items: list[Item]


class _Delivery:
    """One invocation's work: every item ends accepted, parked, or left for SQS to redeliver."""

    def __init__(self, forwarder: Forwarder, deadline: Deadline) -> None:
        self._f = forwarder
        self._deadline = deadline
        self._items: list[Item] = []
        self._messages: list[_Message] = []
        self._twins: list[tuple[Item, Item]] = []
        self._confirmed: list[str] = []
        self._letters: list[_Letter] = []
        self._unparked: set[str] = set()
        self._refreshed: EdgeSecret | None = None
        self._retry_after: float | None = None
        self._statuses: Counter[str] = Counter()
        self._requests = 0
        self._forwarded = 0
        self._retries = 0
        self._auth_failures = 0
        self._skipped = 0
        self._log_reads = 0
        self._log_writes = 0
        self._log_seconds = 0.0

    def run(self, messages: Sequence[QueuedMessage]) -> ForwardResult:
        for message in messages:
            try:
                source, events = decode_message(message)
            except UndeliverableError as exc:
                self._letters.append(
                    _Letter(DeadLetter(message.body, exc.reason, message.message_id, exc.detail), [])
                )
                continue
            items = _items(message, source, events)
            self._messages.append(_Message(message, source, items))
            self._items.extend(items)
        requests = self._first_requests()
        if requests:
            self._send(requests)
        self._follow_twins()
        self._exhaust()
        parked = self._park()
        failed, remainders = self._unfinished()
        requeued = 0
        if remainders and self._f.requeuer is not None:
            not_sent = self._f.requeuer.send(remainders)
            failed |= not_sent
            requeued = sum(r.events for r in remainders if r.origin not in not_sent)
        elif remainders:
            failed |= {r.origin for r in remainders}
        result = ForwardResult(
            frozenset(failed),
            forwarded=self._forwarded,
            dead_lettered=parked.total(),
            requeued=requeued,
            skipped=self._skipped,
        )
        self._report(result, len(messages), parked)
        return result

    def _exhaust(self) -> None:
        """Park the events of messages at their last allowed delivery that are still not done."""
        limit = self._f.max_deliveries
        if limit is None:
            return
        for entry in self._messages:
            if entry.message.attempts < limit:
                continue
            pending = [item for item in entry.items if not item.settled]
            if pending:
                status, detail = _exhausted_detail(pending, entry.message.attempts)
                self._dead_letter(pending, Reason.ATTEMPTS_EXHAUSTED, detail, status)

    def _unfinished(self) -> tuple[set[str], list[Requeue]]:
        """The messages SQS must redeliver, and the remainders to send back (``edge.requeue``)."""
        failed = set(self._unparked)
        remainders: list[Requeue] = []
        for entry in self._messages:
            message = entry.message
            if message.message_id in failed:
                continue
            step = next_step(
                message.message_id,
                entry.source,
                [item.data for item in entry.items],
                [item.settled for item in entry.items],
                attempts=message.attempts,
                max_attempts=self._f.max_deliveries or message.attempts + 1,
                max_bytes=self._f.max_message_bytes,
            )
            if isinstance(step, Requeue):
                remainders.append(step)
            elif isinstance(step, Redeliver | Exhausted):  # Exhausted here: its letter was not sent
                failed.add(message.message_id)
        return failed, remainders

    def _first_requests(self) -> list[Request]:
        if not self._items:
            return []
        try:
            secret = self._f.secrets.get()
        except TransientError as exc:
            logger.warning("secret unavailable: nothing forwarded", extra={"reason": exc.message})
            return []
        log = self._f.delivery_log
        items = self._not_yet_delivered(log, secret) if log is not None else self._items
        requests, unmapped = plan(items, secret, self._f.limits)
        self._dead_letter(unmapped, Reason.UNMAPPED_SOURCE, "The source maps to no Source ID in the secret.")
        return requests

    def _not_yet_delivered(self, log: DeliveryLog, secret: EdgeSecret) -> list[Item]:
        """The items to send: not in the delivery log, and the first of those sharing a key.

        A later item with the key of an earlier one (a client's retry queued twice) waits for
        it: done if the first is delivered, sent back with its message otherwise.
        """
        source_ids: dict[str | None, str | None] = {}
        first: dict[str, Item] = {}
        send: list[Item] = []
        for item in self._items:
            if item.source not in source_ids:
                source_ids[item.source] = secret.source_id_for(item.source)
            source_id = source_ids[item.source]
            if source_id is None or item.message_id is None:
                send.append(item)
                continue
            item.key = log.key(source_id, item.message_id)
            if item.key in first:
                self._twins.append((item, first[item.key]))
                continue
            first[item.key] = item
            send.append(item)
        started = time.monotonic()
        try:
            delivered = log.delivered(first.keys())
        except TransientError as exc:
            logger.warning("delivery log unavailable: sending without it", extra={"reason": exc.message})
            delivered = set()
        finally:
            self._log_seconds += time.monotonic() - started
            self._log_reads += len(first)
        for key in delivered:
            first[key].settled = first[key].delivered = True
        self._skipped += len(delivered)
        return [item for item in send if not item.settled]

    def _not_delivered_since(self, requests: list[Request]) -> list[Request]:
        """``requests`` without the events delivered since the log was read (by another
        invocation, e.g. a copy of the event queued twice): it is read again before each retry."""
        log = self._f.delivery_log
        pending = {item.key: item for r in requests for item in r.items if item.key is not None}
        if log is None or not pending:
            return requests
        started = time.monotonic()
        try:
            delivered = log.delivered(pending.keys())
        except TransientError as exc:
            logger.warning("delivery log unavailable: sending without it", extra={"reason": exc.message})
            return requests
        finally:
            self._log_seconds += time.monotonic() - started
            self._log_reads += len(pending)
        if not delivered:
            return requests
        for key in delivered:
            pending[key].settled = pending[key].delivered = True
        self._skipped += len(delivered)
        kept = [replace(r, items=[i for i in r.items if not i.settled]) for r in requests]
        return [r for r in kept if r.items]

    def _follow_twins(self) -> None:
        """Items that share the key of an item delivered (now, or before) are done too."""
        for twin, first in self._twins:
            if first.delivered:
                twin.settled = twin.delivered = True
                self._skipped += 1

    def _record(self) -> None:
        """Write what the upstream confirmed since the last call to the delivery log."""
        log, keys = self._f.delivery_log, self._confirmed
        if log is None or not keys:
            return
        self._confirmed = []
        started = time.monotonic()
        try:
            log.record(keys)
        except TransientError as exc:
            logger.warning("could not record deliveries", extra={"reason": exc.message, "events": len(keys)})
        finally:
            self._log_seconds += time.monotonic() - started
            self._log_writes += len(keys)

    def _send(self, requests: list[Request]) -> None:
        """Rounds of requests with a backoff between them, while attempts and time remain."""
        policy = self._f.policy
        attempt = 1
        while True:
            retry = self._round(requests)
            if not retry:
                return
            if attempt >= policy.max_attempts:
                logger.warning(
                    "upstream retries exhausted", extra={"requests": len(retry), "attempts": attempt}
                )
                return
            delay = policy.delay(attempt, self._retry_after)
            if not policy.can_wait(delay, self._deadline):
                logger.warning(
                    "no time left to retry the upstream",
                    extra={"requests": len(retry), "delay": round(delay, 3)},
                )
                return
            self._f.sleep(delay)
            requests = self._not_delivered_since(retry)
            if not requests:
                return
            self._retries += len(requests)
            attempt += 1

    def _round(self, requests: list[Request]) -> list[Request]:
        """Send ``requests`` and, at once, what their answers split off; return what waits for a retry."""
        later: list[Request] = []
        self._retry_after = None
        while requests:
            requests = self._in_mode(requests)
            if not requests or not self._f.policy.can_send(self._deadline):
                return later + requests
            now: list[Request] = []
            for request, answer in zip(requests, self._post_all(requests), strict=True):
                self._settle(request, answer, now, later)
                if len(self._confirmed) >= _RECORD_AT:  # as they come: a crash loses little
                    self._record()
            self._record()
            requests = now
        return later

    def _in_mode(self, requests: list[Request]) -> list[Request]:
        """``requests`` as the current mode sends them: per-call mode sends each event alone."""
        if not self._f.per_call:
            return requests
        calls: list[Request] = []
        for request in requests:
            if request.per_call:
                calls.append(request)
                continue
            for item in request.items:
                if item.event_type in CALL_TYPES:
                    calls.append(replace(request, items=[item], per_call=True))
                else:
                    self._dead_letter(
                        [item], Reason.UNROUTABLE_EVENT, f"No per-call path for {item.event_type!r}."
                    )
        return calls

    def _post_all(self, requests: list[Request]) -> Iterator[Answer]:
        """Send concurrently over the shared pool; the answers, in order as they come, are handled
        on this thread only."""
        sent_at = format_timestamp(self._f.now())
        self._requests += len(requests)

        def post(request: Request) -> Answer:
            data = [item.data for item in request.items]
            body = data[0] if request.per_call else batch_body(data, sent_at)
            return self._f.upstream.post(
                request.path, body, request.source_id, budget=self._deadline.remaining()
            )

        if len(requests) == 1:
            return iter([post(requests[0])])
        return self._f.executor.map(post, requests)

    def _settle(self, request: Request, answer: Answer, now: list[Request], later: list[Request]) -> None:
        """The forwarding policy (README) for one answer: accept, split, park, re-read the secret, retry."""
        self._statuses[answer.status_class] += 1
        metrics.add_metric(MetricName.UPSTREAM_LATENCY, MetricUnit.Milliseconds, answer.elapsed_ms)
        match answer.verdict:
            case Verdict.ACCEPTED:
                self._accept(request.items)
            case Verdict.PARTIAL:
                self._partial(request, answer, later)
            case Verdict.TOO_LARGE | Verdict.REJECTED if len(request.items) > 1:
                now.extend(request.halves())
            case Verdict.TOO_LARGE | Verdict.REJECTED:
                detail = _detail(answer, request.source_id)
                self._dead_letter(request.items, Reason.UPSTREAM_REJECTED, detail, answer.status)
            case Verdict.UNAUTHORIZED:
                self._unauthorized(request, answer, now, later)
            case Verdict.UNSUPPORTED if not request.per_call:
                self._f.use_per_call()
                now.append(request)
            case _:
                self._later(request, answer, later)

    def _accept(self, items: list[Item]) -> None:
        _settle(items)
        for item in items:
            item.delivered = True
            if item.key is not None:
                self._confirmed.append(item.key)
        self._forwarded += len(items)

    def _later(self, request: Request, answer: Answer, later: list[Request]) -> None:
        later.append(request)
        for item in request.items:
            item.last_status, item.last_error = answer.status, answer.error
        if answer.retry_after is not None:
            self._retry_after = max(self._retry_after or 0.0, answer.retry_after)

    def _partial(self, request: Request, answer: Answer, later: list[Request]) -> None:
        """207: accept what the upstream took, park what it refused for good, retry the rest."""
        failures = failed_items(answer.body)
        matched = _match(request.items, failures) if failures is not None else None
        if matched is None:
            logger.warning("207 answer names no recognisable items: retrying the whole request")
            self._later(request, answer, later)
            return
        self._accept([item for index, item in enumerate(request.items) if index not in matched])
        retry: list[Item] = []
        for index in sorted(matched):
            failure, item = matched[index], request.items[index]
            if failure.status in PERMANENT_STATUSES:
                detail = "The upstream reported the event as failed in a 207 answer."
                self._dead_letter([item], Reason.UPSTREAM_REJECTED, detail, failure.status)
            else:
                retry.append(item)
        if retry:
            self._later(replace(request, items=retry), answer, later)

    def _unauthorized(
        self, request: Request, answer: Answer, now: list[Request], later: list[Request]
    ) -> None:
        """401/403: read the secret again (it may have been rotated) and resend once; then retry later."""
        if request.after_refresh:
            self._auth_failures += 1
            self._later(request, answer, later)
            return
        if self._refreshed is None:
            try:
                self._refreshed = self._f.secrets.get(force=True)
            except TransientError as exc:
                logger.warning("secret unavailable after a 401/403", extra={"reason": exc.message})
                self._later(request, answer, later)
                return
        requests, unmapped = plan(request.items, self._refreshed, self._f.limits)
        self._dead_letter(unmapped, Reason.UNMAPPED_SOURCE, "The source maps to no Source ID in the secret.")
        now.extend(replace(r, per_call=request.per_call, after_refresh=True) for r in requests)

    def _dead_letter(self, items: list[Item], reason: str, detail: str, status: int | None = None) -> None:
        """Queue items for the dead-letter queue, one letter per SQS message they came in."""
        by_origin: dict[str, list[Item]] = {}
        for item in items:
            by_origin.setdefault(item.origin, []).append(item)
        for origin, group in by_origin.items():
            body = message_prefix(group[0].source) + b",".join(item.data for item in group) + b"]}"
            self._letters.append(_Letter(DeadLetter(body.decode(), reason, origin, detail, status), group))

    def _park(self) -> Counter[str]:
        """Send the letters; a message whose letter could not be sent is redelivered by SQS."""
        parked: Counter[str] = Counter()
        for entry in self._letters:
            try:
                self._f.dead_letters.park(entry.letter)
            except TransientError:
                logger.exception(
                    "could not park in the dead-letter queue", extra={"reason": entry.letter.reason}
                )
                self._unparked.add(entry.letter.origin)
                continue
            _settle(entry.items)
            parked[entry.letter.reason] += max(1, len(entry.items))
        return parked

    def _report(self, result: ForwardResult, messages: int, parked: Counter[str]) -> None:
        metrics.add_metric(MetricName.EVENTS_FORWARDED, MetricUnit.Count, result.forwarded)
        if self._retries:
            metrics.add_metric(MetricName.UPSTREAM_RETRIES, MetricUnit.Count, self._retries)
        if result.failed:
            metrics.add_metric(MetricName.MESSAGES_NOT_FORWARDED, MetricUnit.Count, len(result.failed))
        if result.requeued:
            metrics.add_metric(MetricName.EVENTS_REQUEUED, MetricUnit.Count, result.requeued)
        if result.skipped:
            metrics.add_metric(MetricName.EVENTS_ALREADY_DELIVERED, MetricUnit.Count, result.skipped)
        if self._auth_failures:
            metrics.add_metric(MetricName.UPSTREAM_AUTH_FAILURES, MetricUnit.Count, self._auth_failures)
            logger.error("upstream refused the Source ID after the secret was read again")
        add_counts(MetricName.UPSTREAM_RESPONSES, "status_class", self._statuses)
        add_counts(MetricName.EVENTS_DEAD_LETTERED, "reason", parked)
        logger.info(
            "messages forwarded",
            extra={
                "messages": messages,
                "failed_messages": len(result.failed),
                "events_forwarded": result.forwarded,
                "dead_lettered": result.dead_lettered,
                "dead_letter_reasons": dict(parked),
                "retries": self._retries,
                "events_requeued": result.requeued,
                "events_skipped": result.skipped,
                "requests": self._requests,
                "upstream_statuses": dict(self._statuses),
                "mode": self._f.mode,
                **self._log_figures(),
            },
        )

    def _log_figures(self) -> dict[str, Any]:
        if self._f.delivery_log is None:
            return {}
        return {
            "log_reads": self._log_reads,
            "log_writes": self._log_writes,
            "log_ms": round(self._log_seconds * 1000, 1),
        }


def _settle(items: Iterable[Item]) -> None:
    for item in items:
        item.settled = True


def _exhausted_detail(items: Sequence[Item], attempts: int) -> tuple[int | None, str]:
    """The status and ``detail`` of events parked after ``attempts`` deliveries: the last answer."""
    last = next((item for item in items if item.last_status or item.last_error), None)
    if last is None:
        return None, f"Not delivered after {attempts} deliveries; no request was answered in the last."
    what = f"answered {last.last_status}" if last.last_status else f"failed ({last.last_error})"
    return last.last_status, f"Not delivered after {attempts} deliveries; the upstream last {what}."


def _match(items: Sequence[Item], failures: Iterable[FailedItem]) -> dict[int, FailedItem] | None:
    """Positions in ``items`` of the failures a 207 names (by ``messageId``, else index).

    None when any failure names no item of the request: then nobody knows what failed.
    """
    positions: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if item.message_id is not None:
            positions.setdefault(item.message_id, []).append(index)
    matched: dict[int, FailedItem] = {}
    for failure in failures:
        if failure.message_id is not None and failure.message_id in positions:
            found = positions[failure.message_id]
        elif failure.index is not None and 0 <= failure.index < len(items):
            found = [failure.index]
        else:
            return None
        matched.update(dict.fromkeys(found, failure))
    return matched


def _detail(answer: Answer, source_id: str) -> str:
    """The upstream's answer for the dead-letter ``detail`` attribute, without the Source ID."""
    text = answer.body[:512].decode("utf-8", "replace").replace(source_id, "[source]").strip()
    return (
        f"The upstream answered {answer.status}: {text}"
        if text
        else f"The upstream answered {answer.status}."
    )
