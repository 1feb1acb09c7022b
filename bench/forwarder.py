"""Forwarder throughput: one warm invocation of the forward handler carrying 1,000 events of ~1 KB,
as ingest queues them from ten 100-event batch requests, to a keep-alive server on loopback that
runs in its own process. Every contender starts from the same SQS message bodies and ends when
the server has answered every request:

- the floor, measured in the same run: the bodies decoded with the standard ``json`` module, each
  event encoded with it, the events packed into batches of at most 500 events and 500 KB, POSTed
  to ``/v1/batch`` in turn on a warm urllib3 pool;
- a naive loop: the bodies decoded the same way, one ``POST /v1/track`` per event on that pool;
- segment-analytics-python: the bodies decoded the same way, ``track()`` per event, ``flush()``.

The worst case, the 1,000 one-event messages ingest queues for 1,000 single-event requests, is
measured against the floor on those same messages.

The archive is on, as it is by default: before it answers, the forwarder hands what MetaRouter
confirmed to the archive queue, here a second loopback server in its own process that answers
``SendMessageBatch`` at once (``bench.loopback``), so that what is measured is the forwarder's own
work — compressing the events, the request — and not moto's (~5-10 ms of these shared cores per
call, which in Lambda SQS spends on its own machines). The floor archives nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

from bench.aws import SOURCE_ID, LoopbackAws
from bench.events import api_batch_event, api_track_event, sqs_records
from bench.ingest import queued_messages
from bench.lambda_env import Tree
from bench.loopback import LoopbackServer
from bench.report import BenchError, Figure
from bench.timing import alternate, median, ratio
from edge_local.context import LocalContext

__all__ = [
    "EVENTS",
    "ForwardHarness",
    "batched_messages",
    "forwarder_figures",
    "single_event_messages",
]

EVENTS: Final = 1000
BATCH_REQUESTS: Final = 10
#: The forwarder's throughput, as a share of the floor's.
FLOOR_BUDGET: Final = 0.67
NAIVE_BUDGET: Final = 40.0
SEGMENT_BUDGET: Final = 5.0
#: The floor's requests: at most this many events and bytes (the upstream batch API's limits).
FLOOR_BATCH_EVENTS: Final = 500
FLOOR_BATCH_BYTES: Final = 500 * 1024
_SENT_AT: Final = "2023-11-14T22:13:21.000Z"


class ForwardHarness:
    """The forward handler loaded as Lambda loads it: init with the function's variables, its boto3
    clients on moto, its own connection pool to ``endpoint``; called warm through ``lambda_handler``."""

    def __init__(self, tree: Tree, aws: LoopbackAws, endpoint: str, *, name: str, **env: str) -> None:
        self.app: ModuleType = tree.load_handler(
            "forward", aws.environment("forward", METAROUTER_ENDPOINT=endpoint, **env), name
        )

    def invoke(self, event: dict[str, Any]) -> None:
        response = self.app.lambda_handler(event, LocalContext("edge-forward", 60, memory_limit_in_mb=512))
        if response != {"batchItemFailures": []}:
            raise BenchError(f"the forwarder reported failures: {str(response)[:300]}")


def batched_messages() -> list[str]:
    """What ingest queues for ten ``/v1/batch`` requests of 100 events: one message each."""
    per_request = EVENTS // BATCH_REQUESTS
    return queued_messages(
        [api_batch_event(per_request, first=n * per_request) for n in range(BATCH_REQUESTS)]
    )


def single_event_messages() -> list[str]:
    """What ingest queues for 1,000 ``/v1/track`` requests of one event: one message each."""
    requests = []
    for index in range(EVENTS):
        request = api_track_event()
        body = json.loads(request["body"])
        body["messageId"] = f"single-{index}"
        request["body"] = json.dumps(body, separators=(",", ":"))
        request["headers"]["content-length"] = str(len(request["body"]))
        requests.append(request)
    return queued_messages(requests)


def _headers() -> dict[str, str]:
    import urllib3

    auth = urllib3.util.make_headers(basic_auth=f"{SOURCE_ID}:")["authorization"]
    return {"Authorization": auth, "Content-Type": "application/json"}


def _floor(pool: Any, url: str, bodies: list[str]) -> Callable[[], None]:
    """Decode with ``json``, encode each event with ``json``, pack, POST each batch in turn."""
    loads, dumps = json.loads, json.dumps
    headers, target = _headers(), f"{url}/v1/batch"
    tail = b'],"sentAt":' + dumps(_SENT_AT).encode() + b"}"
    room = FLOOR_BATCH_BYTES - len(b'{"batch":[') - len(tail)

    def post(batch: list[bytes]) -> None:
        answer = pool.request("POST", target, body=b'{"batch":[' + b",".join(batch) + tail, headers=headers)
        if answer.status != 200:
            raise BenchError(f"the floor got {answer.status}")

    def run() -> None:
        batch: list[bytes] = []
        size = 0
        for body in bodies:
            for event in loads(body)["events"]:
                encoded = dumps(event, separators=(",", ":")).encode()
                if batch and (len(batch) == FLOOR_BATCH_EVENTS or size + 1 + len(encoded) > room):
                    post(batch)
                    batch, size = [], 0
                size += len(encoded) + (1 if batch else 0)
                batch.append(encoded)
        if batch:
            post(batch)

    return run


def _naive(pool: Any, url: str, bodies: list[str]) -> Callable[[], None]:
    """Decode with ``json``; one ``POST /v1/track`` per event, in turn, on the floor's pool."""
    loads, dumps = json.loads, json.dumps
    headers, target = _headers(), f"{url}/v1/track"

    def run() -> None:
        for body in bodies:
            for event in loads(body)["events"]:
                answer = pool.request(
                    "POST", target, body=dumps(event, separators=(",", ":")).encode(), headers=headers
                )
                if answer.status != 200:
                    raise BenchError(f"the naive loop got {answer.status}")

    return run


def _segment(url: str, bodies: list[str]) -> tuple[Callable[[], None], Any]:
    """segment-analytics-python as documented: ``track()`` each event, then ``flush()``."""
    from segment.analytics import Client  # type: ignore[import-untyped]

    errors: list[Exception] = []
    client = Client(SOURCE_ID, host=url, on_error=lambda error, _batch: errors.append(error))
    loads = json.loads

    def ship() -> None:
        for body in bodies:
            for event in loads(body)["events"]:
                client.track(
                    user_id=event.get("userId"),
                    anonymous_id=event.get("anonymousId"),
                    event=event["event"],
                    properties=event.get("properties"),
                    context=event.get("context"),
                    message_id=event["messageId"],
                )
        client.flush()
        if errors:
            raise BenchError(f"segment-analytics-python failed: {errors[0]}")

    return ship, client


def forwarder_figures(tree: Tree, *, rounds: int) -> list[Figure]:
    import urllib3

    batched, single = batched_messages(), single_event_messages()
    if len(batched) != BATCH_REQUESTS or len(single) != EVENTS:
        raise BenchError(f"ingest queued {len(batched)} and {len(single)} messages")
    batched_event, single_event = sqs_records(batched), sqs_records(single)
    with LoopbackAws() as aws, LoopbackServer() as server, LoopbackServer() as archive:
        harness = ForwardHarness(
            tree, aws, server.url, name="bench_forward_app", AWS_ENDPOINT_URL_SQS=archive.url
        )
        pool = urllib3.PoolManager(maxsize=1)
        ship, client = _segment(server.url, batched)
        try:
            contenders: dict[str, Callable[[], None]] = {
                "forwarder": lambda: harness.invoke(batched_event),
                "floor": _floor(pool, server.url, batched),
                "naive": _naive(pool, server.url, batched),
                "segment": ship,
                "forwarder, single": lambda: harness.invoke(single_event),
                "floor, single": _floor(pool, server.url, single),
            }
            server.stats()
            for name, warm_up in contenders.items():  # connections open, secret read, code warm
                warm_up()
                seen = server.stats().events
                if seen != EVENTS:
                    raise BenchError(f"the server saw {seen} of {EVENTS} events from {name}")
            archive.stats()
            samples = alternate({name: (fn, 1) for name, fn in contenders.items()}, rounds)
            stats = server.stats()
            expected = len(contenders) * rounds * EVENTS
            if stats.events != expected:
                raise BenchError(f"the server saw {stats.events} of {expected} events")
            # Every event the forwarder delivered is archived (0: code from before the archive, --root).
            archived = archive.stats().events
            if archived not in (0, 2 * rounds * EVENTS):
                raise BenchError(f"the archive queue got {archived} of {2 * rounds * EVENTS} events")
            busy_us = stats.busy / max(stats.requests, 1) * 1e6
        finally:
            client.shutdown()
            pool.clear()
    m = {name: median(values) * 1000 for name, values in samples.items()}
    vs_floor = ratio(samples["floor"], samples["forwarder"])
    vs_naive = ratio(samples["naive"], samples["forwarder"])
    vs_segment = ratio(samples["segment"], samples["forwarder"])
    worst = ratio(samples["floor, single"], samples["forwarder, single"])
    rate = EVENTS / median(samples["forwarder"])
    common = f"median of {rounds} rounds; the server {busy_us:.0f} µs per request"
    shape = f"{EVENTS:,} events in {BATCH_REQUESTS} messages from ingest's 100-event batches"
    return [
        Figure(
            "forwarder vs floor",
            f"{vs_floor:.2f} of its throughput ({m['forwarder']:.0f} ms vs {m['floor']:.0f} ms)",
            f"≥ {FLOOR_BUDGET:g}",
            vs_floor >= FLOOR_BUDGET,
            f"one warm invocation, {rate:,.0f} events/s; {shape}; floor json + urllib3, "
            f"≤ {FLOOR_BATCH_EVENTS} events a POST; {common}",
        ),
        Figure(
            "forwarder vs naive POST per event",
            f"{vs_naive:.1f}x ({m['forwarder']:.0f} ms vs {m['naive']:.0f} ms)",
            f"≥ {NAIVE_BUDGET:g}x",
            vs_naive >= NAIVE_BUDGET,
            f"the floor's pool, one POST /v1/track at a time; {common}",
        ),
        Figure(
            "forwarder vs segment-analytics-python",
            f"{vs_segment:.1f}x ({m['forwarder']:.0f} ms vs {m['segment']:.0f} ms)",
            f"≥ {SEGMENT_BUDGET:g}x",
            vs_segment >= SEGMENT_BUDGET,
            f"track() per event, flush(); its batches of 100; {common}",
        ),
        Figure(
            "forwarder vs floor, one-event messages",
            f"{worst:.2f} of its throughput ({m['forwarder, single']:.0f} ms vs {m['floor, single']:.0f} ms)",
            "reported",
            None,
            f"the worst case: {EVENTS:,} messages from single-event requests, one invocation, "
            f"{EVENTS / median(samples['forwarder, single']):,.0f} events/s; {common}",
        ),
    ]
