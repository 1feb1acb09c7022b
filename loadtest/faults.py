"""The fault schedule of ``python -m loadtest --faults``: what breaks, when, and for how long.

Offsets are seconds from the start of the load. Upstream faults are the stand-in's own
(edge_local/upstream.py); the SQS outage, the archive's S3 outage and the forwarder kills go
through the stack's fault-control endpoint (edge_local/faults.py, ``LOCAL_FAULTS=1``). Every fault
ends by itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

from loadtest.stack import Stack

#: The forwarder's read timeout: the template's default, as deployed. Only the ``delay`` fault
#: answers later than this; a shorter one would turn the local stack's own slowness under load
#: (2 cores for clients, gateway, moto and workers) into ambiguous deliveries no deployment sees.
READ_TIMEOUT: Final = 10.0
#: How late the ``delay`` fault answers.
LATE_BY: Final = READ_TIMEOUT + 2
#: How long the SQS outage (ingest side) lasts; the clients' acknowledgements are checked against it.
SQS_PAUSE: Final = 5.0
#: How long the archive function cannot reach S3: several of its batching windows and retries.
S3_PAUSE: Final = 20.0


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    name: str
    target: str
    """``upstream`` (POST /_faults of the stand-in) or a control path (``/sqs/pause``, ``/forward/kill``)."""
    body: dict[str, Any]


SCHEDULE: Final = (
    Fault(
        4,
        "upstream 503 for 6 s (Retry-After: 1)",
        "upstream",
        {"status": 503, "retry_after": 1, "seconds": 6},
    ),
    Fault(8, f"SQS unreachable from ingest for {SQS_PAUSE:g} s", "/sqs/pause", {"seconds": SQS_PAUSE}),
    Fault(
        12,
        "upstream 429 for 5 s (Retry-After: 2)",
        "upstream",
        {"status": 429, "retry_after": 2, "seconds": 5},
    ),
    Fault(
        15, f"S3 unreachable from the archive function for {S3_PAUSE:g} s", "/s3/pause", {"seconds": S3_PAUSE}
    ),
    Fault(18, "forwarder killed mid-invocation", "/forward/kill", {"wait": 10}),
    Fault(
        21,
        f"upstream answers after {LATE_BY:g} s (read timeout {READ_TIMEOUT:g} s) for 6 s",
        "upstream",
        {"delay": LATE_BY, "seconds": 6},
    ),
    Fault(28, "upstream down (connections refused) for 5 s", "upstream", {"refuse": True, "seconds": 5}),
    Fault(35, "upstream 207 naming ~30% of items failed for 6 s", "upstream", {"partial": 0.3, "seconds": 6}),
    Fault(42, "upstream 413 above 20,000 bytes for 6 s", "upstream", {"max_bytes": 20_000, "seconds": 6}),
    Fault(49, "forwarder killed mid-invocation", "/forward/kill", {"wait": 10}),
)
#: When the last fault is over.
FAULTS_END: Final = 55.0


@dataclass
class Applied:
    at: float
    name: str
    answer: dict[str, Any] | None = None
    error: str | None = None


@dataclass(eq=False)  # a Thread must stay hashable
class FaultRunner(threading.Thread):
    """Applies ``SCHEDULE`` against a running stack, on its own thread."""

    stack: Stack
    started: float
    applied: list[Applied] = field(default_factory=list)
    sqs_pauses: list[tuple[float, float]] = field(default_factory=list)
    """Monotonic (start, end) of each SQS outage."""

    def __post_init__(self) -> None:
        super().__init__(name="faults", daemon=True)

    def run(self) -> None:
        for fault in SCHEDULE:
            delay = self.started + fault.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            offset = round(time.monotonic() - self.started, 1)
            try:
                self.applied.append(Applied(offset, fault.name, self._apply(fault)))
            except Exception as exc:  # noqa: BLE001 - reported, and the run fails its checks
                self.applied.append(Applied(offset, fault.name, error=f"{type(exc).__name__}: {exc}"))

    def _apply(self, fault: Fault) -> dict[str, Any] | None:
        """Apply one fault, retrying for a few seconds a stand-in that is not listening yet."""
        deadline = time.monotonic() + 5
        while True:
            try:
                if fault.target == "upstream":
                    self.stack.upstream_faults(fault.body)
                    return None
                now = time.monotonic()
                answer = self.stack.control(fault.target, fault.body)
                if fault.target == "/sqs/pause":
                    self.sqs_pauses.append((now, now + float(fault.body["seconds"])))
                return answer
            except OSError:  # URLError included
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
