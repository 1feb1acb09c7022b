"""MetaRouter's custom events through ``make run``'s stack, with real HTTP: the gateway, ingest, the
queue, the poller, the forwarder and the recording upstream stand-in; under the path prefix with
CORS and the first-party cookie too."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest

from edge.core.secret import fingerprint
from support.first_party import PATH_PREFIX

if TYPE_CHECKING:
    from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def _wait_for_custom(
    stack: LocalStack, event_ids: set[str], timeout: float = 60
) -> dict[str, dict[str, Any]]:
    """The custom events the upstream recorded, by eventID, once all of ``event_ids`` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            e["_metarouter"]["eventID"]: e
            for e in stack.received()["events"]
            if isinstance(e.get("_metarouter"), dict) and e["_metarouter"].get("eventID") in event_ids
        }
        if set(found) == event_ids:
            return found
        assert time.monotonic() < deadline, f"never reached the upstream: {sorted(event_ids - set(found))}"
        time.sleep(0.2)


def test_custom_events_reach_the_upstream_from_every_metadata_location_with_the_source(
    closed_stack: LocalStack,
) -> None:
    base = f"{closed_stack.api}/v1/custom/event"
    ids = {where: f"e2e-{where}-{uuid.uuid4()}" for where in ("body", "legacy", "header", "query")}
    sent = [
        _post(
            base,
            {"n": 1, "_metarouter": {"writeKey": "pk_ios_91bc", "eventName": "a", "eventID": ids["body"]}},
        ),
        _post(
            base,
            {"n": 2, "_mrSchema": {"writeKey": "pk_ios_91bc", "eventName": "b", "eventID": ids["legacy"]}},
        ),
        _post(
            base,
            {"n": 3},
            {
                "X-Event-Metadata": json.dumps(
                    {"writeKey": "pk_ios_91bc", "eventName": "c", "eventID": ids["header"]}
                )
            },
        ),
        _post(
            f"{base}?{urlencode({'writeKey': 'pk_ios_91bc', 'eventName': 'd', 'eventID': ids['query']})}",
            {"n": 4, "writeKey": "pk_ios_91bc"},
        ),
    ]
    assert [status for status, _, _ in sent] == [200, 200, 200, 200]
    events = _wait_for_custom(closed_stack, set(ids.values()))
    # The stand-in checked writeKey against Basic auth and records it as the Source's fingerprint.
    # (One Source only: other tests of this shared stack count the Sources it forwarded for.)
    ios = fingerprint("SRC_IOS")
    assert {where: events[ids[where]]["_metarouter"]["writeKey"] for where in ids} == dict.fromkeys(ids, ios)
    for where, number in zip(ids, (1, 2, 3, 4), strict=True):
        event = events[ids[where]]
        assert set(event) == {"n", "_metarouter"}
        assert event["n"] == number
        assert event["_metarouter"]["ip"] == "127.0.0.1"
        assert event["_metarouter"]["timestamp"].endswith("Z")
    requests = closed_stack.received()["requests"]
    assert {r["path"] for r in requests if r["status"] == 200} >= {"/v1/custom/event"}

    status, _, answer = _post(
        base, {"n": 5}, {"X-Event-Metadata": json.dumps({"writeKey": "pk_unknown", "eventName": "x"})}
    )
    assert (status, answer["error"]["code"]) == (401, "invalid_write_key")
    status, _, answer = _post(base, {"n": 6, "_metarouter": {"writeKey": "pk_ios_91bc"}})
    assert (status, answer["error"]["details"][0]["field"]) == (400, "_metarouter.eventName")


def test_a_custom_event_under_the_prefix_gets_cors_and_the_first_party_cookie(
    first_party_stack: LocalStack,
) -> None:
    site = f"http://localhost:{urlsplit(first_party_stack.api).port}"
    url = f"{site}{PATH_PREFIX}/v1/custom/event"
    preflight = urllib.request.Request(  # noqa: S310
        url,
        method="OPTIONS",
        headers={
            "Origin": site,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-event-metadata",
        },
    )
    with urllib.request.urlopen(preflight, timeout=10) as response:  # noqa: S310
        assert "x-event-metadata" in response.headers["Access-Control-Allow-Headers"]
    anonymous_id, event_id = f"anon-{uuid.uuid4()}", f"fp-{uuid.uuid4()}"
    metadata = {"eventName": "video_progress", "anonymousID": anonymous_id, "eventID": event_id}
    status, headers, _ = _post(
        url, {"percent": 75}, {"Origin": site, "X-Event-Metadata": json.dumps(metadata)}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] in (site, "*")
    assert headers["Set-Cookie"].startswith(f"ajs_anonymous_id={anonymous_id};")
    [event] = _wait_for_custom(first_party_stack, {event_id}).values()
    assert event["percent"] == 75
