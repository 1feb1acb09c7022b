"""First-party collection through the local stack: the API under a path prefix on the site's own
origin, and the ajs_anonymous_id cookie the edge sets, with real HTTP and analytics-next in
Chromium on a page served from the API's origin (``http://localhost:<port>/``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from edge_local.clients import client
from support.analytics_node import every_type_calls, run_node_client
from support.first_party import PATH_PREFIX
from support.js import CHROMIUM, PLAYWRIGHT, UMD_DIR, LivePageWatcher, node_with, run_script

if TYPE_CHECKING:
    from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

YEAR = 365 * 86400


def _site(stack: LocalStack) -> str:
    """The stack's origin as a browser names the site: localhost, the gateway's port."""
    return f"http://localhost:{urlsplit(stack.api).port}"


def _post(url: str, body: dict[str, Any], origin: str | None) -> tuple[int, list[str]]:
    headers = {"Content-Type": "text/plain"} | ({"Origin": origin} if origin else {})
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get_all("Set-Cookie") or []


def test_the_api_answers_under_the_prefix_and_sets_the_cookie_for_pages_of_the_domain(
    first_party_stack: LocalStack,
) -> None:
    site = _site(first_party_stack)
    anonymous_id = f"anon-{uuid.uuid4()}"
    message_id = f"fp-{uuid.uuid4()}"
    event = {"anonymousId": anonymous_id, "event": "Prefixed", "messageId": message_id}
    status, cookies = _post(f"{site}{PATH_PREFIX}/v1/t", event, site)
    assert status == 200
    assert cookies == [
        f"ajs_anonymous_id={anonymous_id}; Path=/; Domain=localhost; Max-Age={YEAR}; Secure; SameSite=Lax"
    ]
    [received] = first_party_stack.wait_for({message_id})
    assert received["anonymousId"] == anonymous_id

    # A lookalike origin, or none, gets no cookie; the API stays on its own path too.
    assert _post(f"{site}{PATH_PREFIX}/v1/t", event, "http://notlocalhost:1") == (200, [])
    assert _post(f"{site}/v1/t", event, None) == (200, [])
    # Outside the prefix, and a prefix-lookalike, are no routes.
    assert _post(f"{site}{PATH_PREFIX}x/v1/t", event, site)[0] == 404
    assert _post(f"{site}/elsewhere{PATH_PREFIX}/v1/t", event, site)[0] == 404


def _post_as(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def test_forged_viewer_headers_never_set_the_ip_and_the_origin_verify_value_is_never_logged(
    first_party_stack: LocalStack, first_party_logs: Path
) -> None:
    site = _site(first_party_stack)
    secrets = client("secretsmanager", first_party_stack.aws)
    verify = secrets.get_secret_value(SecretId="metarouter-edge/origin-verify")["SecretString"]
    forged = {
        "Content-Type": "text/plain",
        "CloudFront-Viewer-Address": "198.51.100.9:4000",
        "X-Forwarded-For": "198.51.100.10",
        "X-Origin-Verify": "forged-value",
    }
    ids = {f"forged-{where}-{uuid.uuid4()}": where for where in ("direct", "prefixed")}
    for message_id, where in ids.items():
        url = f"{site}/v1/t" if where == "direct" else f"{site}{PATH_PREFIX}/v1/t"
        assert _post_as(url, {"anonymousId": "a", "event": "Forged", "messageId": message_id}, forged) == 200
    # The API's own address: the headers are ignored (no match). The front door's: the gateway,
    # as CloudFront, replaces them with the real viewer's and the true origin-verify value.
    received = first_party_stack.wait_for(set(ids))
    assert {e["context"]["ip"] for e in received} == {"127.0.0.1"}
    logged = "".join(p.read_text() for p in first_party_logs.glob("*.log")) + "\n".join(
        first_party_stack.output
    )
    assert "ingest" in {p.stem for p in first_party_logs.glob("*.log")}
    assert verify not in logged
    assert verify not in json.dumps(first_party_stack.received())


def test_the_site_s_page_is_served_only_for_get_and_only_from_its_directory(
    first_party_stack: LocalStack,
) -> None:
    site = _site(first_party_stack)
    with urllib.request.urlopen(f"{site}/", timeout=10) as response:  # noqa: S310
        assert b"analytics-next" in response.read()
    for path in ("/../conftest.py", "/%2e%2e/conftest.py", "/missing.html"):
        with pytest.raises(urllib.error.HTTPError) as exc_info:
            urllib.request.urlopen(f"{site}{path}", timeout=10)  # noqa: S310
        with exc_info.value as error:
            assert error.code == 404


@pytest.fixture(scope="module")
def node() -> str:
    return node_with(UMD_DIR / "index.js", PLAYWRIGHT, CHROMIUM)


def test_analytics_next_on_the_site_s_origin_gets_its_anonymous_id_back_from_the_edge_cookie(
    node: str, first_party_stack: LocalStack
) -> None:
    site = _site(first_party_stack)
    api = f"{site}{PATH_PREFIX}"
    write_key = f"wk_first_party_{uuid.uuid4().hex}"
    result = run_script(node, "first-party-client.mjs", f"{site}/", api, write_key, timeout=120)
    assert result["pageErrors"] == []
    first, second = result["first"], result["second"]
    assert first["failed"] == [None, None]
    assert second["failed"] == [None]

    # Every event went to the site's own origin, under the prefix, and was answered with the cookie.
    assert sorted(urlsplit(p["url"]).path for p in result["posts"] if not p["url"].endswith("/v1/m")) == [
        f"{PATH_PREFIX}/v1/p",
        f"{PATH_PREFIX}/v1/t",
        f"{PATH_PREFIX}/v1/t",
    ]
    assert all(p["status"] == 200 for p in result["posts"])

    # The first visit wrote no cookie of its own (localStorage only): this one is the edge's,
    # for the whole site, readable by scripts, and kept for a year.
    [cookie] = [c for c in result["cookies"] if c["name"] == "ajs_anonymous_id"]
    assert cookie["value"] == first["anonymousId"]
    assert (cookie["domain"].lstrip("."), cookie["path"]) == ("localhost", "/")
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, False, "Lax")
    assert YEAR - 120 <= cookie["expires"] - result["now"] <= YEAR + 120

    # With localStorage gone, the reloaded page read the cookie: the same anonymous user.
    assert second["anonymousId"] == first["anonymousId"]
    received = first_party_stack.wait_for(set(first["messageIds"] + second["messageIds"]))
    assert {e["anonymousId"] for e in received} == {first["anonymousId"]}
    assert {e["context"]["page"]["url"] for e in received} == {f"{site}/"}


def _onetrust(groups: str) -> str:
    """OneTrust's OptanonConsent after the visitor saved a choice, as its script writes it."""
    return (
        "isGpcEnabled=0&datestamp=Tue+Nov+14+2023+23%3A13%3A20+GMT%2B0100+(Central+European+Standard+Time)"
        f"&version=202310.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId={uuid.uuid4()}"
        "&interactionCount=2&isAnonUser=1&landingPath=NotLandingPage"
        f"&groups={groups}&AwaitingReconsent=false&geolocation=US%3BCA"
    )


def test_a_browser_s_consent_cookie_goes_with_each_beacon_and_decides_what_metarouter_gets(
    node: str, first_party_stack: LocalStack
) -> None:
    """The stack reads OneTrust's cookie, requires C0002 and has GPC opt out of C0004. A visitor
    who consents to all but C0003, then opts out of C0002, then consents again with GPC on."""
    assert first_party_stack.live is not None
    site = _site(first_party_stack)
    consented = _onetrust("C0001%3A1%2CC0002%3A1%2CC0003%3A0%2CC0004%3A1")
    opted_out = _onetrust("C0001%3A1%2CC0002%3A0%2CC0003%3A0%2CC0004%3A1")
    steps = [
        {"cookie": {"name": "OptanonConsent", "value": consented}, "gpc": False, "event": "Consented"},
        {"cookie": {"name": "OptanonConsent", "value": opted_out}, "gpc": False, "event": "Opted Out"},
        {"cookie": {"name": "OptanonConsent", "value": consented}, "gpc": True, "event": "With GPC"},
    ]
    with LivePageWatcher(node, first_party_stack.live) as watcher:
        api = f"{site}{PATH_PREFIX}"
        write_key = f"wk_consent_{uuid.uuid4().hex}"
        result = run_script(
            node, "first-party-consent.mjs", f"{site}/", api, write_key, calls=steps, timeout=120
        )
        ids = {step["event"]: step["messageId"] for step in result["steps"]}
        expect = [
            {"kind": "request", "messageId": ids["Consented"], "outcome": "accepted"},
            {"kind": "request", "messageId": ids["Opted Out"], "outcome": "dropped"},
            {"kind": "request", "messageId": ids["With GPC"], "outcome": "accepted"},
            {"kind": "upstream", "messageId": ids["With GPC"], "outcome": "forwarded"},
        ]
        seen = watcher.seen({"expect": expect})
    assert result["pageErrors"] == []
    assert [step["failed"] for step in result["steps"]] == [None, None, None]

    # Each beacon went to the site's own origin with the cookie as it stood, and was answered 200.
    tracks = [p for p in result["posts"] if urlsplit(p["url"]).path == f"{PATH_PREFIX}/v1/t"]
    assert [p["status"] for p in tracks] == [200, 200, 200]
    assert [
        f"OptanonConsent={step['cookie']['value']}" in (p["cookie"] or "")
        for p, step in zip(tracks, steps, strict=True)
    ] == [True] * 3
    assert [p["gpc"] for p in tracks] == [None, None, "1"]

    # MetaRouter gets the cookie's consent in its own format, GPC's opt-out over it; never the
    # event of the visitor who opted out of the required category.
    received = {e["messageId"]: e for e in first_party_stack.wait_for({ids["Consented"], ids["With GPC"]})}
    assert received[ids["Consented"]]["context"]["consent"] == {
        "explicit": True,
        "optOut": {"C0001": False, "C0002": False, "C0003": True, "C0004": False},
    }
    assert received[ids["With GPC"]]["context"]["consent"] == {
        "explicit": True,
        "optOut": {"C0001": False, "C0002": False, "C0003": True, "C0004": True},
    }
    assert ids["Opted Out"] not in {e.get("messageId") for e in first_party_stack.received()["events"]}

    # The live page says what ingest did and why.
    assert seen["found"], json.dumps(seen["entries"], indent=1)[:4000]
    shown = {
        (entry["kind"], event["messageId"]): event for entry in seen["entries"] for event in entry["events"]
    }
    assert shown["request", ids["Consented"]]["consent"] == "onetrust cookie: opts out of C0003 (explicit)"
    assert shown["request", ids["Opted Out"]]["why"] == "consent"
    assert (
        shown["request", ids["Opted Out"]]["consent"]
        == "onetrust cookie: opts out of C0002, C0003 (explicit)"
    )
    assert shown["request", ids["With GPC"]]["consent"] == (
        "onetrust cookie: opts out of C0003, C0004 (explicit) · GPC"
    )
    assert shown["upstream", ids["With GPC"]]["consent"] == "opts out of C0003, C0004 (explicit)"


def test_server_sdks_reach_the_upstream_through_the_prefix(first_party_stack: LocalStack) -> None:
    from segment.analytics import Client

    client = Client(
        "pk_web_7f3a", host=f"{first_party_stack.api}{PATH_PREFIX}", sync_mode=True, max_retries=0
    )
    ids = {f"py-prefixed-{kind}-{uuid.uuid4()}": kind for kind in ("track", "identify")}
    for message_id, kind in ids.items():
        if kind == "track":
            ok, _ = client.track("u-1", "Prefixed", {"n": 1}, message_id=message_id)
        else:
            ok, _ = client.identify("u-1", {"plan": "pro"}, message_id=message_id)
        assert ok
    received = first_party_stack.wait_for(set(ids))
    assert {e["messageId"]: e["type"] for e in received} == ids
    assert {e["context"]["library"]["name"] for e in received} == {"analytics-python"}


def test_analytics_node_reaches_the_upstream_through_the_prefix(
    node: str, first_party_stack: LocalStack
) -> None:
    api = f"{first_party_stack.api}{PATH_PREFIX}"
    calls = every_type_calls("node-prefixed")  # the calls test_analytics_node.py sends, here prefixed
    result = run_node_client(node, api, f"wk_node_{uuid.uuid4().hex}", calls)
    assert not result["failed"]
    assert {(r["url"], r["status"]) for r in result["responses"]} == {(f"{api}/v1/batch", 200)}
    sent = {s["messageId"]: s["type"] for s in result["sent"]}
    received = first_party_stack.wait_for(set(sent))
    assert {e["messageId"]: e["type"] for e in received} == sent
