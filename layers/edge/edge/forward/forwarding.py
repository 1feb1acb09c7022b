"""Forwarding: events-queue messages → requests per upstream Source → answers handled.

An invocation, top to bottom (``Forwarder.forward``):

1. decode each message (``edge.core.queueing``); one that cannot be read is parked whole;
2. plan batch requests per Source ID; events whose source maps to none are parked;
3. send rounds of requests (``edge.forward.retrying``), each answer applied as
   ``edge.forward.upstream.decide`` says: accepted, split, parked, sent again at once (secret
   re-read, per-call mode), or later;
4. with a delivery log (``edge.forward.dedupe``), each request's events are claimed before it is
   sent (what was delivered within the window, or another invocation holds, is not sent) and
   recorded as delivered as each request is confirmed;
5. with the archive (``edge.forward.archiving``), what MetaRouter confirmed goes to the archive
   queue as it is confirmed, and the invocation waits for it before settling its messages;
6. park the events of messages at their last allowed delivery that are still not done;
7. send the letters (``edge.forward.deadletter``), then settle each message (``edge.forward.requeue``): every
   event done, it is acknowledged; none, SQS redelivers it; some, only the rest goes back.

Events sent again from the archive (a replay) are named by the archive's label of their Source,
never archived again, and, unless only undelivered ones were asked for, sent whatever the delivery
log says. An archive message found on the events queue (the archive queue refused it once) is
relayed to the archive queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from edge.core.archive import ARCHIVE_HEAD
from edge.core.errors import Reason, TransientError, UndeliverableError
from edge.core.observability import ForwardTally, MetricName, MetricUnit, logger, metrics
from edge.core.queueing import MAX_MESSAGE_BYTES, REPLAY_KINDS, read_message
from edge.core.secret import EdgeSecret, SecretStore
from edge.core.timestamps import format_timestamp
from edge.forward.batching import BatchLimits, Item, Request, plan, resolver
from edge.forward.deadletter import LetterBox, Parking
from edge.forward.requeue import Acknowledge, Exhausted, Redeliver, Requeue, Step, next_step
from edge.forward.retrying import Deadline, Retrier, RetryPolicy, Round
from edge.forward.upstream import (
    CALL_TYPES,
    Accept,
    Answer,
    Park,
    Partial,
    RefreshSecret,
    Retry,
    Split,
    UpstreamClient,
    UsePerCall,
    decide,
)

if TYPE_CHECKING:
    from edge.forward.archiving import Archived, Archiving, Sink
    from edge.forward.dedupe import DeliveryLog, DeliveryTracker

__all__ = ["ForwardResult", "Forwarder", "Mode", "QueuedMessage"]

_UNMAPPED: Final = "The source maps to no Source ID in the secret."
_ACKNOWLEDGE: Final = Acknowledge()


class Mode(StrEnum):
    """How events are sent: together to ``/v1/batch``, or one per call to ``/v1/{type}``."""

    BATCH = "batch"
    PER_CALL = "per-call"


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """An SQS message of the events queue, as the event source mapping hands it over."""

    message_id: str
    body: str
    attempts: int = 1
    """Deliveries of these events so far, this one included (``edge.forward.requeue``)."""
    receipt_handle: str | None = None
    """What deletes it before the invocation ends (a checkpoint); None: left to the end."""


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
    archived: int = 0
    """Events whose archive copy went to the archive queue."""


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to build, and one is built per message
class _Message:
    """A decoded message and its items, in order."""

    message: QueuedMessage
    source: str | None
    items: list[Item]
    kind: str | None = None


def _decode(message: QueuedMessage) -> _Message:
    source, events, kind = read_message(message.body)
    if kind is not None and kind not in REPLAY_KINDS:
        detail = f"Events messages of kind {kind!r} are not forwarded."
        raise UndeliverableError(Reason.INVALID_MESSAGE, detail)
    origin = message.message_id
    if kind is None:  # live events, nearly every message: positional arguments are the cheapest
        return _Message(message, source, [Item(origin, source, data) for data in events])
    # Sent again from the archive: not archived again.
    return _Message(
        message, source, [Item(origin, source, data, kind=kind, archived=True) for data in events], kind
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Requeueing(Protocol):
    """Sends the undelivered rest of messages back to the events queue (``edge.forward.requeue``)."""

    def send(self, remainders: Iterable[Requeue], *, time_left: Callable[[], float]) -> set[str]: ...

    def send_bodies(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]: ...

    def acknowledge(self, receipt_handles: Sequence[str], *, time_left: Callable[[], float]) -> int: ...


class Forwarder:
    """Forwards the events of SQS messages upstream; one per execution environment.

    The forwarding mode is part of its state: when the upstream answers 404/405 to
    ``/v1/batch``, this execution environment sends one event per call for ``reprobe_after``
    seconds, then tries ``/v1/batch`` again (a proxy's 404 during an upstream deploy must not
    multiply requests for the life of the environment).
    """

    def __init__(
        self,
        *,
        upstream: UpstreamClient,
        secrets: SecretStore,
        dead_letters: LetterBox,
        executor: Executor,
        limits: BatchLimits = BatchLimits(),  # noqa: B008 - frozen
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen
        mode: Mode = Mode.BATCH,
        reprobe_after: float = 300.0,
        margin: float = 2.0,
        requeuer: Requeueing | None = None,
        max_deliveries: int | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        delivery_log: DeliveryLog | None = None,
        archive: Sink | None = None,
        checkpoint_after: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.upstream = upstream
        self.secrets = secrets
        self.dead_letters = dead_letters
        self.executor = executor
        self.limits = limits
        self.retrier = Retrier(policy, sleep)
        self.configured_mode = mode
        self.reprobe_after = reprobe_after
        self.margin = margin
        self.requeuer = requeuer
        self.max_deliveries = max_deliveries
        """The redrive policy's ``maxReceiveCount``: events still failing are parked at that many
        deliveries (None: left to SQS)."""
        self.max_message_bytes = max_message_bytes
        self.delivery_log = delivery_log
        self.archive = archive
        """The archive queue (None: no archive)."""
        self.checkpoint_after = checkpoint_after
        """Seconds into an invocation after which, and then as often, the messages all of whose
        events were delivered are deleted at once, on a thread of their own: an invocation killed
        later sends again only what it had not delivered. A short invocation makes no such call."""
        self._checkpointer: Executor | None = None
        self.clock = clock
        self.now = now
        self._per_call_until: float | None = None

    @property
    def mode(self) -> Mode:
        if self.configured_mode is Mode.PER_CALL:
            return Mode.PER_CALL
        if self._per_call_until is not None and self.clock() < self._per_call_until:
            return Mode.PER_CALL
        return Mode.BATCH

    def use_per_call(self) -> None:
        """Send one event per call for a while: the upstream answered 404/405 to ``/v1/batch``."""
        if self.mode is Mode.BATCH:
            logger.warning(
                "upstream refused /v1/batch: per-call mode", extra={"reprobe_after": self.reprobe_after}
            )
            metrics.add_metric(MetricName.UPSTREAM_PER_CALL_SWITCHES, MetricUnit.Count, 1)
        self._per_call_until = self.clock() + self.reprobe_after

    def forward(self, messages: Sequence[QueuedMessage], remaining_ms: int) -> ForwardResult:
        """Forward every message's events within the invocation's ``remaining_ms``."""
        deadline = Deadline.within(remaining_ms, margin=self.margin, clock=self.clock)
        decoded: list[_Message] = []
        undecodable: list[tuple[QueuedMessage, UndeliverableError]] = []
        relays: list[QueuedMessage] = []
        for message in messages:
            if message.body.startswith(ARCHIVE_HEAD):  # an archive message: relayed
                relays.append(message)
                continue
            try:
                decoded.append(_decode(message))
            except UndeliverableError as exc:
                undecodable.append((message, exc))
        run = _Invocation(self, deadline, decoded)
        for message, error in undecodable:
            run.parking.message(message.body, message.message_id, error.reason, error.detail)
        run.relay(relays)
        items = [item for entry in decoded for item in entry.items]
        if items:
            run.send(items)
        run.archive_flush()
        run.checkpoints_done()
        steps = [(entry.message.message_id, self._next_step(entry, run.parking)) for entry in decoded]
        parked = run.parking.send(self.dead_letters, run.deadline.remaining)
        if parked.not_sent:
            logger.error("could not park in the dead-letter queue", extra={"messages": len(parked.not_sent)})
        # A message whose letter could not be sent comes back whole, whatever else became of it;
        # so does one whose confirmed events have their archive copy on no queue.
        failed = set(parked.not_sent) | run.archive_settled()
        failed |= {origin for origin, step in steps if isinstance(step, Redeliver)}
        remainders = [step for origin, step in steps if isinstance(step, Requeue) and origin not in failed]
        requeued = 0
        if remainders and self.requeuer is not None:
            not_sent = self.requeuer.send(remainders, time_left=run.deadline.remaining)
            failed |= not_sent
            requeued = sum(r.events for r in remainders if r.origin not in not_sent)
        else:
            failed |= {r.origin for r in remainders}
        result = ForwardResult(
            frozenset(failed),
            forwarded=run.tally.forwarded,
            dead_lettered=sum(parked.by_reason.values()),
            requeued=requeued,
            skipped=run.tally.skipped,
            archived=run.tally.archived,
        )
        run.tally.publish(
            messages=len(messages),
            failed=len(failed),
            requeued=requeued,
            parked=parked.by_reason,
            mode=self.mode,
            delivery_log=self.delivery_log is not None,
            archive=self.archive is not None,
        )
        return result

    def _next_step(self, entry: _Message, parking: Parking) -> Step:
        """What becomes of a message (``edge.forward.requeue``); at its last delivery, what is not done yet
        is parked with the last answer it got."""
        if all(item.done for item in entry.items):  # nearly every message: nothing to look at
            return _ACKNOWLEDGE
        step = next_step(
            entry.message.message_id,
            entry.source,
            [item.data for item in entry.items],
            [item.done for item in entry.items],
            attempts=entry.message.attempts,
            max_attempts=self.max_deliveries or entry.message.attempts + 1,
            max_bytes=self.max_message_bytes,
            kind=entry.kind,
        )
        if isinstance(step, Exhausted):
            pending = [entry.items[index] for index in step.pending]
            status, detail = _exhausted(pending, step.attempts)
            _park(parking, pending, Reason.ATTEMPTS_EXHAUSTED, detail, status)
        return step

    def checkpoint(self, receipt_handles: list[str], time_left: Callable[[], float]) -> Future[int] | None:
        """Delete these finished messages on the checkpoint thread; None without a queue to do it."""
        if self.requeuer is None:
            return None
        if self._checkpointer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        return self._checkpointer.submit(self.requeuer.acknowledge, receipt_handles, time_left=time_left)

    def archiving(self, label_for: Callable[[str], str]) -> Archiving | None:
        """One invocation's archive copies, or None without an archive."""
        if self.archive is None:
            return None
        from edge.forward.archiving import Archiving

        return Archiving(self.archive, label_for=label_for)

    def close(self) -> None:
        """Release the threads and pooled connections (tests; Lambda just freezes)."""
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
        self.executor.shutdown(wait=True)
        self.upstream.close()


class _Invocation:
    """One invocation's sending: rounds of requests, each answer applied as ``decide`` says."""

    def __init__(self, forwarder: Forwarder, deadline: Deadline, messages: list[_Message]) -> None:
        self.f = forwarder
        self.deadline = deadline
        self._unfinished = [m for m in messages if m.message.receipt_handle and m.items]
        self._next_checkpoint = forwarder.clock() + forwarder.checkpoint_after
        self._checkpoints: list[Future[int]] = []
        self._trace = logger.log_level <= logging.DEBUG
        self.tally = ForwardTally()
        self.parking: Parking = Parking()
        self.tracker: DeliveryTracker | None = None
        if forwarder.delivery_log is not None:  # DynamoDB's code is loaded only with a delivery log
            from edge.forward.dedupe import DeliveryTracker

            self.tracker = DeliveryTracker(forwarder.delivery_log, self.tally, clock=forwarder.clock)
        self._refreshed: EdgeSecret | None = None
        self._secret: EdgeSecret | None = None
        self.archiving: Archiving | None = None
        self._relays: dict[str, QueuedMessage] = {}

    def relay(self, messages: list[QueuedMessage]) -> None:
        """Send archive messages found on the events queue on to the archive queue; without an
        archive, park them (a redrive brings them back once it is on again)."""
        if not messages:
            return
        if self.f.archive is None:
            for message in messages:
                detail = "An archive message, and this forwarder has no archive queue."
                self.parking.message(message.body, message.message_id, Reason.INVALID_MESSAGE, detail)
            return
        archiving = self._archiving()
        for message in messages:
            self._relays[message.message_id] = message
            archiving.relay(message.body, message.message_id)

    def _archiving(self) -> Archiving:
        if self.archiving is None:
            self.archiving = self.f.archiving(self._label_for)
            assert self.archiving is not None  # noqa: S101 - only called with an archive
        return self.archiving

    def _label_for(self, source_id: str) -> str:
        """The archive's name for a Source ID, from the secret read last."""
        secret = self._refreshed or self._secret
        if secret is None:  # only relayed messages, which carry their label, are archived without one
            raise TransientError("No secret to name the Source with.")
        return secret.label_for(source_id)

    def archive_flush(self) -> None:
        """Send what was kept for the archive so far."""
        if self.archiving is not None:
            self.archiving.flush(self._archive_time_left)

    def _archive_time_left(self) -> float:
        # Sent within the margin too: the letters and the answer need less than half of it.
        return self.deadline.remaining() + self.f.margin / 2

    def archive_settled(self) -> set[str]:
        """Send what the archive queue refused to the events queue. The origins of messages SQS
        must redeliver: events whose copy is on no queue, relayed archive messages the archive
        queue did not take."""
        if self.archiving is None:
            return set()
        outcome: Archived = self.archiving.outcome
        self.tally.archived += outcome.events
        lost: list[Item] = []
        if outcome.unsent:
            requeuer = self.f.requeuer
            refused = (
                requeuer.send_bodies(outcome.unsent, time_left=self._archive_time_left)
                if requeuer is not None
                else list(range(len(outcome.unsent)))
            )
            refused_set = set(refused)
            for position, items in enumerate(outcome.unsent_items):
                if position in refused_set:
                    lost += items
                else:
                    for item in items:
                        item.archived = True
        errors = sum(len(items) for items in outcome.unsent_items)
        failed = {item.origin for item in lost} | outcome.not_relayed
        if errors or outcome.not_relayed:
            logger.warning(
                "archive queue refused events",
                extra={"events": errors, "sent_back": errors - len(lost), "messages_left": len(failed)},
            )
        self.tally.archive_errors += errors + len(outcome.not_relayed)
        return failed

    def send(self, items: list[Item]) -> None:
        try:
            secret = self.f.secrets.get()
        except TransientError as exc:
            logger.warning("secret unavailable: nothing forwarded", extra={"reason": exc.message})
            return
        self._secret = secret
        if self.f.archive is not None:
            self._archiving()
        if self.tracker is not None:
            items = self.tracker.to_send(items, resolver(secret))
        requests, unmapped = plan(items, secret, self.f.limits)
        self._park(unmapped, Reason.UNMAPPED_SOURCE, _UNMAPPED)
        if requests:
            rounds = self.f.retrier.run(requests, self.round, self.deadline)
            self.tally.retries += rounds.retried
        if self.tracker is not None:
            self.tracker.settle(self.deadline.remaining)
            self.tracker.follow_twins()

    def round(self, requests: list[Request]) -> Round[Request]:
        """Send ``requests`` and, at once, what their answers split off; return what waits."""
        later: list[Request] = []
        retry_after: float | None = None
        while requests:
            requests = self._in_mode(requests)
            if not requests or not self.f.retrier.policy.can_send(self.deadline):
                return Round(later + requests, retry_after)
            if self.tracker is not None:  # what another invocation holds or delivered is not sent
                requests = self.tracker.claim(requests)
                if not requests:
                    break
            now: list[Request] = []
            for request, answer in zip(requests, self._post_all(requests), strict=True):
                self.tally.answered(answer.status_class, answer.elapsed_ms)
                waiting = self._apply(request, answer, now)
                if waiting is not None:
                    later.append(_waiting(waiting, answer))
                    retry_after = _longest(retry_after, answer.retry_after)
                if self._unfinished and self.f.clock() >= self._next_checkpoint:
                    self._checkpoint()
            if self.tracker is not None:
                self.tracker.flush()
            requests = now
        return Round(later, retry_after)

    def _checkpoint(self) -> None:
        """Delete the messages whose every event is delivered (not merely parked: the letters are
        sent at the end), off this thread."""
        self._next_checkpoint = self.f.clock() + self.f.checkpoint_after
        self.archive_flush()  # what a later checkpoint may then delete
        bare = self.archiving is None  # without an archive, delivered is finished
        finished = [
            m for m in self._unfinished if all(item.delivered and (item.archived or bare) for item in m.items)
        ]
        if not finished:
            return
        self._unfinished = [m for m in self._unfinished if m not in finished]
        handles = [m.message.receipt_handle for m in finished if m.message.receipt_handle]
        future = self.f.checkpoint(handles, self.deadline.remaining)
        if future is not None:
            self._checkpoints.append(future)
            self.tally.checkpointed += len(handles)

    def checkpoints_done(self) -> None:
        """Wait for the checkpoint thread's deletes (within the time left); count what failed."""
        if not self._checkpoints:
            return
        finished, unfinished = wait(self._checkpoints, timeout=self.deadline.remaining() + self.f.margin / 2)
        left = sum(f.result() for f in finished if f.exception() is None)
        left += sum(1 for f in finished if f.exception() is not None) + len(unfinished)
        self.tally.checkpointed -= left

    def _apply(self, request: Request, answer: Answer, now: list[Request]) -> Request | None:
        """Carry out what ``answer`` means for ``request``: requests to send at once go to
        ``now``; what must wait for a retry is returned."""
        match decide(request, answer):
            case Accept():
                self._accept(request.items, request.source_id)
                self.tally.custom_forwarded += request.custom
            case Partial(parked, retry):
                failed = set(retry).union(index for index, _ in parked)
                accepted = [item for i, item in enumerate(request.items) if i not in failed]
                self._accept(accepted, request.source_id)
                for index, status in parked:
                    detail = "The upstream reported the event as failed in a 207 answer."
                    self._park([request.items[index]], Reason.UPSTREAM_REJECTED, detail, status)
                if retry:
                    return replace(request, items=[request.items[i] for i in retry])
            case Split():
                now.extend(request.halves())
            case Park(status, detail):
                self._park(request.items, Reason.UPSTREAM_REJECTED, detail, status)
            case UsePerCall():
                self.f.use_per_call()
                now.append(request)
            case RefreshSecret():
                again = self._with_refreshed_secret(request)
                if again is None:
                    return request
                now.extend(again)
            case Retry(_, refused, unreadable):
                if refused:
                    self.tally.auth_failures += 1
                if unreadable:
                    logger.warning("207 answer names no recognisable items: retrying the whole request")
                return request
        return None

    def _park(self, items: Sequence[Item], reason: Reason, detail: str, status: int | None = None) -> None:
        _park(self.parking, items, reason, detail, status)

    def _accept(self, items: list[Item], source_id: str) -> None:
        for item in items:
            item.done = item.delivered = True
        self.tally.forwarded += len(items)
        if self.archiving is not None:
            kept = [item for item in items if not item.archived]  # replayed ones are not archived again
            if kept:
                self.archiving.add(source_id, kept)
        if self._trace:  # which answers an invocation read (a load test's accounting)
            logger.debug("upstream confirmed", extra={"messageIds": [item.message_id for item in items]})
        if self.tracker is not None:
            self.tracker.confirm(items)

    def _with_refreshed_secret(self, request: Request) -> list[Request] | None:
        """The request again with the secret read anew (once an invocation); None if unreadable."""
        if self._refreshed is None:
            try:
                self._refreshed = self.f.secrets.get(force=True)
            except TransientError as exc:
                logger.warning("secret unavailable after a 401/403", extra={"reason": exc.message})
                return None
        requests, unmapped = plan(request.items, self._refreshed, self.f.limits)
        self._park(unmapped, Reason.UNMAPPED_SOURCE, _UNMAPPED)
        return [replace(r, per_call=request.per_call, after_refresh=True) for r in requests]

    def _in_mode(self, requests: list[Request]) -> list[Request]:
        """``requests`` as the current mode sends them: per-call mode sends each event alone."""
        if self.f.mode is Mode.BATCH:
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
                    detail = f"No per-call path for {item.event_type!r}."
                    self._park([item], Reason.UNROUTABLE_EVENT, detail)
        return calls

    def _post_all(self, requests: list[Request]) -> Iterator[Answer]:
        """Send concurrently over the shared pool; the answers, in order as they come, are handled
        on this thread only."""
        sent_at = format_timestamp(self.f.now())
        self.tally.requests += len(requests)
        upstream, deadline = self.f.upstream, self.deadline

        def post(request: Request) -> Answer:
            body = request.body(sent_at)
            return upstream.post(request.path, body, request.source_id, budget=deadline.remaining())

        if len(requests) == 1:
            return iter([post(requests[0])])
        return self.f.executor.map(post, requests)


def _park(
    parking: Parking, items: Sequence[Item], reason: Reason, detail: str, status: int | None = None
) -> None:
    """Put ``items`` in a letter: done, unless the letter cannot be sent (then their whole message
    is redelivered)."""
    for item in items:
        item.done = True
    parking.add(items, reason, detail, status)


def _waiting(request: Request, answer: Answer) -> Request:
    for item in request.items:
        item.last_answer = answer
    return request


def _longest(current: float | None, new: float | None) -> float | None:
    return new if current is None else max(current, new or 0.0)


def _exhausted(items: Sequence[Item], attempts: int) -> tuple[int | None, str]:
    """The status and ``detail`` of events parked after ``attempts`` deliveries: the last answer."""
    last = next((item.last_answer for item in items if item.last_answer is not None), None)
    if last is None:
        return None, f"Not delivered after {attempts} deliveries; no request was answered in the last."
    what = f"answered {last.status}" if last.status else f"failed ({last.error})"
    return last.status, f"Not delivered after {attempts} deliveries; the upstream last {what}."
