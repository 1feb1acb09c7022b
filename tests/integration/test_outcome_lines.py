"""The compact outcome lines ``make tail`` streams: one per request, one per forwarder invocation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge.ingest.outcomes import REQUEST_OUTCOME, OutcomeLog
from support.apigw import api_event, basic_auth
from support.forwarding import track
from support.sqs import message_body, sqs_event, sqs_record
from support.upstream import by_batch, respond

KEY = "pk_outcome_5e1f"
TRACK = {"userId": "u-1", "event": "Order Completed", "writeKey": KEY}


def _lines(text: str, message: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def _outcome(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["route"], line["status"], line["accepted"], line["rejected"], line["reasons"])


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the ingest function's sample rate, with a draw that is always 0.5."""
    from ingest import app

    def set_rate(rate: float) -> None:
        monkeypatch.setattr(app.api, "outcomes", OutcomeLog(rate, draw=lambda: 0.5))

    return set_rate


def test_each_request_gets_one_line_with_route_status_counts_and_reasons(ingest, log_output):
    headers = {"authorization": basic_auth(KEY)}
    ingest(api_event("POST", "/v1/track", TRACK, headers=headers))
    ingest(api_event("POST", "/v1/track", {"userId": "u-1"}, headers=headers))
    batch = {"batch": [{**TRACK, "type": "track"}, {"type": "track", "userId": "u"}, {"type": "launch"}]}
    ingest(api_event("POST", "/v1/batch", batch, headers=headers))
    ingest(api_event("POST", "/v1/batch", {"batch": [{"type": "alias"}, "x"]}, headers=headers))
    ingest(api_event("POST", "/v1/nope", TRACK, headers=headers))

    logs = log_output.getvalue()
    assert [_outcome(line) for line in _lines(logs, REQUEST_OUTCOME)] == [
        ("POST /v1/track", 200, 1, 0, {}),
        ("POST /v1/track", 400, 0, 1, {"invalid_event": 1}),
        ("POST /v1/batch", 200, 1, 2, {"invalid_event": 1, "invalid_type": 1}),
        ("POST /v1/batch", 400, 0, 2, {"invalid_batch": 2}),
        ("POST /v1/nope", 404, 0, 0, {"not_found": 0}),
    ]
    assert KEY not in logs
    assert "Order Completed" not in logs  # no event bodies


def test_a_pixel_and_an_unavailable_queue_get_their_lines_too(ingest, aws_stack, log_output):
    ingest(api_event("GET", "/v1/pixel/track", query={"userId": "u-1", "event": "Opened"}))
    aws_stack.sqs.delete_queue(QueueUrl=aws_stack.events_url)
    ingest(api_event("POST", "/v1/track", TRACK))
    lines = _lines(log_output.getvalue(), REQUEST_OUTCOME)
    assert [_outcome(line) for line in lines] == [
        ("GET /v1/pixel/track", 200, 1, 0, {}),
        ("POST /v1/track", 503, 0, 0, {}),
    ]


def test_a_line_says_what_privacy_controls_dropped_and_what_consent_the_events_went_on_with(
    ingest, ingest_settings, monkeypatch, log_output
):
    from dataclasses import replace

    from edge.ingest.wiring import build_ingestor
    from ingest import app

    settings = replace(
        ingest_settings, consent_cookie="onetrust", required_consent="C0002", gpc_opt_out="C0004"
    )
    monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings))
    onetrust = "OptanonConsent=interactionCount=1&groups=C0001%3A1%2CC0002%3A1%2CC0004%3A1"
    batch = {
        "batch": [
            {**TRACK, "type": "track"},
            {**TRACK, "type": "track", "context": {"consent": {"optOut": {"C0002": True}}}},
        ]
    }
    gpc = {"sec-gpc": "1"}
    ingest(api_event("POST", "/v1/batch", batch, headers=gpc, cookies=[onetrust]))
    ingest(api_event("POST", "/v1/track", TRACK, cookies=["OptanonConsent=groups%3DC0001"]))
    ingest(api_event("POST", "/v1/track", TRACK))
    lines = _lines(log_output.getvalue(), REQUEST_OUTCOME)
    assert [(line["accepted"], line.get("filtered"), line.get("consent")) for line in lines] == [
        (1, {"consent": 1}, {"from_cookie": 1, "gpc": 1, "opted_out": 1}),
        (1, None, {"cookie_unreadable": 1}),
        (1, None, None),
    ]


def test_sampling_drops_clean_successes_only(ingest, sampled, log_output):
    sampled(0.4)  # the draw, 0.5, is above it: a clean success is not logged
    ingest(api_event("POST", "/v1/track", TRACK))
    ingest(api_event("POST", "/v1/batch", {"batch": [{**TRACK, "type": "track"}, {"type": "track"}]}))
    ingest(api_event("POST", "/v1/track", {"userId": "u-1"}))
    sampled(0.6)  # below it: logged
    ingest(api_event("POST", "/v1/track", TRACK))
    lines = _lines(log_output.getvalue(), REQUEST_OUTCOME)
    assert [(line["status"], line["rejected"], line["sample_rate"]) for line in lines] == [
        (200, 1, 0.4),
        (400, 1, 0.4),
        (200, 0, 0.6),
    ]


def test_the_forwarder_logs_one_line_per_invocation_with_outcomes_and_reasons(
    forward, httpserver, log_output
):
    poison = track(2)
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(lambda events: respond(400) if poison in events else respond(200))
    )
    event = sqs_event(
        sqs_record(message_body([track(1), poison]), message_id="q1"),
        sqs_record(message_body([track(3)]), message_id="q2"),
    )
    forward(event)
    [line] = _lines(log_output.getvalue(), "messages forwarded")
    assert {k: line[k] for k in ("messages", "events_forwarded", "dead_lettered", "dead_letter_reasons")} == {
        "messages": 2,
        "events_forwarded": 2,
        "dead_lettered": 1,
        "dead_letter_reasons": {"upstream_rejected": 1},
    }
    assert line["upstream_statuses"] == {"4xx": 3, "2xx": 2}  # split in halves until the 400 is alone
    assert "Clicked" not in json.dumps(line)
