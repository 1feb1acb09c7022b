"""Send the archived events of a time window to MetaRouter again, through the forwarder.

Reads the archive bucket hour by hour over ``[FROM, TO)`` (the events' ``receivedAt``, UTC),
optionally only one Source (its archive label), event type or track event name, and puts the
events — the very bytes MetaRouter was sent, original ``messageId`` included — on the events queue
as replay messages (``kind: replay``): the forwarder batches, retries and dead-letters them like
any others, does not archive them again, and sends them whatever its delivery log says unless
``--only-undelivered`` asks it to skip the ones the log holds as delivered.

It is paced (``--rate`` events a second, so live traffic keeps its share of the forwarder) and
resumable: what it has sent is written to a state file per stack, window and filters after every
``SendMessageBatch``, and a run started again after an interruption goes on from there, sending
again at most the one call that was in flight. ``--dry-run`` sends nothing and prints what would
be sent, per day and type.

    python -m edge_ops.replay --stack metarouter-edge --from 2026-12-01 --to 2026-12-02
    python -m edge_ops.replay --local --from 2026-12-07T09:00Z --to 2026-12-07T10:30Z --type track --dry-run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import boto3

from edge.core.archive import KEY_PREFIX, Partition, hour_starts, parse_key, read_lines
from edge.core.queueing import (
    MAX_MESSAGE_BYTES,
    PARKING_ROOM,
    REPLAY,
    REPLAY_UNDELIVERED,
    Entry,
    Queue,
    chunks,
    events_message,
    message_prefix,
)
from edge_local.clients import STATE_FILE, client
from edge_local.template import ROOT

__all__ = ["Filters", "Replayer", "main", "parse_time", "plan"]

#: Events a second by default: a fifth of the forwarder's ceiling at the template's defaults
#: (about 4,700 events/s, docs/scaling.md), so live events keep most of it.
DEFAULT_RATE: Final = 1_000
STATE_DIR: Final = ROOT / ".local" / "replay"
_MESSAGE_BYTES: Final = MAX_MESSAGE_BYTES - PARKING_ROOM


def parse_time(text: str, name: str = "time") -> datetime:
    """An ISO-8601 date or time as a UTC instant: ``2026-12-07``, ``2026-12-07T09:30``,
    ``2026-12-07T09:30:00Z``, ``2026-12-07T10:30:00+01:00``; a time without an offset is UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name} is not an ISO-8601 date or time: {text!r} (e.g. 2026-12-07 or 2026-12-07T09:30:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class Filters:
    """Which archived events a replay sends: ``receivedAt`` in ``[start, end)``, and optionally
    one Source (its label), event type and track event name."""

    start: datetime
    end: datetime
    source: str | None = None
    type: str | None = None
    event: str | None = None

    def selects(self, event: dict[str, Any]) -> bool:
        if self.type is not None and event.get("type") != self.type:
            return False
        if self.event is not None and event.get("event") != self.event:
            return False
        received = event.get("receivedAt")
        if not isinstance(received, str):
            return False
        try:
            when = parse_time(received)
        except ValueError:
            return False
        return self.start <= when < self.end

    def describe(self) -> str:
        parts = [f"{_iso(self.start)} to {_iso(self.end)}"]
        named = (("source", self.source), ("type", self.type), ("event", self.event))
        parts += [f"{name}={value}" for name, value in named if value is not None]
        return ", ".join(parts)


@dataclass(frozen=True)
class Target:
    """Where the archive and the events queue are, and what the stack's forwarder does."""

    name: str
    s3: Any
    bucket: str
    sqs: Any
    events_queue_url: str
    archive_queue_url: str | None
    delivery_log: bool


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    partition: Partition


def plan(s3: Any, bucket: str, filters: Filters) -> list[ArchivedObject]:
    """The archive's objects that may hold events of the window, hour by hour, oldest first: one
    ``ListObjectsV2`` per Source and day (a day's objects are a few hundred at most), and one of
    the Sources."""
    sources = [filters.source] if filters.source else _sources(s3, bucket)
    hours = {(f"{hour:%Y-%m-%d}", f"{hour:%H}") for hour in hour_starts(filters.start, filters.end)}
    found: list[ArchivedObject] = []
    for day in sorted({dt for dt, _ in hours}):
        for source in sources:
            for key in _keys(s3, bucket, f"{KEY_PREFIX}source={source}/dt={day}/"):
                partition = parse_key(key)
                if partition is not None and (partition.dt, partition.hour) in hours:
                    found.append(ArchivedObject(key, partition))
    return sorted(
        found, key=lambda item: (item.partition.dt, item.partition.hour, item.partition.source, item.key)
    )


def _sources(s3: Any, bucket: str) -> list[str]:
    sources = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=KEY_PREFIX, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(KEY_PREFIX) :].rstrip("/")
            if name.startswith("source="):
                sources.append(name.removeprefix("source="))
    return sorted(sources)


def _keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from sorted(item["Key"] for item in page.get("Contents", []))


@dataclass
class Sent:
    """How far an object was sent: the first line not sent yet, the events sent, all of it or not."""

    line: int = 0
    events: int = 0
    complete: bool = False


@dataclass
class Progress:
    """What a run has done; the state file keeps ``done`` between runs."""

    done: dict[str, Sent] = field(default_factory=dict)
    """Per object: how far it was sent."""
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Events sent (or, in a dry run, to send) per (day, type)."""
    sources: Counter[str] = field(default_factory=Counter)
    objects: int = 0
    read: int = 0
    """Events read from the objects this run."""
    skipped: int = 0
    """Events already sent by an earlier run of the same replay."""


class StateFile:
    """The state of one replay (a stack, a window, its filters), rewritten whole after each call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, directory: Path, target: str, filters: Filters, kind: str) -> StateFile:
        identity = json.dumps([target, _iso(filters.start), _iso(filters.end), filters.source, filters.type,
                               filters.event, kind])  # fmt: skip
        return cls(directory / f"{hashlib.sha256(identity.encode()).hexdigest()[:20]}.json")

    def load(self) -> dict[str, Sent]:
        try:
            done = json.loads(self.path.read_text())["done"]
            return {key: Sent(**value) for key, value in done.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def save(self, filters: Filters, done: dict[str, Sent]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        window = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in asdict(filters).items()}
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({"window": window, "done": {k: asdict(v) for k, v in done.items()}}))
        partial.replace(self.path)


class Pacer:
    """At most ``rate`` events a second, on average since the start (bursts of one call)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._events = 0

    def wait_for(self, events: int) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._start + self._events / self.rate
        if due > now:
            self._sleep(due - now)
        self._events += events


class Replayer:
    """Reads the window's objects and puts their selected events on the events queue, paced."""

    def __init__(
        self,
        target: Target,
        filters: Filters,
        *,
        kind: str,
        pacer: Pacer,
        state: StateFile | None,
        progress: Callable[[Progress, int], None] = lambda _progress, _total: None,
    ) -> None:
        self.target = target
        self.filters = filters
        self.kind = kind
        self.pacer = pacer
        self.state = state
        self.report = progress
        self._queue = Queue(target.sqs, target.events_queue_url, attempts=5, backoff=0.2)

    def run(self, objects: Sequence[ArchivedObject], *, dry_run: bool) -> Progress:
        progress = Progress(done=self.state.load() if self.state and not dry_run else {})
        for position, item in enumerate(objects):
            self.report(progress, len(objects) - position)
            earlier = progress.done.setdefault(item.key, Sent())
            if earlier.complete:
                progress.skipped += earlier.events
                progress.objects += 1
                continue
            already = earlier.line
            lines = read_lines(
                self.target.s3.get_object(Bucket=self.target.bucket, Key=item.key)["Body"].read()
            )
            progress.read += len(lines)
            selected = list(_selected(lines, self.filters))
            chosen = [entry for entry in selected if entry[0] >= already]
            progress.skipped += len(selected) - len(chosen)
            if dry_run:
                progress.done.pop(item.key)
            if dry_run:
                _count(progress, item, [tally for _, _, tally in chosen])
            else:
                self._send(item, chosen, len(lines), progress)
            progress.objects += 1
        self.report(progress, 0)
        return progress

    def _send(
        self,
        item: ArchivedObject,
        chosen: list[_Chosen],
        total: int,
        progress: Progress,
    ) -> None:
        """Send ``chosen`` in calls of up to ten messages (256 KiB), recording after each call."""
        label = item.partition.source
        for run in _calls(chosen, label, self.kind):
            bodies = [body for body, _ in run]
            events = [e for _, group in run for e in group]
            self.pacer.wait_for(len(events))
            not_sent = self._queue.send([Entry(body.decode()) for body in bodies])
            if not_sent:
                raise SystemExit(
                    f"the events queue refused {len(not_sent)} messages; run the same command again "
                    "to go on from here"
                )
            _count(progress, item, [tally for _, _, tally in events])
            sent = progress.done[item.key]
            sent.line, sent.events = events[-1][0] + 1, sent.events + len(events)
            sent.complete = sent.line >= total
            if self.state is not None:
                self.state.save(self.filters, progress.done)
            self.report(progress, -1)
        progress.done[item.key].complete = True
        if self.state is not None:
            self.state.save(self.filters, progress.done)


def _selected(lines: list[bytes], filters: Filters) -> Iterator[_Chosen]:
    for index, line in enumerate(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and filters.selects(event):
            yield index, line, f"{str(event.get('receivedAt', ''))[:10]} {event.get('type')}"


type _Chosen = tuple[int, bytes, str]
"""An event to send: its line in its object, its bytes, and its day and type (``2026-12-07 track``)."""


def _calls(chosen: list[_Chosen], label: str, kind: str) -> Iterator[list[tuple[bytes, list[_Chosen]]]]:
    """The chosen events as replay messages (packed as ingest packs events), grouped into
    ``SendMessageBatch`` calls of ten messages and 256 KiB at most, each with the events it carries."""
    prefix = message_prefix(label, kind=kind)
    base = len(prefix) + len(b'],"sizes":[') + len(b"]}")
    runs = chunks(
        chosen, lambda c: len(c[1]) + len(b"%d" % len(c[1])) + 1, max_bytes=_MESSAGE_BYTES, base=base
    )
    messages = [(events_message(label, [line for _, line, _ in run], prefix=prefix), run) for run in runs]
    yield from chunks(messages, lambda message: len(message[0]), max_bytes=MAX_MESSAGE_BYTES, max_count=10)


def _count(progress: Progress, item: ArchivedObject, tallies: list[str]) -> None:
    for tally in tallies:
        day, _, kind = tally.partition(" ")
        progress.sent[(day, kind)] += 1
    progress.sources[item.partition.source] += len(tallies)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- where, and the command line


def _stack(name: str) -> Target:
    stack = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    if "ArchiveBucketName" not in outputs:
        raise SystemExit(f"the stack {name} keeps no archive (ArchiveRetentionDays=0)")
    return Target(
        name,
        boto3.client("s3"),
        outputs["ArchiveBucketName"],
        boto3.client("sqs"),
        outputs["EventsQueueUrl"],
        outputs.get("ArchiveQueueUrl"),
        parameters.get("DedupeWindowHours", "0") not in ("", "0"),
    )


def _local() -> Target:
    path = Path(os.environ.get("LOCAL_STATE_FILE") or STATE_FILE)  # where `make run` says it listens
    if not path.exists():
        raise SystemExit(f"no local stack: start one with `make run` ({path} is missing)")
    state = json.loads(path.read_text())
    if not state.get("archive_bucket"):
        raise SystemExit("the local stack keeps no archive (it was started with ARCHIVE_RETENTION_DAYS=0)")
    return Target(
        "local",
        client("s3", state["aws"]),
        state["archive_bucket"],
        client("sqs", state["aws"]),
        state["events_queue_url"],
        state.get("archive_queue_url") or None,
        state.get("dedupe_window_hours", "0") not in ("", "0"),
    )


def _pending(target: Target, filters: Filters) -> int:
    """Archive-queue messages not written to the bucket yet, when the window reaches the last
    minutes (the archive function writes every few minutes)."""
    if target.archive_queue_url is None or filters.end < datetime.now(UTC) - timedelta(minutes=10):
        return 0
    attributes = target.sqs.get_queue_attributes(
        QueueUrl=target.archive_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


class Bar:
    """A progress bar on stderr (a line every few seconds when it is not a terminal)."""

    def __init__(self, out: IO[str], total: int, dry_run: bool) -> None:
        self._out = out
        self._total = total
        self._verb = "counted" if dry_run else "sent"
        self._tty = out.isatty()
        self._started = time.monotonic()
        self._shown = 0.0

    def __call__(self, progress: Progress, _left: int) -> None:
        now = time.monotonic()
        final = progress.objects >= self._total
        if not final and now - self._shown < (0.2 if self._tty else 5.0):
            return
        self._shown = now
        events = sum(progress.sent.values())
        rate = events / max(now - self._started, 1e-6)
        share = progress.objects / self._total if self._total else 1.0
        left = (
            (self._total - progress.objects) * (now - self._started) / progress.objects
            if progress.objects
            else 0
        )
        bar = "#" * int(share * 30)
        line = (
            f"[{bar:<30}] {share:4.0%} {progress.objects:,}/{self._total:,} objects · {events:,} events "
            f"{self._verb} · {rate:,.0f}/s" + (f" · about {left:,.0f} s left" if not final else "")
        )
        self._out.write(("\r" + line + ("\n" if final else "")) if self._tty else line + "\n")
        self._out.flush()


def _summary(progress: Progress, filters: Filters, dry_run: bool, seconds: float) -> str:
    verb = "would send" if dry_run else "sent"
    total = sum(progress.sent.values())
    lines = [f"{verb} {total:,} events of {filters.describe()} ({progress.objects:,} objects read"
             f"{f', {progress.skipped:,} events sent by an earlier run' if progress.skipped else ''}"
             f", {seconds:.1f} s)"]  # fmt: skip
    if total:
        lines.append(f"{'day':<12} {'type':<10} {'events':>10}")
        for (day, kind), count in sorted(progress.sent.items()):
            lines.append(f"{day:<12} {kind:<10} {count:>10,}")
        lines.append("per source: " + ", ".join(f"{s} {n:,}" for s, n in sorted(progress.sources.items())))
    return "\n".join(lines)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edge_ops.replay", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name (reads its CloudFormation outputs)")
    where.add_argument("--local", action="store_true", help="the running local stack (make run)")
    parser.add_argument("--from", dest="start", required=True, help="ISO-8601 start of the window (included)")
    parser.add_argument("--to", dest="end", required=True, help="ISO-8601 end of the window (excluded)")
    parser.add_argument("--source", help="only this Source (its archive label, as in source=<label>)")
    parser.add_argument("--type", help="only events of this type (track, page, identify, ...)")
    parser.add_argument("--event", help="only track events of this name")
    parser.add_argument("--dry-run", action="store_true", help="send nothing; print what would be sent")
    parser.add_argument(
        "--only-undelivered", action="store_true", help="skip what the delivery log holds as delivered"
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help=f"events a second (default {DEFAULT_RATE:,})"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("REPLAY_STATE_DIR") or STATE_DIR)
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    args = _arguments(argv)
    try:
        start, end = parse_time(args.start, "FROM"), parse_time(args.end, "TO")
    except ValueError as exc:
        err.write(f"replay: {exc}\n")
        return 2
    if start >= end:
        err.write(f"replay: FROM ({_iso(start)}) must be before TO ({_iso(end)})\n")
        return 2
    if args.rate <= 0:
        err.write("replay: RATE must be above 0 events a second\n")
        return 2
    filters = Filters(start, end, args.source, args.type, args.event)
    target = _local() if args.local else _stack(args.stack)
    if args.only_undelivered and not target.delivery_log:
        err.write(
            "replay: ONLY_UNDELIVERED=1 needs the delivery log (DedupeWindowHours above 0, "
            "DEDUPE_WINDOW_HOURS locally): without it every event counts as undelivered\n"
        )
        return 2
    kind = REPLAY_UNDELIVERED if args.only_undelivered else REPLAY
    started = time.monotonic()
    err.write(f"replay: listing the archive's objects for {filters.describe()}\n")
    objects = plan(target.s3, target.bucket, filters)
    pending = _pending(target, filters)
    if pending:
        err.write(
            f"replay: {pending:,} archive-queue messages are not in the bucket yet: "
            "the window's last minutes may be missing\n"
        )
    if not objects:
        out.write(f"nothing archived in {filters.describe()}: nothing to send\n")
        if filters.source and filters.source not in (known := _sources(target.s3, target.bucket)):
            # A Source ID given in clear, or a label mistyped: name the archive's Sources.
            out.write(
                f"no Source is archived as {filters.source!r}; SOURCE takes an archive label: "
                f"{', '.join(known) or 'none archived yet'}\n"
            )
        return 0
    state = (
        None
        if args.dry_run
        else StateFile.of(args.state_dir, f"{target.name}:{target.bucket}", filters, kind)
    )
    replayer = Replayer(
        target,
        filters,
        kind=kind,
        pacer=Pacer(args.rate),
        state=state,
        progress=Bar(err, len(objects), args.dry_run),
    )
    progress = replayer.run(objects, dry_run=args.dry_run)
    out.write(_summary(progress, filters, args.dry_run, time.monotonic() - started) + "\n")
    if not progress.sent and not progress.skipped:
        out.write("nothing in the window matched: nothing sent\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
