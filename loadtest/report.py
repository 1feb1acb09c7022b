"""The figures of a run and the checks that make it pass or fail."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    mode: str
    clients: int
    events_planned: int
    requests: int = 0
    attempts: int = 0
    send_seconds: float = 0.0
    drain_seconds: float = 0.0
    acknowledged: int = 0
    delivered: int = 0
    missing: int = 0
    delivered_unacknowledged: int = 0
    upstream_events: int = 0
    duplicates: int = 0
    duplicate_ids: int = 0
    duplicates_by_cause: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    unavailable_without_retry_after: int = 0
    ack_latency_ms: dict[str, float] = field(default_factory=dict)
    throughput_events_per_s: float = 0.0
    requests_per_s: float = 0.0
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    upstream_statuses: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    poison: int = 0
    forwarder: dict[str, Any] = field(default_factory=dict)
    archive: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok}, indent=2)

    def text(self) -> str:
        lat = self.ack_latency_ms
        lines = [
            f"load test ({self.mode}): {self.events_planned:,} events from {self.clients} clients",
            f"  requests      {self.requests:,} ({self.attempts:,} attempts) "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.requests_by_kind.items())),
            f"  sent in       {self.send_seconds:.1f} s: "
            f"{self.throughput_events_per_s:,.0f} events/s acknowledged, "
            f"{self.requests_per_s:,.0f} requests/s",
            f"  ack latency   p50 {lat.get('p50', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms, "
            f"max {lat.get('max', 0):.0f} ms",
            f"  answers       {_counts(self.statuses)}; 5xx {self.server_errors}",
            f"  acknowledged  {self.acknowledged:,}",
            f"  delivered     {self.delivered:,} of them (unique messageIds upstream), "
            f"missing {self.missing:,}; drained {self.drain_seconds:.1f} s after the last request",
            f"  duplicates    {self.duplicates:,} extra deliveries of {self.duplicate_ids:,} events "
            f"({self.upstream_events:,} events received upstream in all)",
            f"  by cause      {_counts(self.duplicates_by_cause) or 'none'}",
            f"  upstream      answered {_counts(self.upstream_statuses)}",
            f"  dead letters  {_counts(self.dead_letters) or 'none'}; poison events sent {self.poison}",
            f"  quarantined   {self.quarantined}",
        ]
        if self.forwarder:
            f = self.forwarder
            lines.append(
                f"  forwarder     {f['invocations']:,} invocations; events forwarded "
                f"{f['events_forwarded']:,}, sent back to the queue {f['events_requeued']:,}, "
                f"skipped as delivered {f['events_skipped']:,}, messages deleted at a checkpoint "
                f"{f['messages_checkpointed']:,}"
            )
            if "log_ms" in f:
                ms = f["log_ms"]
                lines.append(
                    f"  delivery log  {f['log_claims']:,} keys claimed, {f['log_reads']:,} read, "
                    f"{f['log_writes']:,} written, {f['log_errors']:,} failed, {f['events_held']:,} held "
                    "by another invocation; "
                    f"per invocation p50 {ms['p50']:.1f} ms, p99 {ms['p99']:.1f} ms, max {ms['max']:.1f} ms"
                )
        if self.archive:
            a = self.archive
            lines.append(
                f"  archive       {a['objects']:,} objects, {a['events']:,} events ({a['unique']:,} unique), "
                f"missing {a['missing']:,} of the delivered; archive function {a['invocations']:,} "
                f"invocations, {a['archive_errors']:,} events refused by S3 and retried"
            )
            lines.append(
                f"  archive dups  {a['duplicates']:,}: {_counts(a['duplicates_by_cause']) or 'none'}"
            )
        if self.delivered_unacknowledged:
            lines.append(
                f"  also delivered, never acknowledged to the client: {self.delivered_unacknowledged} "
                "(at-least-once: queued, but the client gave up)"
            )
        for fault in self.faults:
            outcome = fault.get("error") or (
                json.dumps(fault["answer"]) if fault.get("answer") else "applied"
            )
            lines.append(f"  fault t+{fault['at']:>5}s  {fault['name']}: {outcome}")
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.extend(
            f"  {'PASS' if c.ok else 'FAIL'}  {c.name}{': ' + c.detail if c.detail else ''}"
            for c in self.checks
        )
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``values`` (seconds) in milliseconds."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return {"p50": round(at(0.50), 1), "p99": round(at(0.99), 1), "max": round(ordered[-1] * 1000, 1)}


def _counts(counts: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{key}: {value:,}" for key, value in sorted(counts.items()))
