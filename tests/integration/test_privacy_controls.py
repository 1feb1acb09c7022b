"""The privacy controls through the ingest handler: what is forwarded, what is answered, what is
counted — and that a filtered event is neither queued nor quarantined nor logged."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.core.config import IngestSettings
from edge.ingest.wiring import build_first_party, build_ingestor
from support.apigw import api_event, load_event

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
TRACK = {"type": "track", "userId": "u-1", "event": "Clicked"}


@pytest.fixture
def configure(ingest_settings, monkeypatch):
    """Rebuild the handler's ingest service with these privacy settings."""
    from ingest import app

    def apply(**env: str) -> None:
        base = {
            f.metadata["variable"]: str(getattr(ingest_settings, f.name))
            for f in fields(ingest_settings)
            if isinstance(getattr(ingest_settings, f.name), str | int)
        }
        settings = IngestSettings.from_env({**base, **env})
        monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings))
        monkeypatch.setattr(app.api, "first_party", build_first_party(settings))

    return apply


def _metrics(capsys) -> dict[tuple[str, str], float]:
    counted: dict[tuple[str, str], float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = metric["Name"]
            key = (name, record.get("reason", record.get("repair", "")))
            counted[key] = counted.get(key, 0) + sum(record[name])
    return counted


def test_a_crawler_s_events_are_flagged_by_default(ingest, aws_stack, capsys):
    assert (
        ingest(api_event("POST", "/v1/track", TRACK, headers={"user-agent": GOOGLEBOT}))["statusCode"] == 200
    )
    [event] = aws_stack.queued_events()
    assert event["context"]["isBot"] is True
    assert _metrics(capsys)[("EventsFlaggedAsBots", "")] == 1


def test_every_event_of_a_crawler_s_batch_is_counted_as_flagged(ingest, aws_stack, capsys):
    body = {"batch": [{**TRACK, "type": "track"}, {**TRACK, "type": "track"}]}
    response = ingest(api_event("POST", "/v1/batch", body, headers={"user-agent": GOOGLEBOT}))
    assert response["statusCode"] == 200
    assert _metrics(capsys)[("EventsFlaggedAsBots", "")] == 2


def test_a_browser_s_events_are_not_flagged(ingest, aws_stack, capsys):
    assert ingest(api_event("POST", "/v1/track", TRACK, headers={"user-agent": CHROME}))["statusCode"] == 200
    counted = _metrics(capsys)
    assert ("EventsFlaggedAsBots", "") not in counted
    assert ("FieldsHashed", "") not in counted
    [event] = aws_stack.queued_events()
    assert "isBot" not in event["context"]


def test_a_server_sdk_s_events_are_never_flagged(ingest, aws_stack):
    body = {**TRACK, "context": {"library": {"name": "analytics-python", "version": "2.3.0"}}}
    headers = {"user-agent": "python-requests/2.32.3"}
    assert ingest(api_event("POST", "/v1/track", body, headers=headers))["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert "isBot" not in event["context"]


def test_bots_dropped_are_answered_200_and_neither_queued_nor_quarantined(
    ingest, aws_stack, configure, capsys
):
    configure(BOT_POLICY="drop")
    body = {"batch": [{**TRACK, "messageId": f"m-{i}"} for i in range(3)] + [{"type": "track"}]}
    response = ingest(api_event("POST", "/v1/batch", body, headers={"user-agent": GOOGLEBOT}))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []
    assert _metrics(capsys)[("EventsFiltered", "bot")] == 4


def test_bot_policy_keep_forwards_a_crawler_s_events_untouched(ingest, aws_stack, configure):
    configure(BOT_POLICY="keep")
    assert (
        ingest(api_event("POST", "/v1/track", TRACK, headers={"user-agent": GOOGLEBOT}))["statusCode"] == 200
    )
    [event] = aws_stack.queued_events()
    assert "isBot" not in event["context"]


def test_gpc_anonymize_anonymizes_only_requests_that_send_it(ingest, aws_stack, configure):
    configure(GPC_POLICY="anonymize")
    for headers in ({"sec-gpc": "1"}, {}):
        assert (
            ingest(api_event("POST", "/v1/track", TRACK, headers=headers, source_ip="203.0.113.7"))[
                "statusCode"
            ]
            == 200
        )
    first, second = aws_stack.queued_events()
    assert (first["context"]["ip"], second["context"]["ip"]) == ("203.0.113.0", "203.0.113.7")


def test_gpc_drop_answers_200_and_queues_nothing(ingest, aws_stack, configure, capsys):
    configure(GPC_POLICY="drop")
    response = ingest(api_event("POST", "/v1/track", {"event": "no identity"}, headers={"sec-gpc": "1"}))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []
    assert _metrics(capsys)[("EventsFiltered", "gpc")] == 1


def test_in_a_batch_only_the_items_denying_consent_are_dropped(ingest, aws_stack, configure, capsys):
    configure(REQUIRED_CONSENT="analytics")

    def item(name: str, **preferences: bool) -> dict:
        consent = {"consent": {"categoryPreferences": preferences}} if preferences else {}
        return {**TRACK, "messageId": name, "context": consent}

    body = {"batch": [item("yes", analytics=True), item("no", analytics=False), item("unsaid")]}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert [e["messageId"] for e in aws_stack.queued_events()] == ["yes", "unsaid"]
    assert _metrics(capsys)[("EventsFiltered", "consent")] == 1


def test_a_single_event_denying_consent_is_answered_as_accepted(ingest, aws_stack, configure):
    configure(REQUIRED_CONSENT="marketing", CONSENT_WHEN_MISSING="drop")
    denied = {**TRACK, "context": {"consent": {"categoryPreferences": {"marketing": False}}}}
    for body in (denied, TRACK):
        assert ingest(api_event("POST", "/v1/track", body))["statusCode"] == 200
    assert aws_stack.queued_events() == []


def test_configured_fields_are_hashed_before_anything_is_queued_or_quarantined(
    ingest, aws_stack, configure, capsys
):
    configure(HASH_FIELDS="traits.email,context.traits.email")
    digest = hashlib.sha256(b"ada@example.com").hexdigest()
    body = {
        "batch": [
            {"type": "identify", "userId": "u-1", "traits": {"email": " Ada@Example.com"}},
            {"type": "identify", "traits": {"email": "ada@example.com"}},  # invalid: quarantined
            {"type": "track", "userId": "u-1", "event": "E"},
        ],
        "context": {"traits": {"email": "ADA@example.com"}},
    }
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    first, second = aws_stack.queued_events()
    assert first["traits"]["email"] == digest
    assert first["context"]["traits"]["email"] == second["context"]["traits"]["email"] == digest
    [quarantined] = aws_stack.quarantined()
    assert quarantined["event"]["traits"]["email"] == digest
    assert "ada@example.com" not in json.dumps(aws_stack.messages(aws_stack.events_url)).lower()
    assert _metrics(capsys)[("FieldsHashed", "")] == 3


@pytest.mark.parametrize(("gpc_policy", "cookies"), [("drop", 0), ("anonymize", 1)])
def test_a_request_whose_events_are_all_filtered_gets_no_anonymous_id_cookie(
    ingest, configure, gpc_policy, cookies
):
    configure(GPC_POLICY=gpc_policy, COOKIE_DOMAIN="example.com")
    headers = {"sec-gpc": "1", "origin": "https://www.example.com"}
    response = ingest(api_event("POST", "/v1/track", {**TRACK, "anonymousId": "anon-1"}, headers=headers))
    assert response["statusCode"] == 200
    assert len(response.get("cookies") or []) == cookies


# -- consent: MetaRouter's object, the consent platform's cookie, GPC per category ---------------

CONSENT_ON = {"CONSENT_COOKIE": "onetrust", "GPC_OPT_OUT": "C0004,C0005"}
#: The sample's OptanonConsent: C0002 and C0004 opted out, a saved choice; and Sec-GPC: 1.
SAMPLE_OPT_OUT = {"C0001": False, "C0002": True, "C0003": False, "C0004": True, "C0005": True}


def test_a_first_party_page_event_is_forwarded_with_the_cookie_s_consent_and_gpc_s_opt_outs(
    ingest, aws_stack, configure, capsys
):
    configure(**CONSENT_ON)
    response = ingest(load_event("apigw-page-first-party-consent-cookie.json"))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    [event] = aws_stack.queued_events()
    assert event["context"]["consent"] == {"explicit": True, "optOut": SAMPLE_OPT_OUT}
    counted = _metrics(capsys)
    assert counted[("EventsConsentFromCookie", "")] == 1
    assert ("EventsGpcOptedOut", "") not in counted  # GPC's marks count as opt-outs
    assert ("ConsentCookiesUnreadable", "") not in counted


@pytest.mark.parametrize("required", ["C0002", "C0005", "C0001,C0004"])
def test_an_event_the_cookie_or_gpc_opts_out_of_a_required_category_is_answered_and_dropped(
    ingest, aws_stack, configure, capsys, required
):
    configure(**CONSENT_ON, REQUIRED_CONSENT=required)
    response = ingest(load_event("apigw-page-first-party-consent-cookie.json"))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []
    assert _metrics(capsys)[("EventsFiltered", "consent")] == 1


def test_in_a_batch_each_item_keeps_its_own_consent_else_the_batch_s_else_the_cookie_s(
    ingest, aws_stack, configure, capsys
):
    configure(CONSENT_COOKIE="onetrust", REQUIRED_CONSENT="C0003")
    cookie = "OptanonConsent=interactionCount=0&landingPath=%2F&groups=C0001%3A1%2CC0003%3A1%2CC0004%3A0"

    def item(name: str, consent: dict | None = None) -> dict:
        return {**TRACK, "messageId": name, **({"context": {"consent": consent}} if consent else {})}

    strings = {"explicit": "false", "optOut": {"C0003": "false", "C0004": "true"}}
    body = {
        "batch": [
            item("own", {"optOut": {"C0003": False}}),
            item("own-denied", {"categoryPreferences": {"C0003": False}}),
            item("own-strings", strings),
            item("own-string-opt-out", {"optOut": {"C0003": "true"}}),
            item("no-consent"),
        ]
    }
    assert ingest(api_event("POST", "/v1/batch", body, cookies=[cookie]))["statusCode"] == 200
    forwarded = {e["messageId"]: e["context"].get("consent") for e in aws_stack.queued_events()}
    assert forwarded == {
        "own": {"optOut": {"C0003": False}},
        "own-strings": {"explicit": False, "optOut": {"C0003": False, "C0004": True}},
        "no-consent": {"explicit": False, "optOut": {"C0001": False, "C0003": False, "C0004": True}},
    }
    counted = _metrics(capsys)
    assert counted[("EventsFiltered", "consent")] == 2
    assert counted[("EventsRepaired", "consent_string")] == 1  # once, for the one event with strings
    assert counted[("EventsConsentFromCookie", "")] == 1

    # The batch's own consent stands for every item without one, before the cookie's.
    batch = {"batch": [item("batch-1"), item("batch-2")], "context": {"consent": {"optOut": {"C0003": True}}}}
    assert ingest(api_event("POST", "/v1/batch", batch, cookies=[cookie]))["statusCode"] == 200
    assert _metrics(capsys)[("EventsFiltered", "consent")] == 2


@pytest.mark.parametrize(
    "cookie",
    [
        "OptanonConsent=isGpcEnabled=0&datestamp=Tue+Nov+14+2023&groups=C0001%3A1%2CC00",  # cut short
        "OptanonConsent=" + "x" * 5000,
        "OptanonConsent={stamp:%27abc%27%2Cnecessary:true}",  # another platform's
        "OptanonConsent",
    ],
)
def test_a_consent_cookie_that_cannot_be_read_is_ignored_and_counted(
    ingest, aws_stack, configure, capsys, cookie
):
    configure(CONSENT_COOKIE="onetrust")
    response = ingest(api_event("POST", "/v1/track", TRACK, cookies=["ajs_anonymous_id=a", cookie]))
    assert response["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert "consent" not in event["context"]
    expected = 0 if cookie == "OptanonConsent" else 1  # a name without a value is no cookie at all
    assert _metrics(capsys).get(("ConsentCookiesUnreadable", ""), 0) == expected


def test_the_largest_consent_a_cookie_may_stamp_never_makes_a_batch_of_tiny_events_too_large(
    ingest, aws_stack, configure
):
    configure(CONSENT_COOKIE="onetrust", GPC_OPT_OUT="C0004,C0005,C0006,C0007")
    groups = "%2C".join(f"CAT{n:05}%3A0" for n in range(46))
    cookie = f"OptanonConsent=interactionCount=1&groups={groups}"
    body = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}] * 2500}
    headers = {"sec-gpc": "1", "user-agent": "Mozilla/5.0 " + "x" * 600}
    response = ingest(api_event("POST", "/v1/batch", body, headers=headers, cookies=[cookie]))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    events = aws_stack.queued_events()
    assert len(events) == 2500
    assert len(events[0]["context"]["consent"]["optOut"]) == 50


def test_gpc_opt_outs_apply_whatever_the_gpc_policy(ingest, aws_stack, configure):
    for policy in ("ignore", "anonymize"):
        configure(GPC_POLICY=policy, GPC_OPT_OUT="C0004")
        consent = {"optOut": {"C0004": False, "C0002": False}}
        body = {**TRACK, "context": {"consent": consent}}
        assert ingest(api_event("POST", "/v1/track", body, headers={"sec-gpc": "1"}))["statusCode"] == 200
    assert [e["context"]["consent"] for e in aws_stack.queued_events()] == [
        {"optOut": {"C0004": True, "C0002": False}}
    ] * 2
    configure(GPC_POLICY="drop", GPC_OPT_OUT="C0004")
    assert ingest(api_event("POST", "/v1/track", TRACK, headers={"sec-gpc": "1"}))["statusCode"] == 200
    assert aws_stack.queued_events() == []


COOKIE_VALUES = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="{}:,'%23CAtruefalsgp=&-1 ;\"\\", max_size=120),
    st.sampled_from(["-1", "", "=", "%", "%%", "%zz", "%ud800", "\ud800", "groups=C0001%3A1"]),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    platform=st.sampled_from(["onetrust", "cookiebot"]),
    values=st.lists(COOKIE_VALUES, min_size=1, max_size=3),
    gpc=st.booleans(),
)
def test_no_consent_cookie_yields_a_5xx_or_an_error(ingest, aws_stack, configure, platform, values, gpc):
    configure(CONSENT_COOKIE=platform, REQUIRED_CONSENT="C0004,marketing", GPC_OPT_OUT="C0002")
    name = "OptanonConsent" if platform == "onetrust" else "CookieConsent"
    cookies = [f"{name}={value}" for value in values]
    headers = {"sec-gpc": "1"} if gpc else {}
    for route, body in (("/v1/track", TRACK), ("/v1/batch", {"batch": [TRACK, {**TRACK, "context": []}]})):
        response = ingest(api_event("POST", route, body, headers=headers, cookies=cookies))
        assert response["statusCode"] == 200, response
    for event in aws_stack.queued_events():
        opt_out = event["context"].get("consent", {}).get("optOut", {})
        assert all(isinstance(value, bool) for value in opt_out.values())
