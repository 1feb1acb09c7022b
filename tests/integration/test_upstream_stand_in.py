"""The upstream stand-in tells the load test which receipts the forwarder never saw confirmed: a
request answered later than the forwarder's read timeout counts as received late."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from edge_local.upstream import Recorder, Upstream

AUTH = "Basic " + base64.b64encode(b"SRC:").decode()


@pytest.fixture
def stand_in(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    upstream = Upstream(0, Recorder({"SRC"}, report=None, read_timeout=request.param))
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    yield upstream
    upstream.shutdown()
    upstream.server_close()


def _post_batch(upstream: Upstream, ids: list[str]) -> int:
    body = json.dumps(
        {"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": i} for i in ids]}
    )
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{upstream.url}/v1/batch", data=body.encode(), method="POST", headers={"Authorization": AUTH}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return int(response.status)


def _late(upstream: Upstream) -> dict[str, int]:
    with urllib.request.urlopen(f"{upstream.url}/_received?summary=1&ids=1", timeout=5) as response:  # noqa: S310
        return dict(json.loads(response.read())["lateIds"])


@pytest.mark.parametrize("stand_in", [0.0], indirect=True)
def test_an_answer_written_after_the_read_timeout_counts_its_events_as_received_late(stand_in):
    assert _post_batch(stand_in, ["a", "b"]) == 200
    # The stand-in can only know an answer was late once it has written it: it counts the events
    # just after, on its own thread, which the next request may overtake on a busy machine.
    deadline = time.monotonic() + 5
    while (late := _late(stand_in)) == {} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert late == {"a": 1, "b": 1}


@pytest.mark.parametrize("stand_in", [30.0], indirect=True)
def test_an_answer_in_time_is_a_confirmation(stand_in):
    assert _post_batch(stand_in, ["a", "b"]) == 200
    assert _late(stand_in) == {}
