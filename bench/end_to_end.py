"""End to end on the local stack (``python -m edge_local``): events posted through the gateway by
concurrent clients until the upstream stand-in has every one. Loopback only, bounded in events
and in time; it stops the stack itself."""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from bench.events import segment_event
from bench.report import BenchError, Figure
from edge_local.launch import launch, stop

__all__ = ["end_to_end_figures"]

_AUTH: Final = "Basic YmVuY2gtd3JpdGUta2V5Og=="  # bench-write-key:


@dataclass
class _Load:
    """What the clients did."""

    latencies: list[float] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(api: str, requests: int, per_request: int, load: _Load, stop_at: float) -> None:
    """``requests`` POSTs in turn on one keep-alive connection: single events, or batches."""
    url = urlsplit(api)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    template = segment_event()
    path = "/v1/track" if per_request == 1 else "/v1/batch"
    try:
        for _ in range(requests):
            if time.monotonic() > stop_at:
                return
            events = [
                {**template, "type": "track", "messageId": str(uuid.uuid4())} for _ in range(per_request)
            ]
            body = json.dumps(events[0] if per_request == 1 else {"batch": events}).encode()
            started = time.perf_counter()
            connection.request(
                "POST", path, body, {"Content-Type": "application/json", "Authorization": _AUTH}
            )
            response = connection.getresponse()
            answer = response.read()
            took = time.perf_counter() - started
            with load.lock:
                if response.status == 200:
                    load.latencies.append(took)
                    load.ids.update(event["messageId"] for event in events)
                else:
                    load.failures.append(f"{response.status} {answer[:200]!r}")
    finally:
        connection.close()


def _delivered(upstream: str, ids: set[str]) -> int:
    with urllib.request.urlopen(f"{upstream}/_received", timeout=30) as response:  # noqa: S310 - loopback
        events = json.loads(response.read())["events"]
    return len(ids & {event.get("messageId") for event in events})


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _run(
    api: str, upstream: str, *, events: int, per_request: int, clients: int, time_limit: float
) -> Figure:
    """One load: ``events`` in requests of ``per_request``, until the stand-in has every one."""
    load = _Load()
    started = time.monotonic()
    stop_at = started + time_limit
    requests = events // per_request
    share = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    threads = [
        threading.Thread(target=_client, args=(api, n, per_request, load, stop_at), name=f"client-{i}")
        for i, n in enumerate(share)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    acknowledged = time.monotonic()
    if load.failures:
        raise BenchError(f"{len(load.failures)} requests failed, e.g. {load.failures[0]}")
    delivered = 0
    while time.monotonic() < acknowledged + max(60.0, time_limit):
        delivered = _delivered(upstream, load.ids)
        if delivered >= len(load.ids):
            break
        time.sleep(1.0)
    finished = time.monotonic()
    sent = len(load.ids)
    if delivered < sent:
        raise BenchError(f"the upstream received {delivered} of {sent} acknowledged events")
    rate = sent / (finished - started)
    p50, p99 = _percentile(load.latencies, 0.5) * 1000, _percentile(load.latencies, 0.99) * 1000
    capped = "" if sent == requests * per_request else f", stopped at the {time_limit:.0f} s limit"
    shape = "single-event requests" if per_request == 1 else f"requests of {per_request} events"
    return Figure(
        f"end to end, {shape}",
        f"{rate:,.0f} events/s; ack p50 {p50:.0f} ms, p99 {p99:.0f} ms",
        "reported",
        None,
        f"{sent:,} events{capped}, {clients} clients, until the stand-in had all; "
        f"{len(load.latencies) / (acknowledged - started):,.0f} acks/s; moto SQS, 2+2 workers",
    )


def end_to_end_figures(*, events: int, clients: int, time_limit: float) -> list[Figure]:
    """``events`` single events (browsers, beacons), then 5 x as many in batches of 100 (server SDKs)."""
    with tempfile.TemporaryDirectory(prefix="edge-bench-e2e-") as log_dir:
        env = {
            "FORWARD_BATCHING_WINDOW": "0.5",
            "INGEST_CONCURRENCY": "2",
            "FORWARD_CONCURRENCY": "2",
            "LOCAL_LOG_DIR": log_dir,
        }
        try:
            process, where = launch(env)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
        api, upstream = where.api, where.upstream
        try:
            return [
                _run(api, upstream, events=events, per_request=1, clients=clients, time_limit=time_limit),
                _run(
                    api, upstream, events=events * 5, per_request=100, clients=clients, time_limit=time_limit
                ),
            ]
        finally:
            stop(process)
