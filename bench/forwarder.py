"""Forwarder throughput: one invocation with 1,000 SQS records of 1 KB events to a keep-alive
server on loopback, against segment-analytics-python shipping the same events to the same
server, and against a naive one-POST-per-event loop over the forwarder's own client and pool."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from bench.events import enriched_event, sqs_event
from bench.fakes import FakeSecretsManager, FakeSqs
from bench.lambda_env import lambda_environment
from bench.loopback import LoopbackServer
from bench.report import BenchError, Figure
from bench.timing import alternate, median, ratio
from edge_local.context import LocalContext

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["forwarder_figures"]

EVENTS: Final = 1000
SOURCE_ID: Final = "BENCH_SOURCE"
SEGMENT_BUDGET: Final = 3.0
NAIVE_BUDGET: Final = 20.0


class ForwardHarness:
    """The real forward handler, warm, with its own pool, sending to ``endpoint``."""

    def __init__(self, endpoint: str) -> None:
        os.environ.update({**lambda_environment("forward"), "METAROUTER_ENDPOINT": endpoint})
        from edge.config import ForwardSettings
        from edge.wiring import build_forwarder
        from forward import app

        self.app: ModuleType = app
        self.sqs = FakeSqs()
        app.forwarder = build_forwarder(
            ForwardSettings.from_env(),
            sqs=cast("SQSClient", self.sqs),
            secretsmanager=cast("SecretsManagerClient", FakeSecretsManager({"writeKey": SOURCE_ID})),
        )

    def invoke(self, event: dict[str, Any]) -> None:
        response = self.app.lambda_handler(event, LocalContext("edge-forward", 60, memory_limit_in_mb=512))
        if response != {"batchItemFailures": []}:
            raise BenchError(f"the forwarder reported failures: {str(response)[:300]}")

    def close(self) -> None:
        self.app.forwarder.close()


def _segment(server: LoopbackServer, events: list[dict[str, Any]]) -> tuple[Callable[[], None], Any]:
    """segment-analytics-python as documented: track() each event, then flush()."""
    from segment.analytics import Client  # type: ignore[import-untyped]

    errors: list[Exception] = []
    client = Client(SOURCE_ID, host=server.url, on_error=lambda error, _batch: errors.append(error))

    def ship() -> None:
        for event in events:
            client.track(
                user_id=event["userId"],
                anonymous_id=event["anonymousId"],
                event=event["event"],
                properties=event["properties"],
                context=event["context"],
                message_id=event["messageId"],
            )
        client.flush()
        if errors:
            raise BenchError(f"segment-analytics-python failed: {errors[0]}")

    return ship, client


def _naive(harness: ForwardHarness, events: list[dict[str, Any]]) -> Callable[[], None]:
    """One POST /v1/track per event, in turn, through the forwarder's own client and pool."""
    from edge.queueing import serialize

    upstream = harness.app.forwarder.upstream
    bodies = [serialize(event) for event in events]

    def post_each() -> None:
        for body in bodies:
            answer = upstream.post("/v1/track", body, SOURCE_ID, budget=30.0)
            if answer.status != 200:
                raise BenchError(f"the naive loop got {answer.status} ({answer.error})")

    return post_each


def forwarder_figures(*, rounds: int) -> list[Figure]:
    events = [enriched_event(index) for index in range(EVENTS)]
    event = sqs_event(events)
    with LoopbackServer() as server:
        harness = ForwardHarness(server.url)
        ship, client = _segment(server, events)
        naive = _naive(harness, events)
        try:
            server.stats()
            contenders: dict[str, Callable[[], None]] = {
                "forwarder": lambda: harness.invoke(event),
                "segment": ship,
                "naive": naive,
            }
            for warm_up in contenders.values():  # connections open, code warm
                warm_up()
                seen = server.stats().events
                if seen != EVENTS:
                    raise BenchError(f"the server saw {seen} of {EVENTS} events")
            samples = alternate(
                {name: (fn, 1) for name, fn in contenders.items()},
                rounds,
            )
            stats = server.stats()
            if stats.events != 3 * rounds * EVENTS:
                raise BenchError(f"the server saw {stats.events} of {3 * rounds * EVENTS} events")
            busy_us = stats.busy / max(stats.requests, 1) * 1e6
        finally:
            client.shutdown()
            harness.close()
    m = {name: median(values) for name, values in samples.items()}
    rate = EVENTS / m["forwarder"]
    vs_segment = ratio(samples["segment"], samples["forwarder"])
    vs_naive = ratio(samples["naive"], samples["forwarder"])
    common = f"{EVENTS:,} events; median of {rounds} rounds; server {busy_us:.0f} µs per request"
    return [
        Figure(
            "forwarder vs segment-analytics-python",
            f"{vs_segment:.1f}x ({m['forwarder'] * 1000:.0f} ms vs {m['segment'] * 1000:.0f} ms)",
            f"≥ {SEGMENT_BUDGET:g}x",
            vs_segment >= SEGMENT_BUDGET,
            f"one invocation, {rate:,.0f} events/s; {common}",
        ),
        Figure(
            "forwarder vs naive POST per event",
            f"{vs_naive:.1f}x ({m['forwarder'] * 1000:.0f} ms vs {m['naive'] * 1000:.0f} ms)",
            f"≥ {NAIVE_BUDGET:g}x",
            vs_naive >= NAIVE_BUDGET,
            f"same client and pool, one POST /v1/track at a time; {common}",
        ),
    ]
