"""Fakes of the forwarder's boundaries: a scripted upstream, the secret, the dead-letter queue, time."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from edge.core.archive import ArchiveBatch, read_archive_message
from edge.core.errors import TransientError
from edge.core.secret import EdgeSecret
from edge.forward.batching import BatchLimits
from edge.forward.deadletter import DeadLetter
from edge.forward.dedupe import Claims, DeliveryLog
from edge.forward.forwarding import Forwarder, Mode, QueuedMessage
from edge.forward.requeue import Requeue
from edge.forward.retrying import RetryPolicy
from edge.forward.upstream import Answer


def track(n: int, **fields: Any) -> dict[str, Any]:
    """An enriched track event with messageId ``m-<n>``."""
    return {"type": "track", "event": "Clicked", "userId": "u-1", "messageId": f"m-{n}", **fields}


def queued(
    message_id: str,
    events: list[dict[str, Any]],
    source: str | None = None,
    attempts: int = 1,
    kind: str | None = None,
) -> QueuedMessage:
    message: dict[str, Any] = {"v": 1, "source": source, "events": events}
    if kind is not None:
        message["kind"] = kind
    return QueuedMessage(message_id, json.dumps(message), attempts, f"rh-{message_id}")


def answer(status: int | None, body: Any = b"", retry_after: float | None = None) -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, data, retry_after=retry_after, error=None if status else "timeout")


@dataclass
class Call:
    """One request the upstream received."""

    path: str
    body: Any
    source_id: str
    budget: float

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.body["batch"] if self.path == "/v1/batch" else [self.body]

    @property
    def ids(self) -> list[str]:
        return [event["messageId"] for event in self.events]


class ScriptedUpstream:
    """Answers with ``respond(call)``, or with the next answer of a list (200 once it runs out)."""

    def __init__(self, respond: Callable[[Call], Answer] | Iterable[Answer] = ()) -> None:
        self.calls: list[Call] = []
        if callable(respond):
            self._respond = respond
        else:
            script = list(respond)
            self._respond = lambda _: script.pop(0) if script else answer(200)

    def post(self, path: str, body: bytes, source_id: str, *, budget: float) -> Answer:
        call = Call(path, json.loads(body), source_id, budget)
        self.calls.append(call)
        return self._respond(call)

    def close(self) -> None:
        pass


class FakeSecrets:
    """``get()`` answers the current secret; ``get(force=True)`` moves on to the next one."""

    def __init__(self, *secrets: EdgeSecret | Exception) -> None:
        self._secrets = list(secrets)
        self.forced = 0

    def get(self, *, force: bool = False) -> EdgeSecret:
        if force:
            self.forced += 1
            if len(self._secrets) > 1:
                self._secrets.pop(0)
        current = self._secrets[0]
        if isinstance(current, Exception):
            raise current
        return current


@dataclass
class FakeDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)
    available: bool = True
    calls: int = 0

    def park(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> list[int]:
        self.calls += 1
        if not self.available:
            return list(range(len(letters)))
        self.letters.extend(letters)
        return []


@dataclass
class FakeRequeuer:
    """Records the remainders sent back; ``refuse`` names origins whose send fails."""

    sent: list[Requeue] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    acknowledged: list[str] = field(default_factory=list)
    """Receipt handles of messages deleted before the end of their invocation."""
    bodies: list[str] = field(default_factory=list)
    """Bodies sent as they are (archive messages the archive queue refused)."""
    refuse_bodies: bool = False

    def send(self, remainders: Iterable[Requeue], *, time_left: Callable[[], float]) -> set[str]:
        failed: set[str] = set()
        for remainder in remainders:
            if remainder.origin in self.refuse:
                failed.add(remainder.origin)
            else:
                self.sent.append(remainder)
        return failed

    def acknowledge(self, receipt_handles: Sequence[str], *, time_left: Callable[[], float]) -> int:
        self.acknowledged.extend(receipt_handles)
        return 0

    def send_bodies(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]:
        if self.refuse_bodies:
            return list(range(len(bodies)))
        self.bodies.extend(bodies)
        return []

    def ids(self) -> list[str]:
        return [e["messageId"] for r in self.sent for body in r.bodies for e in json.loads(body)["events"]]


@dataclass
class FakeDeliveryLog:
    """A delivery log in memory, with the calls it got; ``down`` makes every call fail.

    ``held_keys`` are claimed by another invocation; claims of this one are kept in ``claimed``.
    """

    delivered_keys: set[str] = field(default_factory=set)
    held_keys: set[str] = field(default_factory=set)
    claimed: dict[str, str] = field(default_factory=dict)
    claims: list[list[str]] = field(default_factory=list)
    reads: list[list[str]] = field(default_factory=list)
    writes: list[list[str]] = field(default_factory=list)
    down: bool = False

    def key(self, source_id: str, message_id: str) -> str:
        return f"{source_id}#{message_id}"

    def claim(self, keys: Collection[str], owner: str) -> Claims:
        self.claims.append(list(keys))
        if self.down:
            raise TransientError("The delivery log could not be written.")
        claims = Claims()
        for key in keys:
            if key in self.delivered_keys:
                claims.delivered.add(key)
            elif key in self.held_keys or self.claimed.get(key, owner) != owner:
                claims.held.add(key)
            else:
                self.claimed[key] = owner
                claims.won.add(key)
        return claims

    def delivered(self, keys: Collection[str]) -> set[str]:
        self.reads.append(list(keys))
        if self.down:
            raise TransientError("The delivery log could not be read.")
        return set(keys) & self.delivered_keys

    def record(self, keys: Collection[str]) -> list[Future[int]]:
        self.writes.append(list(keys))
        future: Future[int] = Future()
        if self.down:
            future.set_exception(TransientError("The delivery log could not be written."))
        else:
            self.delivered_keys |= set(keys)
            future.set_result(0)
        return [future]


@dataclass
class FakeArchiveQueue:
    """The archive queue in memory; ``refuse`` makes every send fail."""

    bodies: list[str] = field(default_factory=list)
    refuse: bool = False
    calls: int = 0

    def send(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]:
        self.calls += 1
        if self.refuse:
            return list(range(len(bodies)))
        self.bodies.extend(bodies)
        return []

    def batches(self) -> list[ArchiveBatch]:
        return [read_archive_message(body) for body in self.bodies]

    def events(self, label: str | None = None) -> list[dict[str, Any]]:
        """Every archived event (of ``label``'s Source), decoded."""
        return [
            json.loads(line)
            for batch in self.batches()
            if label is None or batch.source == label
            for line in batch.events
        ]

    def ids(self) -> list[str]:
        return [event["messageId"] for event in self.events()]


@dataclass
class FakeClock:
    """A monotonic clock that only ``sleep`` moves."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class InlineExecutor(Executor):
    """Runs submitted calls at once, in order: deterministic tests of concurrent sending."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


@dataclass
class ForwardRig:
    """A forwarder on fakes, and the fakes to inspect."""

    upstream: ScriptedUpstream
    secrets: FakeSecrets
    dead_letters: FakeDeadLetters
    clock: FakeClock
    forwarder: Forwarder


def forward_rig(
    upstream: ScriptedUpstream | None = None,
    *secrets: EdgeSecret | Exception,
    limits: BatchLimits | None = None,
    per_call: bool = False,
    max_attempts: int = 4,
    margin: float = 1.0,
    requeuer: FakeRequeuer | None = None,
    max_deliveries: int | None = None,
    delivery_log: DeliveryLog | None = None,
    archive: FakeArchiveQueue | None = None,
) -> ForwardRig:
    upstream = upstream or ScriptedUpstream()
    fake_secrets = FakeSecrets(*(secrets or (EdgeSecret(writeKey="ILoveData123"),)))
    dead_letters = FakeDeadLetters()
    clock = FakeClock()
    forwarder = Forwarder(
        upstream=upstream,
        secrets=fake_secrets,
        dead_letters=dead_letters,
        executor=InlineExecutor(),
        limits=limits or BatchLimits(),
        policy=RetryPolicy(max_attempts=max_attempts, base=0.1, cap=1.0, jitter=lambda: 0.5),
        mode=Mode.PER_CALL if per_call else Mode.BATCH,
        margin=margin,
        requeuer=requeuer,
        max_deliveries=max_deliveries,
        delivery_log=delivery_log,
        archive=archive,
        sleep=clock.sleep,
        clock=clock,
    )
    return ForwardRig(upstream, fake_secrets, dead_letters, clock, forwarder)
