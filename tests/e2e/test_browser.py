"""@segment/analytics-next in headless Chromium against the local stack, cross-origin.

The test page (tests/e2e/js/page/) and the library's UMD build are served from
``http://localhost:<port>`` while the gateway listens on ``http://127.0.0.1:<port>``: a
different origin, so the browser enforces CORS for real and preflights each path (analytics.js
sends ``Authorization``). tests/e2e/js/browser-client.mjs drives Chromium with playwright-core
and reports, through the DevTools protocol, every request the browser made, preflights
included; nothing is intercepted or fulfilled by the test tool.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from support.first_party import PATH_PREFIX
from support.js import CHROMIUM, JS_DIR, PLAYWRIGHT, UMD_DIR, node_with, run_script

if TYPE_CHECKING:
    from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

SCRIPT = "browser-client.mjs"
PAGE_DIR = JS_DIR / "page"
BUNDLES = "/analytics-next/bundles/"  # where analytics-next's webpack build looks for its chunks

# analytics.js posts each event to /v1/<first letter of its type>, or batches to /v1/b.
SHORT_PATHS = {"identify": "/v1/i", "track": "/v1/t", "page": "/v1/p", "group": "/v1/g", "alias": "/v1/a"}


@pytest.fixture(scope="module")
def node() -> str:
    return node_with(UMD_DIR / "index.js", PLAYWRIGHT, CHROMIUM)


class _PageHandler(SimpleHTTPRequestHandler):
    """The test page from page/, analytics-next's UMD build and its chunks from node_modules."""

    def translate_path(self, path: str) -> str:
        url_path = urlsplit(path).path
        if url_path.startswith(BUNDLES):
            name = url_path.removeprefix(BUNDLES)
            return str(UMD_DIR / name) if name and "/" not in name and not name.startswith(".") else ""
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet access log
        pass


@pytest.fixture(scope="module")
def page_url(node: str) -> Iterator[str]:
    """The test page's URL on its own origin: ``localhost`` and a port of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_PageHandler, directory=str(PAGE_DIR)))
    thread = threading.Thread(target=server.serve_forever, name="test-page", daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _calls(tag: str) -> dict[str, list[Any]]:
    """Arguments for analytics[type](...), each with an explicit messageId in its options."""
    user = f"{tag}-user"
    return {
        "identify": [user, {"email": "b@example.com", "plan": "pro"}],
        "track": ["Button Clicked", {"button": "signup"}],
        "page": ["Docs", "Intro", {"section": 1}],
        "group": [f"{tag}-group", {"name": "Acme"}],
        # analytics-next replaces an event's userId with the identified user's: alias that user.
        "alias": [user, f"{tag}-previous"],
    }


def _run(
    node: str, page_url: str, api: str, write_key: str, strategy: str, calls: list[dict[str, Any]]
) -> dict[str, Any]:
    return run_script(node, SCRIPT, page_url, api, write_key, strategy, calls=calls, timeout=90)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("strategy", ["standard", "batching"])
@pytest.mark.parametrize("where", ["api", "prefixed"])
def test_analytics_next_in_chromium_reaches_the_upstream_across_origins(
    node: str, page_url: str, request: pytest.FixtureRequest, strategy: str, where: str
) -> None:
    # The API's own address, or a path under another (the front door's: support.first_party.PATH_PREFIX).
    stack: LocalStack = request.getfixturevalue("stack" if where == "api" else "first_party_stack")
    api = stack.api if where == "api" else f"{stack.api}{PATH_PREFIX}"
    page_origin, api_origin = _origin(page_url), _origin(api)
    assert page_origin != api_origin
    tag = f"browser-{strategy}-{where}"
    write_key = f"wk_browser_{uuid.uuid4().hex}"
    ids = {kind: f"{tag}-{kind}-{uuid.uuid4()}" for kind in SHORT_PATHS}
    calls = [{"type": kind, "args": [*args, {"messageId": ids[kind]}]} for kind, args in _calls(tag).items()]

    result = _run(node, page_url, api, write_key, strategy, calls)

    # The page: analytics-next kept the messageIds and reports every delivery a success.
    assert result["version"] == "1.84.3"
    assert [(r["type"], r["messageId"], r["failed"]) for r in result["results"]] == [
        (kind, ids[kind], None) for kind in SHORT_PATHS
    ]
    assert result["pageErrors"] == []
    errors = [m["text"] for m in result["console"] if m["type"] == "error" or "CORS" in m["text"]]
    assert errors == []

    # The browser: nothing left the two local origins, nothing failed, nothing was retried, and
    # every POST to the API was preflighted, successfully.
    expected_paths = sorted(SHORT_PATHS.values()) if strategy == "standard" else ["/v1/b"]
    expected_paths = [urlsplit(api).path + path for path in expected_paths]
    _assert_cross_origin_posts(result["network"], page_origin, api, write_key, expected_paths)

    # The upstream: every event once, with its messageId and type, enriched, without the write key.
    received = stack.wait_for(set(ids.values()))
    assert len(received) == len(ids), "an event arrived more than once"
    assert {e["messageId"]: e["type"] for e in received} == {mid: kind for kind, mid in ids.items()}
    for event in received:
        assert event["context"]["library"]["name"] == "analytics.js"
        assert "Chrome" in event["context"]["userAgent"]
        assert event["context"]["userAgent"] == result["userAgent"]
        assert event["context"]["ip"] == "127.0.0.1"
        assert event["context"]["page"]["url"] == page_url
        assert event["receivedAt"].endswith("Z")
        assert "writeKey" not in event
    by_type = {e["type"]: e for e in received}
    assert (by_type["track"]["event"], by_type["track"]["properties"]) == (
        "Button Clicked",
        {"button": "signup"},
    )
    assert by_type["identify"]["traits"] == {"email": "b@example.com", "plan": "pro"}
    assert (by_type["alias"]["userId"], by_type["alias"]["previousId"]) == (f"{tag}-user", f"{tag}-previous")
    assert by_type["group"]["groupId"] == f"{tag}-group"
    assert (by_type["page"]["category"], by_type["page"]["name"]) == ("Docs", "Intro")
    assert write_key not in json.dumps(stack.received()["events"])


def _assert_cross_origin_posts(
    network: list[dict[str, Any]], page_origin: str, api: str, write_key: str, expected_paths: list[str]
) -> None:
    """What Chromium did on the wire, as the DevTools protocol reported it."""
    api_origin = _origin(api)
    assert {_origin(r["url"]) for r in network} <= {page_origin, api_origin}
    api_requests = [r for r in network if r["url"].startswith(f"{api}/")]
    assert [r for r in api_requests if r.get("error") or r.get("corsError")] == []
    posts = [r for r in api_requests if r["method"] == "POST" and r["url"] != f"{api}/v1/m"]
    assert sorted(urlsplit(r["url"]).path for r in posts) == expected_paths
    basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    for post in posts:
        headers, answer = post["requestHeaders"], post["responseHeaders"]
        assert post["status"] == 200, post
        assert headers["content-type"] == "text/plain"
        assert headers["authorization"] == basic
        assert headers["origin"] == page_origin
        assert "x-retry-count" not in headers
        # Without the allowance on the POST's answer too, the browser reports a failure (and retries).
        assert answer["access-control-allow-origin"] in ("*", page_origin)

        preflights = [r for r in api_requests if r.get("preflightFor") == post["id"]]
        assert len(preflights) == 1, f"POST {post['url']} was not preflighted"
        preflight = preflights[0]
        asked, allowed = preflight["requestHeaders"], preflight["responseHeaders"]
        assert (preflight["method"], preflight["url"]) == ("OPTIONS", post["url"])
        assert 200 <= preflight["status"] < 300
        assert asked["origin"] == page_origin
        assert asked["access-control-request-method"] == "POST"
        assert "authorization" in asked["access-control-request-headers"].split(",")
        assert allowed["access-control-allow-origin"] in ("*", page_origin)
        assert "authorization" in allowed["access-control-allow-headers"].lower().split(",")
        assert "POST" in allowed["access-control-allow-methods"].split(",")
    # analytics-next's own telemetry (/v1/m: text/plain, no credentials, so no preflight) is answered.
    telemetry = [r for r in api_requests if r["url"] == f"{api}/v1/m"]
    assert all(r["status"] == 200 and r["method"] == "POST" for r in telemetry)
