"""``python -m bench.upstream_gzip``: what UPSTREAM_GZIP changes, measured both ways.

The forward handler (loaded twice, as Lambda loads it: warm, its own pool each, AWS on loopback)
sends 1,000 SQS records of the 1 KB sample event to the loopback server, with and without gzip,
alternating; the server counts the bytes it
receives. Then one 100-event batch body is compressed at levels 1, 6 and 9. Loopback has no
bandwidth limit, so the throughput here is the CPU price of gzip; over the internet the bytes
saved are the point (docs/operations.md, "Egress and gzip").
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from bench.aws import LoopbackAws
from bench.events import enriched_event, sqs_event
from bench.forwarder import EVENTS, ForwardHarness
from bench.lambda_env import Tree
from bench.loopback import LoopbackServer
from bench.timing import alternate, median

if TYPE_CHECKING:
    from collections.abc import Callable

ROUNDS: Final = 15


def _varied(index: int, rng: random.Random) -> dict[str, Any]:
    """The sample event with what differs between real events made different: ids, clocks,
    user, values (identical copies would compress ~70x and flatter gzip)."""
    event = enriched_event(index)
    event["messageId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event["anonymousId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event["userId"] = f"user-{rng.randrange(10**9)}"
    clock = rng.randrange(86_400_000)
    hours, minutes, seconds = clock // 3_600_000, clock // 60_000 % 60, clock // 1000 % 60
    stamp = f"2023-11-14T{hours:02}:{minutes:02}:{seconds:02}.{clock % 1000:03}Z"
    event["timestamp"] = event["originalTimestamp"] = event["receivedAt"] = stamp
    event["event"] = rng.choice(["Order Completed", "Product Viewed", "Checkout Started", "Signed Up"])
    event["properties"] = {
        key: (
            round(rng.random() * 1000, 2)
            if isinstance(value, int | float)
            else f"{value}-{rng.randrange(10**6)}"
        )
        for key, value in (event.get("properties") or {}).items()
    }
    event["context"]["ip"] = f"203.0.{rng.randrange(256)}.{rng.randrange(256)}"
    return event


def main() -> int:
    tree = Tree()
    rng = random.Random(7)  # noqa: S311 - reproducible sample data
    events = [_varied(index, rng) for index in range(EVENTS)]
    event = sqs_event(events)
    with LoopbackAws() as aws, LoopbackServer() as server:
        harnesses = {
            name: ForwardHarness(tree, aws, server.url, name=f"bench_forward_gzip_{name}", UPSTREAM_GZIP=name)
            for name in ("false", "true")
        }

        def contender(name: str) -> tuple[Callable[[], None], int]:
            return (lambda: harnesses[name].invoke(event)), 1

        bytes_per_event = {}
        for name, harness in harnesses.items():
            server.stats()
            harness.invoke(event)  # warm: connections open
            bytes_per_event[name] = server.stats().bytes / EVENTS
        samples = alternate({name: contender(name) for name in harnesses}, ROUNDS)
    print(
        f"forwarder, {EVENTS:,} records of one ~1 KB event (varied), median of {ROUNDS} rounds on loopback:"
    )
    for name in harnesses:
        seconds = median(samples[name])
        print(
            f"  UPSTREAM_GZIP={name:5}  {bytes_per_event[name]:7.0f} bytes/event on the wire  "
            f"{seconds * 1000:6.1f} ms per invocation  {EVENTS / seconds:8,.0f} events/s"
        )
    body = json.dumps(
        {"batch": events[:100], "sentAt": "2026-01-01T00:00:00.000Z"}, separators=(",", ":")
    ).encode()
    print(f"one 100-event batch body, {len(body):,} bytes:")
    for level in (1, 6, 9):
        started = time.perf_counter()
        for _ in range(50):
            packed = gzip.compress(body, compresslevel=level, mtime=0)
        took = (time.perf_counter() - started) / 50
        print(
            f"  level {level}: {len(packed):7,} bytes ({len(body) / len(packed):4.1f}x)  {took * 1e6:7.0f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
