"""The archive end to end on the local stack: events in through a real client, read back from the
embedded S3 exactly as the upstream got them, a window replayed with `python -m edge_ops.replay
--local` (what `make replay-local` runs), and the upstream receiving them a second time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segment.analytics import Client

from support.local_stack import ROOT, LocalStack

MINUTE = timedelta(minutes=1)


def _archived(stack: LocalStack, ids: set[str], timeout: float = 60) -> list[dict[str, Any]]:
    """The archived events among ``ids``, once every one of them is in the bucket."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for events in stack.archived().values() for e in events if e.get("messageId") in ids]
        if {e["messageId"] for e in found} >= ids or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _replay(stack: LocalStack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack.state()))
    env = {**os.environ, "LOCAL_STATE_FILE": str(state), "REPLAY_STATE_DIR": str(tmp_path / "replay")}
    return subprocess.run(  # noqa: S603 - this interpreter, the replay tool
        [sys.executable, "-m", "edge_ops.replay", "--local", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_events_are_archived_as_delivered_and_a_window_replayed_reaches_the_upstream_again(
    stack: LocalStack, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    name = f"Archived {uuid.uuid4().hex[:8]}"  # this test's events only: the stack is shared
    client = Client("pk_web_7f3a", host=stack.api, sync_mode=True, max_retries=1)
    ids = {f"{name}-{n}" for n in range(5)}
    for message_id in sorted(ids):
        client.track("u-1", name, {"n": message_id}, message_id=message_id)
    client.page("u-1", "Not Replayed", message_id=f"{name}-page")
    delivered = {e["messageId"]: e for e in stack.wait_for(ids)}

    archived = _archived(stack, ids)
    assert {e["messageId"]: e for e in archived} == delivered  # exactly as the upstream got them
    keys = [key for key, events in stack.archived().items() if any(e.get("messageId") in ids for e in events)]
    assert keys
    assert all(key.startswith("events/source=") and "/dt=" in key and "/hour=" in key for key in keys)
    assert not [key for key in keys if "LOCAL_SOURCE_ID" in key]

    window = ["--from", (started - MINUTE).isoformat(), "--to", (datetime.now(UTC) + MINUTE).isoformat()]
    dry = _replay(stack, tmp_path, *window, "--event", name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send 5 events of" in dry.stdout
    assert f"{started:%Y-%m-%d}   track               5" in dry.stdout

    real = _replay(stack, tmp_path, *window, "--event", name)
    assert real.returncode == 0, real.stderr
    assert "sent 5 events" in real.stdout
    deadline = time.monotonic() + 60
    while True:
        counts = Counter(e.get("messageId") for e in stack.received()["events"])
        if all(counts[m] >= 2 for m in ids) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert {m: counts[m] for m in ids} == dict.fromkeys(ids, 2)
    assert counts[f"{name}-page"] == 1

    time.sleep(3)  # the archive function's window and more: a replayed event is not archived again
    assert Counter(e["messageId"] for e in _archived(stack, ids)) == dict.fromkeys(ids, 1)

    again = _replay(stack, tmp_path, *window, "--event", name)  # the same replay: done already
    assert "sent 0 events" in again.stdout
    assert "5 events sent by an earlier run" in again.stdout


def test_a_window_with_nothing_in_it_says_so_and_a_malformed_one_fails(
    stack: LocalStack, tmp_path: Path
) -> None:
    empty = _replay(stack, tmp_path, "--from", "2001-01-01T00:00:00Z", "--to", "2001-01-01T01:00:00Z")
    assert empty.returncode == 0
    assert "nothing archived in 2001-01-01T00:00:00Z to 2001-01-01T01:00:00Z" in empty.stdout
    bad = _replay(stack, tmp_path, "--from", "last tuesday", "--to", "2001-01-01")
    assert bad.returncode == 2
    assert "FROM is not an ISO-8601 date or time" in bad.stderr
