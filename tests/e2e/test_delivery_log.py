"""Effectively-once delivery on the local stack: DEDUPE_WINDOW_HOURS, with the table in moto."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest

from support.local_stack import LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deduping_stack() -> Iterator[LocalStack]:
    running = start_stack({"METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID", "DEDUPE_WINDOW_HOURS": "1"})
    yield running
    stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])


def _send_batch(stack: LocalStack, message_ids: list[str]) -> None:
    events = [{"type": "track", "userId": "u-1", "event": "Clicked", "messageId": m} for m in message_ids]
    body = {"batch": events}
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{stack.api}/v1/batch",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
        assert response.status == 200


def _received(stack: LocalStack, prefix: str) -> Counter[str]:
    return Counter(e["messageId"] for e in stack.received()["events"] if e["messageId"].startswith(prefix))


@pytest.mark.parametrize("deduping", [False, True])
def test_a_batch_a_client_sends_again_after_it_was_delivered_reaches_the_upstream_once_with_the_log(
    stack, deduping_stack, deduping
):
    running = deduping_stack if deduping else stack
    prefix = f"dl-{int(deduping)}-{time.monotonic_ns()}-"
    ids = [f"{prefix}{i}" for i in range(20)]
    _send_batch(running, ids)
    running.wait_for(set(ids))
    _send_batch(running, ids)  # a client retry whose first 200 was lost: same messageIds
    _send_batch(running, [f"{prefix}after"])  # queued after the retry: once it is in, so is the retry
    running.wait_for({f"{prefix}after"})
    expected = 1 if deduping else 2
    deadline = time.monotonic() + 10
    while _received(running, prefix)[ids[0]] < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    counts = _received(running, prefix)
    assert {m: counts[m] for m in ids} == dict.fromkeys(ids, expected)
    if deduping:
        assert any("| dedupe 1 h" in line for line in running.output)
