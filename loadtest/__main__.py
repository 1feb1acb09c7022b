"""``python -m loadtest [--faults]``: load (and faults) through the local stack; exit 1 if anything was lost.

Starts ``python -m edge_local`` on free loopback ports, runs ``--clients`` concurrent clients
sending ``--events`` events, waits until the forwarder has drained the queue, and compares what
the clients got acknowledged (200) with the unique ``messageId``s the upstream stand-in
received, and those with the archive: every delivered event must be in it (its duplicates by
cause). With ``--faults`` it also applies loadtest/faults.py's schedule meanwhile. With
``DEDUPE_WINDOW_HOURS`` > 0 in the environment the stack runs with the forwarder's delivery log
(effectively-once delivery). The stack's output and logs, and report.json, stay in ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from edge_local.template import ROOT
from loadtest.duplicates import (
    archive_by_cause,
    archive_figures,
    by_cause,
    confirmations_read,
    forwarder_figures,
)
from loadtest.faults import FAULTS_END, READ_TIMEOUT, FaultRunner
from loadtest.report import Report, percentiles
from loadtest.stack import Stack, received_when_up, start
from loadtest.traffic import Attempt, Client, ClientResult, message_id, plan

POISON_CLIENTS = (1, 11, 21, 31, 41)
POISON_SEQ = 5


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    dedupe = int(os.environ.get("DEDUPE_WINDOW_HOURS") or 0)
    mode = ("faults" if args.faults else "normal") + ("-dedupe" if dedupe else "")
    workdir = Path(args.workdir) / mode
    shutil.rmtree(workdir, ignore_errors=True)
    env = {
        "LOCAL_LOG_DIR": str(workdir / "logs"),
        "FORWARD_BATCHING_WINDOW": "1",
        # A failed batch comes back after this; the template's 360 s would only slow the drain.
        "VISIBILITY_TIMEOUT": "20",
        # The archive: a short window, and a batch S3 refused comes back after 10 s (660 s in AWS).
        "ARCHIVE_BATCHING_WINDOW": "2",
        "ARCHIVE_VISIBILITY_TIMEOUT": "10",
    }
    if args.faults:
        env |= {
            "LOCAL_FAULTS": "1",
            "UPSTREAM_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
            # Fault stretches fail deliveries on purpose: only poison may end in the dead-letter queue.
            "MAX_RECEIVE_COUNT": "50",
            # A line per confirmation read: tells a request killed in flight from one confirmed.
            "FORWARD_LOG_LEVEL": "DEBUG",
        }
    print(f"starting the local stack ({mode}); output and logs in {workdir}", flush=True)
    stack = start(env, workdir)
    try:
        report = _run(stack, args, mode)
    finally:
        code = stack.stop()
    if code != 0:
        report.check("the local stack stopped cleanly", False, f"exit status {code}")
    report.forwarder = forwarder_figures(workdir / "logs" / "forward.log")
    (workdir / "report.json").write_text(report.to_json())
    print(report.text(), flush=True)
    return 0 if report.ok else 1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in all (default 100,000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--faults", action="store_true", help="apply the fault schedule during the load")
    parser.add_argument("--send-seconds", type=float, default=600, help="stop sending after this long")
    parser.add_argument("--drain-seconds", type=float, default=300, help="wait this long for delivery")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / ".local" / "loadtest"))
    args = parser.parse_args(argv)
    if args.faults and args.clients <= max(POISON_CLIENTS):
        parser.error(f"--faults needs more than {max(POISON_CLIENTS)} clients")
    return args


def _run(stack: Stack, args: argparse.Namespace, mode: str) -> Report:
    run = f"lt{int(time.time())}"
    report = Report(mode, args.clients, args.events)
    share, extra = divmod(args.events, args.clients)
    poison = {message_id(run, c, POISON_SEQ) for c in POISON_CLIENTS} if args.faults else set()
    if poison:
        stack.upstream_faults({"poison": sorted(poison)})

    started = time.monotonic()
    deadline = started + args.send_seconds
    clients = [
        Client(i, stack.api, plan(i, share + (i < extra), run, args.seed), deadline=deadline)
        for i in range(args.clients)
    ]
    faults = FaultRunner(stack, started) if args.faults else None
    for client in clients:
        client.start()
    if faults:
        faults.start()
    for client in clients:
        client.join(timeout=max(0.0, deadline - time.monotonic()) + 60)
    sent = time.monotonic()
    if faults:
        faults.join(timeout=max(0.0, started + FAULTS_END - time.monotonic()) + 60)
    print(f"sent in {sent - started:.1f} s; waiting for delivery", flush=True)

    results = [client.result for client in clients]
    acknowledged = {m for r in results for m in r.acknowledged}
    expected = acknowledged - poison
    received = _drain(stack, expected, time.monotonic() + args.drain_seconds)
    report.drain_seconds = round(time.monotonic() - max(sent, started + (FAULTS_END if faults else 0)), 1)
    _figures(report, results, acknowledged, received, sent - started)
    put_down = _duplicates(report, stack, results, received, faults)
    if stack.archive_bucket:
        _archive(report, stack, received, put_down, poison, faults is not None, time.monotonic() + 120)
    dead = _dead_letters(stack)
    report.dead_letters = dict(Counter(reason for reason, _ in dead.values()))
    report.quarantined = _queue_depth(stack, stack.quarantine_queue)
    report.poison = len(poison)
    _checks(report, results, expected=expected, received=received, dead=dead, poison=poison)
    if faults:
        _fault_checks(report, results, faults)
    return report


def _drain(stack: Stack, expected: set[str], deadline: float) -> dict[str, Any]:
    """The stand-in's summary with ids, once everything expected arrived and the queue is empty."""
    while True:
        summary = received_when_up(stack)
        if (
            summary["unique"] >= len(expected)
            and _queue_depth(stack, stack.events_queue, in_flight=True) == 0
        ):
            full = received_when_up(stack, ids=True)
            if expected <= set(full["messageIds"]) or time.monotonic() > deadline:
                return full
        elif time.monotonic() > deadline:
            return received_when_up(stack, ids=True)
        time.sleep(1)


def _queue_depth(stack: Stack, queue_url: str, *, in_flight: bool = False) -> int:
    names = ["ApproximateNumberOfMessages"] + (["ApproximateNumberOfMessagesNotVisible"] if in_flight else [])
    attributes = stack.sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def _dead_letters(stack: Stack) -> dict[str, tuple[str, str | None]]:
    """messageId -> (reason, upstreamStatus) of every event in the dead-letter queue."""
    sqs = stack.sqs()
    found: dict[str, tuple[str, str | None]] = {}
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.dead_letter_queue,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
            reason = attributes.get("reason") or "maxReceiveCount"
            try:
                events = json.loads(message["Body"]).get("events", [])
            except (ValueError, AttributeError):
                events = []
            for event in events:
                found[str(event.get("messageId"))] = (reason, attributes.get("upstreamStatus"))


def _figures(
    report: Report,
    results: list[ClientResult],
    acknowledged: set[str],
    received: dict[str, Any],
    seconds: float,
) -> None:
    attempts = [a for r in results for a in r.attempts]
    statuses = Counter(str(a.status or "no answer") for a in attempts)
    delivered = set(received["messageIds"])
    report.requests = sum(r.requests for r in results)
    report.requests_by_kind = dict(sum((r.kinds for r in results), Counter[str]()))
    report.attempts = len(attempts)
    report.send_seconds = round(seconds, 1)
    report.acknowledged = len(acknowledged)
    report.delivered = len(acknowledged & delivered)
    report.delivered_unacknowledged = len(delivered - acknowledged)
    report.upstream_events = received["events"]
    report.duplicates = received["duplicates"]
    report.duplicate_ids = len(received["duplicateIds"])
    report.statuses = dict(statuses)
    report.server_errors = sum(1 for a in attempts if a.status >= 500)
    report.unavailable_without_retry_after = sum(1 for a in attempts if a.status == 503 and not a.retry_after)
    report.ack_latency_ms = percentiles([latency for r in results for latency in r.ack_latencies])
    report.throughput_events_per_s = round(len(acknowledged) / seconds, 1) if seconds else 0.0
    report.requests_per_s = round(report.requests / seconds, 1) if seconds else 0.0
    report.upstream_statuses = received["statuses"]
    errors = sorted((at, why) for r in results for at, why in r.errors)
    if errors:
        started = min(a.started for a in attempts)
        first = "; ".join(f"t+{at - started:.1f}s {why}" for at, why in errors[:3])
        report.notes.append(f"{len(errors)} attempts got no answer (retried): {first}")


def _duplicates(
    report: Report,
    stack: Stack,
    results: list[ClientResult],
    received: dict[str, Any],
    faults: FaultRunner | None,
) -> dict[str, list[str]]:
    """Extra deliveries by cause (loadtest/duplicates.py); the ``messageId``s put down to each."""
    killed: set[str] = set()
    for applied in faults.applied if faults else []:
        if applied.answer and "messageIds" in applied.answer:
            ids = applied.answer.pop("messageIds")
            killed.update(ids)
            applied.answer["events"] = len(ids)
    explained = {
        "client_retry": {m for r in results for m in r.retried},
        "forwarder_killed": killed,
        "sqs_redelivered": set(stack.overlaps()) if faults else set(),
    }
    put_down: dict[str, list[str]] = {}
    log = stack.output.parent / "logs" / "forward.log"
    read = confirmations_read(log) if faults else None
    recorded = (
        confirmations_read(log, "deliveries recorded")
        if faults and os.environ.get("DEDUPE_WINDOW_HOURS")
        else None
    )
    report.duplicates_by_cause = by_cause(
        received["duplicateIds"],
        received.get("lateIds", {}),
        explained,
        put_down,
        read=read,
        recorded=recorded,
    )
    # Which events each cause took, and what could explain which, for a closer look (e.g. grep the
    # stack's output for one).
    detail = {"byCause": put_down, "explained": {k: sorted(v) for k, v in explained.items()}}
    (stack.output.parent / "duplicates.json").write_text(json.dumps(detail, indent=1, sort_keys=True))
    return put_down


def _archive(  # noqa: PLR0917 - one caller, every argument a different thing
    report: Report,
    stack: Stack,
    received: dict[str, Any],
    put_down: dict[str, list[str]],
    poison: set[str],
    traced: bool,
    deadline: float,
) -> None:
    """Once the archive queue is empty: every delivered event in the archive, its duplicates by cause."""
    while _queue_depth(stack, stack.archive_queue, in_flight=True) and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)  # the archive function's last batch, written after it left the queue
    objects, archived = stack.archived()
    delivered = set(received["messageIds"]) - poison
    missing = delivered - set(archived)
    log = stack.output.parent / "logs" / "forward.log"
    confirmed = confirmations_read(log) if traced else None
    if confirmed is None:  # untraced: the times the upstream got each
        confirmed = Counter(dict.fromkeys(received["messageIds"], 1))
        confirmed.update({m: n - 1 for m, n in received["duplicateIds"].items()})
    duplicates = archive_by_cause(archived, confirmed, put_down)
    report.archive = {
        "objects": objects,
        "events": sum(archived.values()),
        "unique": len(archived),
        "missing": len(missing),
        "strays": len(set(archived) - set(received["messageIds"])),
        "duplicates": sum(duplicates.values()),
        "duplicates_by_cause": duplicates,
        "queue_left": _queue_depth(stack, stack.archive_queue, in_flight=True),
        **archive_figures(stack.output.parent / "logs" / "archive.log"),
    }
    report.check(
        "every delivered event in the archive",
        not missing,
        f"{len(missing):,} missing, e.g. {sorted(missing)[:3]}"
        if missing
        else f"{len(delivered):,} archived",
    )
    strays = report.archive["strays"]
    report.check("nothing archived that MetaRouter did not receive", strays == 0, f"{strays:,} events")
    if traced:
        refused = report.archive["archive_errors"]
        report.check(
            "S3 unreachable from the archive function: its objects refused, retried, none lost",
            refused > 0 and not missing,
            f"{refused:,} events refused by S3 and written later",
        )


def _checks(
    report: Report,
    results: list[ClientResult],
    *,
    expected: set[str],
    received: dict[str, Any],
    dead: dict[str, tuple[str, str | None]],
    poison: set[str],
) -> None:
    given_up = sum(len(r.given_up) for r in results)
    unexpected = [u for r in results for u in r.unexpected]
    missing = expected - set(received["messageIds"])
    report.missing = len(missing)
    report.check(
        "every event acknowledged (200) in the end",
        given_up == 0 and report.acknowledged == report.events_planned,
        f"{report.acknowledged:,} of {report.events_planned:,}; {given_up:,} given up",
    )
    report.check(
        "every acknowledged event delivered" + (" (poison excepted)" if poison else ""),
        not missing,
        f"{len(missing):,} missing, e.g. {sorted(missing)[:3]}"
        if missing
        else f"{len(expected):,} delivered",
    )
    report.check("no unexpected answers", not unexpected, "; ".join(unexpected[:3]))
    stray = {m: why for m, why in dead.items() if m not in poison}
    report.check(
        "nothing but poison in the dead-letter queue",
        not stray,
        f"{len(stray)} events, e.g. {list(stray.items())[:3]}" if stray else "",
    )
    report.check("nothing quarantined", report.quarantined == 0, f"{report.quarantined} messages")
    if not poison:
        report.check("zero 5xx", report.server_errors == 0, f"{report.server_errors} answers")
        unanswered = report.statuses.get("no answer", 0)
        report.check(
            "every attempt answered (no connection errors)", unanswered == 0, f"{unanswered} attempts"
        )
        return
    parked = {m for m in poison if dead.get(m) == ("upstream_rejected", "400")}
    report.check(
        "poison events dead-lettered with their reason (upstream_rejected, 400), never delivered",
        parked == poison and not poison & set(received["messageIds"]),
        f"{len(parked)} of {len(poison)} parked",
    )


def _fault_checks(report: Report, results: list[ClientResult], faults: FaultRunner) -> None:
    report.faults = [vars(applied) for applied in faults.applied]
    errors = [f"{a.name}: {a.error}" for a in faults.applied if a.error]
    report.check("every fault applied", not errors and len(faults.applied) > 0, "; ".join(errors))
    attempts = [a for r in results for a in r.attempts]
    other_5xx = sum(1 for a in attempts if a.status >= 500 and a.status != 503)
    report.check(
        "5xx only as 503 with Retry-After",
        other_5xx == 0 and report.unavailable_without_retry_after == 0,
        f"{other_5xx} other 5xx, {report.unavailable_without_retry_after} 503 without Retry-After",
    )

    def inside(attempt: Attempt, window: tuple[float, float]) -> bool:
        return window[0] + 0.2 <= attempt.started and attempt.ended <= window[1] - 0.2

    windows = faults.sqs_pauses
    during = [a for a in attempts if any(inside(a, w) for w in windows)]
    unavailable = sum(1 for a in during if a.status == 503)
    acked = sum(1 for a in during if a.status == 200)
    report.check(
        "SQS unreachable from ingest: 503 + Retry-After, never 200",
        bool(windows) and unavailable > 0 and acked == 0,
        f"{unavailable} answered 503 and {acked} answered 200 inside the outage",
    )
    kills = [a.answer for a in faults.applied if a.answer and "killed" in a.answer]
    report.check(
        "forwarder killed mid-invocation",
        bool(kills) and all(k["killed"] > 0 and k["inFlight"] > 0 for k in kills),
        json.dumps(kills),
    )
    confirmed = report.duplicates_by_cause.get("confirmed", 0)
    report.check(
        "no event the upstream confirmed was sent again",
        confirmed == 0,
        f"{confirmed:,} extra deliveries of confirmed events",
    )
    seen = set(report.upstream_statuses)
    wanted = {"503", "429", "207", "413", "400"}
    report.check(
        "the upstream answered every injected status", wanted <= seen, f"missing {sorted(wanted - seen)}"
    )
    report.notes.append(
        "duplicates come from client retries and deliveries the forwarder could not confirm "
        "(answers after the read timeout, kills): at-least-once, messageId is the deduplication key"
    )


if __name__ == "__main__":
    sys.exit(main())
