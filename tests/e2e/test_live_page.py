"""The live events page in headless Chromium, while events go through the local stack's API.

tests/e2e/js/live-page.mjs opens the page (playwright-core, Debian's chromium), reports once its
event stream is connected, and then waits until the page lists what this test expects; it
clicks an entry and its event as a person would, and returns what the page shows.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from support.js import CHROMIUM, PLAYWRIGHT, LivePageWatcher, node_with

if TYPE_CHECKING:
    from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

SOURCE_ID = "LOCAL_SOURCE_ID"  # the shared stack's open-mode Source ID (tests/e2e/conftest.py)


@pytest.fixture(scope="module")
def node() -> str:
    return node_with(PLAYWRIGHT, CHROMIUM)


def _post(api: str, path: str, body: dict[str, Any], write_key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the local stack
        f"{api}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _stream(live: str) -> str:
    """What the page's event stream holds now (the ring), read until it goes quiet."""
    chunks: list[bytes] = []
    with urllib.request.urlopen(f"{live}events", timeout=2) as response:  # noqa: S310
        try:
            while chunk := response.read1(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks).decode()


def test_live_page_shows_each_outcome_and_reason_and_never_a_key(node: str, stack: LocalStack) -> None:
    assert stack.live is not None
    tag = uuid.uuid4().hex[:12]
    write_key = f"wk_live_{uuid.uuid4().hex}"
    ok, bad, kept, dropped, poison = (
        f"live-{tag}-{name}" for name in ("ok", "bad", "kept", "dropped", "poison")
    )
    stack.faults({"poison": [poison]})  # the stand-in answers 400 to any request carrying it

    try:
        with LivePageWatcher(node, stack.live) as watcher:
            valid = {"userId": f"u-{tag}", "event": "Order Completed", "messageId": ok, "writeKey": write_key}
            assert _post(stack.api, "/v1/track", valid, write_key) == (200, {"success": True})
            status, answer = _post(
                stack.api, "/v1/track", {"userId": f"u-{tag}", "messageId": bad}, write_key
            )
            assert (status, answer["error"]["code"]) == (400, "invalid_event")
            batch = {
                "writeKey": write_key,
                "batch": [
                    {"type": "page", "name": "Pricing", "anonymousId": f"a-{tag}", "messageId": kept},
                    {"type": "track", "anonymousId": f"a-{tag}", "messageId": dropped},
                    {"type": "identify", "userId": f"p-{tag}", "messageId": poison},
                ],
            }
            status, answer = _post(stack.api, "/v1/batch", batch, write_key)
            assert (status, [r["messageId"] for r in answer["rejected"]]) == (200, [dropped])

            expect = [
                {"kind": "request", "messageId": ok, "outcome": "accepted"},
                {"kind": "upstream", "messageId": ok, "outcome": "forwarded"},
                {"kind": "request", "messageId": bad, "outcome": "rejected"},
                {"kind": "request", "messageId": kept, "outcome": "accepted"},
                {"kind": "request", "messageId": dropped, "outcome": "rejected"},
                {"kind": "upstream", "messageId": kept, "outcome": "forwarded"},
                {"kind": "dead-letter", "messageId": poison, "outcome": "dead-lettered"},
            ]
            seen = watcher.seen(
                {
                    "expect": expect,
                    "open": {"kind": "request", "messageId": ok},
                    "filter": {"type": "page", "outcome": "dead-lettered", "text": bad},
                }
            )
    finally:
        stack.faults(None)
    assert seen["pageErrors"] == []
    assert [m for m in seen["console"] if m["type"] == "error"] == []
    assert seen["found"], json.dumps(seen["entries"], indent=1)[:4000]

    events = [(entry, event) for entry in seen["entries"] for event in entry["events"]]

    def why(kind: str, message_id: str) -> str:
        return next(e["why"] for entry, e in events if entry["kind"] == kind and e["messageId"] == message_id)

    # Rejections carry their field errors; the parked event its reason.
    assert why("request", bad) == "event: is required"
    assert why("request", dropped) == "event: is required"
    assert why("request", kept) == ""
    assert why("dead-letter", poison) == "upstream_rejected"
    single = next(entry for entry, e in events if entry["kind"] == "request" and e["messageId"] == bad)
    assert (single["outcome"], single["status"]) == ("rejected", "400")
    # The stand-in refused the poisoned event's request (400): the page shows that answer too.
    assert any(
        entry["kind"] == "upstream" and e["messageId"] == poison and e["outcome"] == "refused"
        for entry, e in events
    )

    _assert_filters(seen, bad)

    # Clicking the valid event shows it as MetaRouter received it: enriched, without its key.
    opened = json.loads(seen["opened"])
    assert (opened["messageId"], opened["event"], opened["userId"]) == (ok, "Order Completed", f"u-{tag}")
    assert opened["context"]["ip"] == "127.0.0.1"
    assert "writeKey" not in opened

    # No key and no Source ID anywhere: not on the page, not in its stream.
    stream = _stream(stack.live)
    assert ok in stream
    assert poison in stream
    for shown in (seen["html"], seen["text"], seen["opened"], stream):
        assert write_key not in shown
        assert SOURCE_ID not in shown
        assert "authorization" not in shown.lower()
        assert "writeKey" not in shown


def _assert_filters(seen: dict[str, Any], text: str) -> None:
    """What stayed visible with the type filter on page, the outcome one on dead-lettered, and
    ``text`` in the search box."""
    by_type, by_outcome, by_text = (seen["filtered"][name] for name in ("type", "outcome", "text"))
    assert by_type
    assert all("page" in entry["types"] for entry in by_type)
    assert by_outcome
    assert all("dead-lettered" in entry["outcomes"] for entry in by_outcome)
    assert [entry["kind"] for entry in by_text] == ["request"]
    assert text in by_text[0]["text"]
    assert len(by_text) < len(seen["entries"])
