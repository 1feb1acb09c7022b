"""The tracking plan through the local stack, configured as `make run` takes it (TRACKING_PLAN
relative to the ingest function's code, TRACKING_PLAN_MODE), with a real client library: what the
upstream receives in each mode, what block mode holds in the quarantine, and what the live page
shows. One stack per mode, with one worker per function and no archive, to start fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from segment.analytics import Client

from edge_local.launch import NOT_INHERITED
from support.js import CHROMIUM, PLAYWRIGHT, LivePageWatcher, node_with
from support.local_stack import ROOT, LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

ORDER = {"order_id": "o-1", "total": 42.5, "currency": "EUR"}
#: What the example plan (functions/ingest/plans/example.json) says of each call sent.
VIOLATIONS: dict[str, set[tuple[str, str]]] = {
    "clean-track": set(),
    "clean-identify": set(),
    "wrong": {("wrong_type", "properties.total"), ("unplanned_property", "properties.gift_wrap")},
    "unplanned": {("unplanned_event", "event")},
    "traits": {("unplanned_property", "traits.nickname")},
}


@dataclass
class Sent:
    """A stack with the plan in one mode, and the calls a client made to it: name -> messageId."""

    mode: str
    stack: LocalStack
    logs: Path
    ids: dict[str, str]

    def arrived(self, names: set[str]) -> dict[str, dict[str, Any]]:
        """The upstream's events of the calls ``names``, by name, once they all arrived."""
        by_id = {self.ids[name]: name for name in names}
        return {by_id[e["messageId"]]: e for e in self.stack.wait_for(set(by_id))}


@pytest.fixture(scope="module")
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    """The stack with the example plan in the mode the test names, and the client's calls sent."""
    mode = request.param
    logs = tmp_path_factory.mktemp(f"plan-{mode}-logs")
    running = start_stack(
        {
            "METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID",
            "TRACKING_PLAN": "plans/example.json",
            "TRACKING_PLAN_MODE": mode,
            "INGEST_CONCURRENCY": "1",
            "FORWARD_CONCURRENCY": "1",
            "ARCHIVE_RETENTION_DAYS": "0",
            "LOCAL_LOG_DIR": str(logs),
        }
    )
    try:
        yield Sent(mode, running, logs, _send(running))
    finally:
        stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])


def _send(stack: LocalStack) -> dict[str, str]:
    """Each call once, by segment-analytics-python (sync mode: each call is its own request, and a
    refusal raises): every one is answered 200, whatever the plan does with it."""
    client = Client("pk_plan", host=stack.api, sync_mode=True, max_retries=0)
    tag = uuid.uuid4().hex[:8]
    ids = {name: f"plan-{tag}-{name}" for name in VIOLATIONS}
    calls: dict[str, Callable[[str], tuple[bool, Any]]] = {
        "clean-track": lambda mid: client.track("u-1", "Order Completed", ORDER, message_id=mid),
        "clean-identify": lambda mid: client.identify("u-1", {"email": "ada@example.com"}, message_id=mid),
        "wrong": lambda mid: client.track(
            "u-1", "Order Completed", {**ORDER, "total": "42.50", "gift_wrap": True}, message_id=mid
        ),
        "unplanned": lambda mid: client.track("u-1", "Coupon Applied", {"coupon": "SPRING"}, message_id=mid),
        "traits": lambda mid: client.identify(
            "u-1", {"email": "ada@example.com", "nickname": "Ada"}, message_id=mid
        ),
    }
    for name, call in calls.items():
        ok, _ = call(ids[name])
        assert ok, name
    return ids


def _kinds(event: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["kind"], v["path"]) for v in event["context"].get("violations", [])}


def _plan_metrics(logs: Path) -> dict[tuple[str, str], float]:
    """The ingest function's ``PlanViolations`` (EMF, in its log) by event and kind, summed."""
    found: dict[tuple[str, str], float] = {}
    for line in (logs / "ingest.log").read_text().splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if "_aws" in record and "PlanViolations" in record:
            key = (record["event"], record["kind"])
            values = record["PlanViolations"]  # a value, or a list of them
            found[key] = found.get(key, 0) + sum(values if isinstance(values, list) else [values])
    return found


@pytest.mark.parametrize("planned", ["observe"], indirect=True)
def test_observe_forwards_every_event_as_sent_and_counts_its_violations(planned: Sent) -> None:
    arrived = planned.arrived(set(VIOLATIONS))
    for event in arrived.values():
        assert "violations" not in event["context"]
    assert arrived["wrong"]["properties"] == {**ORDER, "total": "42.50", "gift_wrap": True}
    assert arrived["traits"]["traits"] == {"email": "ada@example.com", "nickname": "Ada"}
    assert _plan_metrics(planned.logs) == {
        ("Order Completed", "wrong_type"): 1,
        ("Order Completed", "unplanned_property"): 1,
        ("(unplanned)", "unplanned_event"): 1,
        ("(identify)", "unplanned_property"): 1,
    }


@pytest.mark.parametrize("planned", ["flag", "omit"], indirect=True)
def test_flag_and_omit_forward_violating_events_with_their_violations(planned: Sent) -> None:
    arrived = planned.arrived(set(VIOLATIONS))
    assert {name: _kinds(event) for name, event in arrived.items()} == VIOLATIONS
    assert "violations" not in arrived["clean-track"]["context"]
    messages = {v["path"]: v["message"] for v in arrived["wrong"]["context"]["violations"]}
    assert messages == {
        "properties.total": "must be number",
        "properties.gift_wrap": "is not in the tracking plan",
    }
    # flag forwards every property as sent; omit removes those the plan does not list.
    unplanned = {"gift_wrap": True} if planned.mode == "flag" else {}
    assert arrived["wrong"]["properties"] == {**ORDER, "total": "42.50", **unplanned}
    nickname = {"nickname": "Ada"} if planned.mode == "flag" else {}
    assert arrived["traits"]["traits"] == {"email": "ada@example.com", **nickname}
    assert arrived["unplanned"]["properties"] == {"coupon": "SPRING"}  # an unplanned event lists nothing


@pytest.mark.parametrize("planned", ["block"], indirect=True)
def test_block_holds_violating_events_in_the_quarantine_and_forwards_the_rest(planned: Sent) -> None:
    stack = planned.stack
    clean = {"clean-track", "clean-identify"}
    arrived = planned.arrived(clean)
    assert all("violations" not in event["context"] for event in arrived.values())
    _wait_drained(stack)  # every event that was queued has been forwarded by now
    forwarded = {e.get("messageId") for e in stack.received()["events"]}
    held = {name: planned.ids[name] for name in set(VIOLATIONS) - clean}
    assert not forwarded & set(held.values())

    messages = _quarantined(stack, set(held.values()))
    assert {m["kind"] for m in messages} == {"blocked"}
    items = {item["event"]["messageId"]: item for m in messages for item in m["rejected"]}
    for name, message_id in held.items():
        item = items[message_id]
        assert item["reason"] == "plan_violation"
        assert {(v["kind"], v["path"]) for v in item["violations"]} == VIOLATIONS[name]
        # The event as it would have been forwarded: enriched, ready to replay once fixed.
        assert item["event"]["receivedAt"].endswith("Z")
        assert item["event"]["context"]["library"]["name"] == "analytics-python"
        assert "violations" not in item["event"]["context"]
    assert items[held["wrong"]]["event"]["properties"]["gift_wrap"] is True


@pytest.mark.parametrize("planned", ["block"], indirect=True)
def test_the_live_page_shows_each_event_s_violations_and_what_was_blocked(planned: Sent) -> None:
    node = node_with(PLAYWRIGHT, CHROMIUM)
    stack = planned.stack
    assert stack.live is not None
    with LivePageWatcher(node, stack.live) as watcher:
        ids = _send(stack)  # now that the page watches
        expect = [
            {"kind": "request", "messageId": ids["wrong"], "outcome": "blocked"},
            {"kind": "request", "messageId": ids["clean-track"], "outcome": "accepted"},
            {"kind": "upstream", "messageId": ids["clean-track"], "outcome": "forwarded"},
        ]
        seen = watcher.seen({"expect": expect, "open": {"kind": "request", "messageId": ids["wrong"]}})
    assert seen["pageErrors"] == []
    assert seen["found"], json.dumps(seen["entries"], indent=1)[:4000]
    shown = {
        e["messageId"]: e for entry in seen["entries"] if entry["kind"] == "request" for e in entry["events"]
    }
    why = shown[ids["wrong"]]["why"]
    assert "wrong_type properties.total: must be number" in why
    assert "unplanned_property properties.gift_wrap: is not in the tracking plan" in why
    assert shown[ids["clean-track"]]["why"] == ""
    assert "held in the quarantine queue" in seen["opened"]
    assert "Tracking plan (block)" in seen["text"]


def test_a_plan_that_cannot_be_read_stops_the_start_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "plan.json"
    broken.write_text('{"rules": {"events": [')
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    state = tmp_path / "stack.json"
    env.update(
        {
            "PORT": "0",
            "UPSTREAM_PORT": "0",
            "LIVE_PORT": "0",
            "ARCHIVE_RETENTION_DAYS": "0",
            "INGEST_CONCURRENCY": "1",
            "FORWARD_CONCURRENCY": "1",
            "LOCAL_STATE_FILE": str(state),
            "LOCAL_LOG_DIR": str(tmp_path / "logs"),
            "TRACKING_PLAN": str(broken),
            "TRACKING_PLAN_MODE": "flag",
        }
    )
    done = subprocess.run(  # what `make run` runs
        [sys.executable, "-m", "edge_local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 1
    assert f"tracking plan {broken}: not JSON" in done.stderr
    assert "Traceback" not in done.stderr  # the reason, not the worker pool's breakdown
    assert not state.exists()  # never ready


def _wait_drained(stack: LocalStack, timeout: float = 30) -> None:
    """Until the events queue holds no message, visible or in flight."""
    sqs = stack.sqs()
    names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=stack.events_queue, AttributeNames=names)["Attributes"]
        if all(attributes[name] == "0" for name in names):
            return
        time.sleep(0.2)
    raise AssertionError("the events queue was never drained")


def _quarantined(stack: LocalStack, message_ids: set[str], timeout: float = 10) -> list[dict[str, Any]]:
    """The quarantine's messages holding ``message_ids``, once all of them are found."""
    sqs = stack.sqs()
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not message_ids <= seen and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=stack.quarantine_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", []):
            body = json.loads(message["Body"])
            found.append(body)
            seen |= {item["event"].get("messageId") for item in body.get("rejected", [])}
    assert message_ids <= seen, f"not quarantined: {sorted(message_ids - seen)}"
    return [m for m in found if {item["event"].get("messageId") for item in m["rejected"]} & message_ids]
