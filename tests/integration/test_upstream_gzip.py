"""UPSTREAM_GZIP end to end: the forwarder's client gzips, the local stand-in inflates."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from edge.forward.upstream import UpstreamClient, batch_body, build_pool
from edge_local.upstream import Recorder, Upstream


@pytest.fixture
def stand_in() -> Iterator[Upstream]:
    upstream = Upstream(0, Recorder({"SRC"}, report=None))
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    yield upstream
    upstream.shutdown()
    upstream.server_close()


@pytest.mark.parametrize("gzip", [True, False])
def test_the_stand_in_receives_the_same_events_gzipped_or_not(stand_in: Upstream, gzip: bool) -> None:
    client = UpstreamClient(
        build_pool(max_connections=1), stand_in.url, connect_timeout=2, read_timeout=5, gzip=gzip
    )
    events = [
        {"type": "track", "event": "Order Completed", "messageId": f"m{i}", "userId": "u"} for i in range(20)
    ]
    body = batch_body([json.dumps(e).encode() for e in events], "2026-01-01T00:00:00.000Z")
    answer = client.post("/v1/batch", body, "SRC", budget=10)
    assert answer.status == 200
    assert stand_in.recorder.events == events
