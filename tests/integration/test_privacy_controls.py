"""The privacy controls through the ingest handler: what is forwarded, what is answered, what is
counted — and that a filtered event is neither queued nor quarantined nor logged."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import pytest

from edge.core.config import IngestSettings
from edge.ingest.wiring import build_first_party, build_ingestor
from support.apigw import api_event

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
            key = (name, record.get("reason", ""))
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
