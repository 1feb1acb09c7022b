"""What the tracking plan found over the last hours: its violations by event and kind, and the
events it blocked that wait in the quarantine queue.

Two sources. The metrics (``PlanViolations`` by ``event`` and ``kind``, ``EventsBlocked``) count
every violation in every mode: a deployed stack's from CloudWatch (namespace ``MetaRouterEdge/
<stack>``); the local stack's from the metric records its ingest function writes to its log
(``.local/logs/ingest.log``; the local stack has no CloudWatch). The quarantine queue holds the
blocked events themselves (``TrackingPlanMode`` ``block``), each with its violations' paths: they
are only looked at (hidden for a few seconds, then made visible again), never deleted.

    python -m edge_ops.plan_report --stack metarouter-edge --hours 24
    python -m edge_ops.plan_report --local --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

from edge.core.observability import NAMESPACE, MetricName
from edge.ingest.ingestion import BLOCKED
from edge_local.template import ROOT
from edge_ops.quarantine import event_name
from edge_ops.queues import Sweep, hidden, local_state_file, resolve

__all__ = [
    "MetricCounts",
    "QuarantineSummary",
    "Report",
    "emf_counts",
    "main",
    "metric_counts",
    "metric_queries",
    "render",
    "summarise",
]

#: ``GetMetricData`` takes at most this many queries a call.
_QUERIES_PER_CALL: Final = 500
#: Example messageIds shown per event name.
_EXAMPLES: Final = 3
#: Paths shown in the text report (``--json`` has them all).
_TOP_PATHS: Final = 15
#: Quarantine messages read at most, by default.
DEFAULT_MAX_MESSAGES: Final = 2_000
#: Seconds a quarantine message stays hidden while the report reads the queue.
_PEEK_VISIBILITY: Final = 30
_METRICS: Final = (MetricName.PLAN_VIOLATIONS, MetricName.EVENTS_BLOCKED)


@dataclass
class MetricCounts:
    """The plan's metrics over a window: violations by (event, kind), and events blocked."""

    violations: Counter[tuple[str, str]] = field(default_factory=Counter)
    blocked: int = 0
    source: str = ""
    """Where they were read: ``cloudwatch <namespace>`` or the log file."""


@dataclass
class QuarantineSummary:
    """The blocked events found in the quarantine queue."""

    messages: int = 0
    """Quarantine messages read (blocked or not)."""
    waiting: int = 0
    """Blocked events in the queue, whenever they were received."""
    other: int = 0
    """Other quarantined events (ingest's rejections)."""
    events: Counter[str] = field(default_factory=Counter)
    """Blocked events received in the window, by event name."""
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Their violations by (event name, kind)."""
    paths: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Their violations by (kind, path)."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """A few messageIds per event name."""
    complete: bool = True
    """Whether the whole queue was read (not cut at the most messages to read)."""
    hidden: int = 0
    """About how many messages another reader held hidden, unread."""

    @property
    def in_window(self) -> int:
        return sum(self.events.values())


@dataclass
class Report:
    start: datetime
    end: datetime
    where: str
    """Which stack: ``stack <name>`` or ``the local stack``."""
    metrics: MetricCounts
    quarantine: QuarantineSummary
    redrive: str = "make redrive STACK=… BLOCKED=1"
    """The command that sends the blocked events on."""


# ---------------------------------------------------------------- the metrics: CloudWatch


def metric_queries(
    metrics: Iterable[Mapping[str, Any]], period: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str, str]]]:
    """``GetMetricData`` queries (the Sum over ``period`` seconds) for metrics as ``ListMetrics``
    lists them, and what each query's id stands for: (metric name, event, kind). A
    ``PlanViolations`` metric without both dimensions is not the plan's and is left out, and a
    metric listed twice is asked for once."""
    queries: list[dict[str, Any]] = []
    meaning: dict[str, tuple[str, str, str]] = {}
    listed: set[tuple[Any, ...]] = set()
    for metric in metrics:
        name = metric.get("MetricName")
        dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        identity = (metric.get("Namespace"), name, *sorted(dimensions.items()))
        if identity in listed:  # listed twice (moto lists a metric once per data point): counted once
            continue
        listed.add(identity)
        if name == MetricName.PLAN_VIOLATIONS and not {"event", "kind"} <= dimensions.keys():
            continue
        if name not in _METRICS:
            continue
        query_id = f"m{len(queries)}"
        queries.append(
            {
                "Id": query_id,
                "MetricStat": {"Metric": dict(metric), "Period": period, "Stat": "Sum"},
                "ReturnData": True,
            }
        )
        meaning[query_id] = (name, dimensions.get("event", ""), dimensions.get("kind", ""))
    return queries, meaning


def metric_counts(
    meaning: Mapping[str, tuple[str, str, str]], results: Iterable[Mapping[str, Any]]
) -> MetricCounts:
    """The counts in ``GetMetricData``'s ``MetricDataResults`` (any number of pages)."""
    counts = MetricCounts()
    for result in results:
        name, event, kind = meaning[result["Id"]]
        total = round(sum(result.get("Values", [])))
        if name == MetricName.EVENTS_BLOCKED:
            counts.blocked += total
        elif total:
            counts.violations[(event, kind)] += total
    return counts


def cloudwatch_counts(cloudwatch: Any, namespace: str, start: datetime, end: datetime) -> MetricCounts:
    """The plan's metrics in ``namespace`` over ``[start, end)``, from CloudWatch."""
    listed: list[dict[str, Any]] = []
    paginator = cloudwatch.get_paginator("list_metrics")
    for name in _METRICS:
        for page in paginator.paginate(Namespace=namespace, MetricName=name):
            listed.extend(page.get("Metrics", []))
    # One value per metric: the window as one period (a whole number of minutes).
    period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    queries, meaning = metric_queries(listed, period)
    results: list[dict[str, Any]] = []
    for first in range(0, len(queries), _QUERIES_PER_CALL):
        batch = queries[first : first + _QUERIES_PER_CALL]
        request: dict[str, Any] = {"MetricDataQueries": batch, "StartTime": start, "EndTime": end}
        while True:
            answer = cloudwatch.get_metric_data(**request)
            results.extend(answer.get("MetricDataResults", []))
            if not answer.get("NextToken"):
                break
            request["NextToken"] = answer["NextToken"]
    counts = metric_counts(meaning, results)
    counts.source = f"CloudWatch, namespace {namespace}"
    return counts


# ---------------------------------------------------------------- the metrics: the local log


def emf_counts(lines: Iterable[str | bytes], start: datetime, end: datetime) -> MetricCounts:
    """The plan's metrics in the metric records (CloudWatch's embedded metric format) among
    ``lines`` whose ``_aws.Timestamp`` is in ``[start, end)``; other lines are skipped."""
    counts = MetricCounts()
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    for line in lines:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if '"_aws"' not in text or not any(name in text for name in _METRICS):
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue
        metadata = record.get("_aws") if isinstance(record, dict) else None
        if not isinstance(metadata, dict):
            continue
        stamp = metadata.get("Timestamp")
        if not isinstance(stamp, int | float) or not low <= stamp < high:
            continue
        named = {
            metric.get("Name")
            for directive in metadata.get("CloudWatchMetrics", [])
            for metric in directive.get("Metrics", [])
        }
        if MetricName.PLAN_VIOLATIONS in named:
            total = _total(record.get(MetricName.PLAN_VIOLATIONS))
            if total:
                counts.violations[(str(record.get("event")), str(record.get("kind")))] += total
        if MetricName.EVENTS_BLOCKED in named:
            counts.blocked += _total(record.get(MetricName.EVENTS_BLOCKED))
    return counts


def _total(value: Any) -> int:
    """A metric's value in a record: a number, or a list of them."""
    values = value if isinstance(value, list) else [value]
    return round(sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool)))


def log_counts(path: Path, start: datetime, end: datetime) -> MetricCounts:
    """The plan's metrics the local ingest function wrote to its log over the window."""
    if not path.exists():
        raise SystemExit(f"no ingest log at {path}: has the local stack (make run) taken events yet?")
    with path.open("rb") as log:
        counts = emf_counts(log, start, end)
    counts.source = f"the local ingest log, {path}"
    return counts


def local_log(state_file: Path, env: Mapping[str, str]) -> Path:
    """The local ingest function's log: in ``LOCAL_LOG_DIR`` if set, else where the running stack
    says it writes (its state file's ``logs``), else ``.local/logs``."""
    directory = env.get("LOCAL_LOG_DIR")
    if not directory and state_file.exists():
        try:
            directory = json.loads(state_file.read_text()).get("logs")
        except ValueError:
            directory = None
    return Path(directory or ROOT / ".local" / "logs") / "ingest.log"


# ---------------------------------------------------------------- the quarantine


def summarise(bodies: Iterable[str], start: datetime, end: datetime) -> QuarantineSummary:
    """The blocked events among quarantine message ``bodies``, those received in ``[start, end)``
    by event name, violation kind and path."""
    summary = QuarantineSummary()
    for body in bodies:
        summary.messages += 1
        try:
            message = json.loads(body)
        except ValueError:
            continue
        if not isinstance(message, dict) or not isinstance(message.get("rejected"), list):
            continue
        items = [item for item in message["rejected"] if isinstance(item, dict)]
        if message.get("kind") != BLOCKED:
            summary.other += len(items)
            continue
        summary.waiting += len(items)
        for item in items:
            when = _instant(item.get("receivedAt"))
            if when is None or not start <= when < end:
                continue
            event = item["event"] if isinstance(item.get("event"), dict) else {}
            name = event_name(event)
            summary.events[name] += 1
            examples = summary.examples.setdefault(name, [])
            if len(examples) < _EXAMPLES and isinstance(event.get("messageId"), str):
                examples.append(event["messageId"])
            for violation in item.get("violations", []):
                if isinstance(violation, dict):
                    kind, path = str(violation.get("kind")), str(violation.get("path"))
                    summary.kinds[(name, kind)] += 1
                    summary.paths[(kind, path)] += 1
    return summary


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def peek(sqs: Any, queue_url: str, max_messages: int) -> tuple[list[str], bool]:
    """The bodies of up to ``max_messages`` quarantine messages, each read once and made visible
    again at the end; and whether that was the whole queue."""
    with Sweep(sqs, queue_url, visibility=_PEEK_VISIBILITY, limit=max_messages) as sweep:
        bodies = [message["Body"] for message in sweep]
    return bodies, sweep.exhausted


# ---------------------------------------------------------------- the report


def render(report: Report) -> str:
    """The report as text tables."""
    metrics, quarantine = report.metrics, report.quarantine
    hours = (report.end - report.start).total_seconds() / 3600
    lines = [
        f"Tracking plan, {report.where}: the last {hours:g} h ({_iso(report.start)} to {_iso(report.end)})",
        "",
        f"Violations ({metrics.source}): {sum(metrics.violations.values()):,}; "
        f"events blocked: {metrics.blocked:,}",
    ]
    if metrics.violations:
        width = max(24, *(len(event) for event, _ in metrics.violations))
        lines.append(f"  {'event':<{width}}  {'kind':<20} {'violations':>10}")
        for (event, kind), count in _by_event(metrics.violations):
            lines.append(f"  {event:<{width}}  {kind:<20} {count:>10,}")
        per_kind: Counter[str] = Counter()
        for (_, kind), count in metrics.violations.items():
            per_kind[kind] += count
        shown = ", ".join(f"{kind} {count:,}" for kind, count in per_kind.most_common())
        lines.append(f"  per kind: {shown}")
    else:
        lines.append("  none in the window")
    lines += ["", _waiting(quarantine, report)]
    if quarantine.events:
        width = max(24, *(len(name) for name in quarantine.events))
        lines.append(f"  {'event':<{width}}  {'blocked':>8}  examples (messageId)")
        for name, count in sorted(quarantine.events.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"  {name:<{width}}  {count:>8,}  {', '.join(quarantine.examples.get(name, []))}")
        lines += ["", "Top violated paths (blocked events in the window)"]
        lines.append(f"  {'kind':<20} {'path':<40} {'events':>8}")
        for (kind, path), count in _top(quarantine.paths, _TOP_PATHS):
            lines.append(f"  {kind:<20} {path:<40} {count:>8,}")
        if len(quarantine.paths) > _TOP_PATHS:
            lines.append(f"  … and {len(quarantine.paths) - _TOP_PATHS} more (--json lists them all)")
    elif metrics.violations and not quarantine.waiting:
        lines.append(
            "  (the quarantine holds only blocked events, TrackingPlanMode block; in observe, flag and "
            "omit modes the paths are in the events' context.violations or not kept)"
        )
    return "\n".join(lines)


def _waiting(quarantine: QuarantineSummary, report: Report) -> str:
    read = f"{quarantine.messages:,} quarantine messages read" + (
        "" if quarantine.complete else ", not the whole queue (--max-messages)"
    )
    if quarantine.hidden:
        read += f", about {quarantine.hidden:,} hidden by another reader and not read"
    line = (
        f"Blocked events waiting in the quarantine: {quarantine.waiting:,}, {quarantine.in_window:,} of them "
        f"received in the window ({read}; {quarantine.other:,} other quarantined events)"
    )
    return line + (f"\nOnce fixed, send them on: {report.redrive} [EVENT=…]" if quarantine.waiting else "")


def _by_event(counts: Counter[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
    """Events with the most violations first, each event's kinds by count."""
    per_event: Counter[str] = Counter()
    for (event, _), count in counts.items():
        per_event[event] += count
    return sorted(counts.items(), key=lambda item: (-per_event[item[0][0]], item[0][0], -item[1], item[0][1]))


def _top(counts: Counter[tuple[str, str]], n: int) -> list[tuple[tuple[str, str], int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def as_json(report: Report) -> dict[str, Any]:
    metrics, quarantine = report.metrics, report.quarantine
    return {
        "where": report.where,
        "from": _iso(report.start),
        "to": _iso(report.end),
        "metrics": {
            "source": metrics.source,
            "violations": [
                {"event": event, "kind": kind, "count": count}
                for (event, kind), count in _by_event(metrics.violations)
            ],
            "blocked": metrics.blocked,
        },
        "quarantine": {
            "messages_read": quarantine.messages,
            "complete": quarantine.complete,
            "hidden": quarantine.hidden,
            "blocked_waiting": quarantine.waiting,
            "blocked_in_window": quarantine.in_window,
            "other_quarantined": quarantine.other,
            "events": [
                {
                    "event": name,
                    "count": count,
                    "kinds": {kind: n for (event, kind), n in quarantine.kinds.items() if event == name},
                    "examples": quarantine.examples.get(name, []),
                }
                for name, count in sorted(quarantine.events.items(), key=lambda item: (-item[1], item[0]))
            ],
            "paths": [
                {"kind": kind, "path": path, "count": count}
                for (kind, path), count in _top(quarantine.paths, len(quarantine.paths))
            ],
        },
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the command line


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m edge_ops.plan_report", description=__doc__.splitlines()[0]
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name (its CloudWatch metrics and quarantine)")
    where.add_argument("--local", action="store_true", help="the running local stack (make run)")
    parser.add_argument("--hours", type=float, default=24.0, help="the window: the last HOURS (default 24)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--max-messages",
        type=int,
        default=DEFAULT_MAX_MESSAGES,
        help=f"quarantine messages to read at most (default {DEFAULT_MAX_MESSAGES:,})",
    )
    parser.add_argument("--log", type=Path, help="--local: the ingest log to read (default: the stack's)")
    parser.set_defaults(queues=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, now: datetime | None = None, out: IO[str] = sys.stdout) -> int:
    args = _arguments(argv)
    if not args.hours > 0:
        raise SystemExit("plan_report: HOURS must be above 0")
    end = now or datetime.now(UTC)
    start = end - timedelta(hours=args.hours)
    target = resolve(args)
    if args.local:
        metrics = log_counts(args.log or local_log(local_state_file(), os.environ), start, end)
        where, redrive = "the local stack", "make redrive-local BLOCKED=1"
    else:
        import boto3

        namespace = f"{NAMESPACE}/{args.stack}"
        metrics = cloudwatch_counts(boto3.client("cloudwatch"), namespace, start, end)
        where, redrive = f"stack {args.stack}", f"make redrive STACK={args.stack} BLOCKED=1"
    others = hidden(target.sqs, target.quarantine_queue_url)
    bodies, complete = peek(target.sqs, target.quarantine_queue_url, args.max_messages)
    quarantine = summarise(bodies, start, end)
    quarantine.complete, quarantine.hidden = complete, others
    report = Report(start, end, where, metrics, quarantine, redrive)
    out.write((json.dumps(as_json(report), indent=2) if args.json else render(report)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
