"""Compressed bodies: what the ingest handler spends per KB of a hostile compressed body, against a
plain body of the same size in the same run (SQS and Secrets Manager stubbed in-process)."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from typing import Any

from bench.events import api_batch_event, api_track_event, segment_event
from bench.ingest import IngestHarness
from bench.report import BenchError, Figure
from bench.timing import alternate, median

__all__ = ["compressed_figures"]

#: What a compressed body may cost per byte, at most, against the plain body of the same size
#: whose byte costs least (a batch of 1 KB events); a batch of minimal events costs far more.
BUDGET = 3.0
#: Every body here is this big on the wire (within the 500 KB body limit).
WIRE_BYTES = 400 * 1024
#: The largest compressed body Lambda takes (6 MB of payload, the body base64-encoded in it).
PLATFORM_BYTES = 4400 * 1024
EMPTY_MEMBER = gzip.compress(b"", mtime=0)


def _compressed(data: bytes, encoding: str = "gzip") -> dict[str, Any]:
    """``POST /v1/batch`` with ``data`` as API Gateway hands a compressed body over: base64."""
    event = api_batch_event(1)
    event["body"] = base64.b64encode(data).decode()
    event["isBase64Encoded"] = True
    event["headers"] = {**event["headers"], "content-encoding": encoding, "content-length": str(len(data))}
    return event


def _plain_batch(size: int) -> dict[str, Any]:
    """A valid batch of ~1.1 KB events whose body is about ``size`` bytes."""
    per_event = len(json.dumps(segment_event(), separators=(",", ":"))) + 50
    return api_batch_event(max(1, size // per_event))


def _minimal_batch(size: int) -> dict[str, Any]:
    """A valid batch of the smallest events, up to ``size`` bytes: a plain byte at its dearest."""
    item = '{"type":"track","userId":"u","event":"E"}'
    event = api_batch_event(1)
    event["body"] = '{"batch":[' + ",".join([item] * min(2500, size // (len(item) + 1))) + "]}"
    return event


def _members(wire: int) -> bytes:
    """Empty gzip members, then one event: ``wire`` bytes that inflate to one event."""
    event = gzip.compress(json.dumps({"batch": [{**segment_event(), "type": "track"}]}).encode())
    return EMPTY_MEMBER * ((wire - len(event)) // len(EMPTY_MEMBER)) + event


def _small_members(wire: int) -> bytes:
    """A valid batch cut into 64-byte gzip members, about ``wire`` bytes of them."""
    text = _plain_batch(wire * 3 // 4)["body"].encode()
    return b"".join(gzip.compress(text[i : i + 64], mtime=0) for i in range(0, len(text), 64))


def _bomb(wire: int) -> bytes:
    """gzip of spaces in a JSON array, ``wire`` bytes of it: far more than the limit once inflated."""
    chunk = gzip.compress(b"[" + b" " * 16 * 1024 * 1024 + b"]")
    return (chunk * (wire // len(chunk) + 1))[:wire]


def _call(harness: IngestHarness, event: dict[str, Any], expected: int) -> Callable[[], object]:
    """A call of the handler on ``event`` that must answer ``expected`` (checked once, up front)."""
    response = harness.call(event)
    if response.get("statusCode") != expected:
        raise BenchError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")
    return lambda: harness.call(event)


def compressed_figures(*, rounds: int) -> list[Figure]:
    """µs per KB of wire: many-member gzip, a batch in small members and a bomb, each against
    plain batches of the same size; and bodies as large as Lambda takes, plain and compressed."""
    harness = IngestHarness({"BOT_POLICY": "keep"})
    bodies = {  # name: (API Gateway event, status it must answer, calls per sample)
        "plain": (_plain_batch(WIRE_BYTES), 200, 2),
        "plain minimal": (_minimal_batch(WIRE_BYTES), 200, 1),
        "members": (_compressed(_members(WIRE_BYTES)), 200, 2),
        "small members": (_compressed(_small_members(WIRE_BYTES)), 200, 2),
        "bomb": (_compressed(_bomb(WIRE_BYTES)), 413, 2),
    }
    kb = {name: _wire(event) / 1024 for name, (event, _, _) in bodies.items()}
    samples = alternate(
        {name: (_call(harness, event, status), n) for name, (event, status, n) in bodies.items()}, rounds
    )
    us = {name: median(values) / kb[name] * 1e6 for name, values in samples.items()}  # µs per KB
    ratio = {name: us[name] / us["plain"] for name in bodies}
    large = {
        "plain": _timed(harness, _plain_body(PLATFORM_BYTES)),
        "gzip members": _timed(harness, _compressed(_members(PLATFORM_BYTES))),
    }
    return [
        Figure(
            "compressed bodies, CPU per KB: 20,000 empty gzip members + 1 event vs plain",
            f"{ratio['members']:.2f}x a batch of 1 KB events, {us['members'] / us['plain minimal']:.2f}x "
            f"one of minimal events ({us['members']:.0f} vs {us['plain']:.0f} and "
            f"{us['plain minimal']:.0f} µs/KB)",
            f"≤ {BUDGET:g}x plain",
            ratio["members"] <= BUDGET,
            f"{kb['members']:.0f} KB vs {kb['plain']:.0f} and {kb['plain minimal']:.0f} KB plain "
            f"(2,500 events); median of {rounds} rounds",
        ),
        Figure(
            "compressed bodies, CPU per KB: a batch in 64-byte gzip members / a gzip bomb",
            f"{ratio['small members']:.2f}x / {ratio['bomb']:.2f}x a batch of 1 KB events "
            f"({us['small members']:.0f} / {us['bomb']:.0f} µs/KB)",
            f"≤ {BUDGET:g}x plain",
            max(ratio["small members"], ratio["bomb"]) <= BUDGET,
            f"{kb['small members']:.0f} KB of members, all read (200); {kb['bomb']:.0f} KB inflating "
            "past the limit (413)",
        ),
        Figure(
            f"compressed bodies as large as Lambda takes ({PLATFORM_BYTES // 1024:,} KB), refused",
            f"{large['gzip members'][0] * 1e3:.2f} ms gzip members ({large['gzip members'][1]}) vs "
            f"{large['plain'][0] * 1e3:.2f} ms plain ({large['plain'][1]})",
            "reported",
            None,
            "each refused unread; a member walk quadratic in the body would take seconds here",
        ),
    ]


def _wire(event: dict[str, Any]) -> int:
    """The body's size as the client sent it."""
    body = event["body"]
    return len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode())


def _plain_body(size: int) -> dict[str, Any]:
    """A plain body of ``size`` bytes: over the limit, refused."""
    event = api_track_event()
    event["body"] = '{"p":"' + "x" * (size - 8) + '"}'
    return event


def _timed(harness: IngestHarness, event: dict[str, Any]) -> tuple[float, int]:
    """Seconds one call takes, the median of three (one call can be slow on a shared machine), and
    the status it answered."""
    times, status = [], 0
    for _ in range(3):
        started = time.perf_counter()
        status = int(harness.call(event).get("statusCode", 0))
        times.append(time.perf_counter() - started)
    return median(times), status
