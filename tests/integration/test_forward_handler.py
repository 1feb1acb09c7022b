"""The forward ``lambda_handler`` with SQS events, moto (secret, dead-letter queue) and a local upstream."""

from __future__ import annotations

import base64
import json
import re
import threading

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from pytest_httpserver import HTTPServer

from edge.core.secret import fingerprint
from support.apigw import basic_auth, load_event
from support.sqs import batch_item_failures, message_body, sqs_event, sqs_record
from support.upstream import ISO_MS_Z, by_batch, received, respond, scripted

OPEN_SOURCE_ID = "ILoveData123"  # the aws_stack fixture's secret
CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
OPEN_AUTH = basic_auth(OPEN_SOURCE_ID)
NOTHING_FAILED = {"batchItemFailures": []}
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")


def track(n, **fields):
    return {"type": "track", "event": "Clicked", "userId": "u-1", "messageId": f"m-{n}", **fields}


def record(message_id, events, source=None):
    return sqs_record(message_body(events, source), message_id=message_id)


def accept_all(httpserver):
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


def test_batch_mode_sends_exactly_the_documented_request(forward, httpserver):
    accept_all(httpserver)
    events = [track(1), {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}, "messageId": "m-2"}]
    assert forward(sqs_event(record("q1", events))) == NOTHING_FAILED
    [request] = received(httpserver)
    assert request.path == "/v1/batch"
    assert request.authorization == OPEN_AUTH == "Basic SUxvdmVEYXRhMTIzOg=="
    assert request.content_type == "application/json"
    assert request.body == {"batch": events, "sentAt": request.body["sentAt"]}
    assert ISO_MS_Z.fullmatch(request.body["sentAt"])


def test_per_call_mode_sends_each_event_to_its_type_path_as_the_seed_documents(forward, httpserver):
    accept_all(httpserver)
    forward.configure(FORWARD_MODE="per-call")
    events = [
        {"type": "identify", "userId": "1234qwerty", "traits": {"name": "Arthur Dent"}, "messageId": "m-1"},
        track(2),
        {"type": "page", "userId": "1234qwerty", "name": "Home", "messageId": "m-3"},
        {"type": "group", "userId": "1234qwerty", "groupId": "5678dvorak", "messageId": "m-4"},
        {"type": "alias", "previousId": "anonymous_id", "userId": "assigned_id", "messageId": "m-5"},
        {"type": "screen", "userId": "1234qwerty", "name": "Settings", "messageId": "m-6"},
    ]
    assert forward(sqs_event(record("q1", events))) == NOTHING_FAILED
    requests = received(httpserver)
    assert sorted((r.path, r.raw) for r in requests) == sorted(
        (f"/v1/{e['type']}", json.dumps(e, separators=(",", ":")).encode()) for e in events
    )
    assert {(r.authorization, r.content_type) for r in requests} == {(OPEN_AUTH, "application/json")}


@pytest.mark.parametrize("status", [404, 405])
def test_an_upstream_without_batch_route_gets_per_call_requests_from_then_on(forward, httpserver, status):
    httpserver.expect_request("/v1/batch").respond_with_data("", status=status)
    accept_all(httpserver)
    events = [track(1), {"type": "page", "userId": "u-1", "name": "Home", "messageId": "m-2"}]
    assert forward(sqs_event(record("q1", events))) == NOTHING_FAILED
    assert forward(sqs_event(record("q2", [track(3)]))) == NOTHING_FAILED
    first, *calls, last = [(r.path, r.ids) for r in received(httpserver)]
    assert first == ("/v1/batch", ["m-1", "m-2"])
    assert sorted(calls) == [("/v1/page", ["m-2"]), ("/v1/track", ["m-1"])]  # sent concurrently
    assert last == ("/v1/track", ["m-3"])


def test_requests_are_split_at_the_configured_event_count(forward, httpserver):
    accept_all(httpserver)
    forward.configure(UPSTREAM_MAX_BATCH_EVENTS="3")
    event = sqs_event(
        record("q1", [track(i) for i in range(4)]), record("q2", [track(i) for i in range(4, 7)])
    )
    assert forward(event) == NOTHING_FAILED
    assert sorted(r.ids for r in received(httpserver)) == [
        ["m-0", "m-1", "m-2"],
        ["m-3", "m-4", "m-5"],
        ["m-6"],
    ]


def test_requests_are_split_at_500_kb(forward, httpserver):
    accept_all(httpserver)
    pad = "x" * 30_000
    records = [
        record(f"q{r}", [track(r * 8 + i, properties={"pad": pad}) for i in range(8)]) for r in range(3)
    ]
    assert forward(sqs_event(*records)) == NOTHING_FAILED
    first, second = sorted(received(httpserver), key=lambda r: int(r.ids[0][2:]))  # sent concurrently
    assert (len(first.ids), len(second.ids)) == (17, 7)
    assert len(first.raw) <= 500 * 1024 < len(first.raw) + len(json.dumps(second.events[0]))
    assert first.ids + second.ids == [f"m-{i}" for i in range(24)]


def test_207_resends_only_the_failed_items(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_handler(
        scripted(respond(207, {"errors": [{"index": 1}, {"messageId": "m-3"}]}))
    )
    event = sqs_event(record("q1", [track(0), track(1)]), record("q2", [track(2), track(3), track(4)]))
    assert forward(event) == NOTHING_FAILED
    assert [r.ids for r in received(httpserver)] == [["m-0", "m-1", "m-2", "m-3", "m-4"], ["m-1", "m-3"]]


def test_207_items_still_failing_when_time_runs_out_redeliver_only_their_messages(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(lambda events: respond(207, {"errors": [{"messageId": "m-3"}]}))
    )
    forward.configure(UPSTREAM_MAX_ATTEMPTS="2")
    event = sqs_event(record("q1", [track(0), track(1)]), record("q2", [track(2), track(3)]))
    assert forward(event) == batch_item_failures("q2")


def test_413_on_a_large_batch_splits_it_in_halves(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(lambda events: respond(413 if len(events) > 5 else 200))
    )
    assert forward(sqs_event(record("q1", [track(i) for i in range(8)]))) == NOTHING_FAILED
    assert [len(r.ids) for r in received(httpserver)] == [8, 4, 4]


@pytest.mark.parametrize("status", [400, 422])
def test_a_poison_event_goes_to_the_dead_letter_queue_and_the_good_ones_upstream(
    forward, httpserver, aws_stack, status
):
    poison = track(99, properties={"bad": True}, messageId="m-poison")
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(
            lambda events: (
                respond(status, {"error": "invalid event"})
                if any(e["messageId"] == "m-poison" for e in events)
                else respond(200)
            )
        )
    )
    event = sqs_event(
        record("q1", [track(1), track(2)]), record("q2", [poison, track(3)]), record("q3", [track(4)])
    )
    assert forward(event) == NOTHING_FAILED
    accepted = [r.ids for r in received(httpserver) if "m-poison" not in r.ids]
    assert sorted(i for ids in accepted for i in ids) == ["m-1", "m-2", "m-3", "m-4"]
    [letter] = aws_stack.dead_letters()
    assert letter.events == [poison]
    assert json.loads(letter.body)["source"] is None
    assert letter.attributes == {
        "reason": "upstream_rejected",
        "upstreamStatus": str(status),
        "originMessageId": "q2",
        "detail": f'The upstream answered {status}: {{"error": "invalid event"}}',
    }


def test_a_rotated_secret_is_read_again_after_401_and_the_events_delivered(forward, httpserver, aws_stack):
    rotated = {"done": False}
    new_auth = basic_auth("RotatedSource")

    def upstream(request):
        wanted = new_auth if rotated["done"] else OPEN_AUTH
        return respond(200 if request.headers.get("Authorization") == wanted else 401)

    httpserver.expect_request("/v1/batch").respond_with_handler(upstream)
    forward.configure(SECRET_MAX_AGE_SECONDS="300")
    assert forward(sqs_event(record("q1", [track(1)]))) == NOTHING_FAILED  # caches the secret

    aws_stack.set_secret({"writeKey": "RotatedSource"})
    rotated["done"] = True
    assert forward(sqs_event(record("q2", [track(2)]))) == NOTHING_FAILED
    assert [(r.authorization, r.ids) for r in received(httpserver)] == [
        (OPEN_AUTH, ["m-1"]),
        (OPEN_AUTH, ["m-2"]),
        (new_auth, ["m-2"]),
    ]
    assert forward.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_a_source_id_refused_even_after_reading_the_secret_again_is_left_to_sqs(
    forward, httpserver, aws_stack, capsys, status
):
    httpserver.expect_request("/v1/batch").respond_with_data("", status=status)
    forward.configure(UPSTREAM_MAX_ATTEMPTS="2")
    assert forward(sqs_event(record("q1", [track(1)]))) == batch_item_failures("q1")
    assert len(received(httpserver)) == 3  # first try, after the refresh, one retry
    assert aws_stack.dead_letters() == []
    out = capsys.readouterr().out
    assert '"UpstreamAuthFailures":[2.0]' in out  # after the refresh, and on the retry
    assert OPEN_SOURCE_ID not in out
    assert OPEN_AUTH.split()[1] not in out


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_answers_are_retried_with_backoff_until_accepted(forward, httpserver, status):
    httpserver.expect_request("/v1/batch").respond_with_handler(scripted(respond(status), respond(status)))
    assert forward(sqs_event(record("q1", [track(1)]))) == NOTHING_FAILED
    assert len(received(httpserver)) == 3
    assert len(forward.sleeps) == 2
    assert 0.005 <= forward.sleeps[0] <= 0.01 <= forward.sleeps[1] <= 0.02


def test_retry_after_is_honoured(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_handler(
        scripted(respond(429, headers={"Retry-After": "3"}))
    )
    assert forward(sqs_event(record("q1", [track(1)]))) == NOTHING_FAILED
    assert forward.sleeps == [3]
    assert len(received(httpserver)) == 2


def test_retry_after_longer_than_the_invocation_leaves_the_messages_to_sqs(forward, httpserver, aws_stack):
    httpserver.expect_request("/v1/batch").respond_with_data("", status=503, headers={"Retry-After": "3600"})
    event = sqs_event(record("q1", [track(1)]), record("q2", [track(2)]))
    assert forward(event) == batch_item_failures("q1", "q2")
    assert forward.sleeps == []
    assert len(received(httpserver)) == 1
    assert aws_stack.dead_letters() == []


def test_an_upstream_failing_every_try_leaves_the_messages_to_sqs(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_data("", status=500)
    forward.configure(UPSTREAM_MAX_ATTEMPTS="3")
    assert forward(sqs_event(record("q1", [track(1)]), record("q2", [track(2)]))) == batch_item_failures(
        "q1", "q2"
    )
    assert len(received(httpserver)) == 3


def test_an_unreachable_upstream_leaves_the_messages_to_sqs(forward):
    forward.configure(METAROUTER_ENDPOINT="http://127.0.0.1:9", UPSTREAM_MAX_ATTEMPTS="3")
    assert forward(sqs_event(record("q1", [track(1)]))) == batch_item_failures("q1")
    assert len(forward.sleeps) == 2


def test_a_slow_upstream_that_outlives_the_invocation_leaves_the_messages_to_sqs(forward, aws_stack):
    release = threading.Event()
    slow = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    slow.expect_request("/v1/batch").respond_with_handler(
        lambda _: respond(200) if release.wait(timeout=10) else respond(504)
    )
    slow.start()
    try:
        forward.configure(METAROUTER_ENDPOINT=slow.url_for("").rstrip("/"))
        # 1.5 s left, 0.5 s kept back: the upstream has one second, not its 10 s read timeout.
        event = sqs_event(record("q1", [track(1)]), record("q2", [track(2)]))
        assert forward(event, remaining_ms=1_500) == batch_item_failures("q1", "q2")
    finally:
        release.set()
        slow.stop()
    assert aws_stack.dead_letters() == []


def test_undecodable_and_unmapped_messages_are_parked_with_their_reason(forward, httpserver, aws_stack):
    accept_all(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    event = sqs_event(
        sqs_record("this is not json", message_id="q-garbage"),
        sqs_record(message_body([track(1)], WEB, version=2), message_id="q-future"),
        record("q-unmapped", [track(2)], fingerprint("pk_removed")),
        record("q-good", [track(3)], WEB),
    )
    assert forward(event) == NOTHING_FAILED
    assert [(r.authorization, r.ids) for r in received(httpserver)] == [(OPEN_AUTH, ["m-3"])]
    letters = {letter.attributes["originMessageId"]: letter for letter in aws_stack.dead_letters()}
    assert {origin: letter.attributes["reason"] for origin, letter in letters.items()} == {
        "q-garbage": "invalid_message",
        "q-future": "unsupported_version",
        "q-unmapped": "unmapped_source",
    }
    assert letters["q-garbage"].body == "this is not json"
    assert letters["q-unmapped"].events == [track(2)]


def test_a_poison_event_is_not_acknowledged_when_the_dead_letter_queue_is_unreachable(forward, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(lambda events: respond(400 if any(e["messageId"] == "m-1" for e in events) else 200))
    )
    forward.configure(DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")
    assert forward(sqs_event(record("q1", [track(1)]), record("q2", [track(2)]))) == batch_item_failures("q1")


def test_an_unreadable_secret_leaves_every_message_to_sqs(forward, httpserver):
    forward.configure(EDGE_SECRET_ID="no/such/secret")
    assert forward(sqs_event(record("q1", [track(1)]))) == batch_item_failures("q1")
    assert received(httpserver) == []


@pytest.mark.parametrize("name", ["sqs-forward-batch.json", "sqs-forward-two-sources.json"])
def test_sample_parses_as_an_sqs_event_of_the_current_message_format(name):
    event = SqsModel.model_validate(load_event(name))
    for record in event.Records:
        assert json.loads(record.body)["v"] == 1


def test_sample_batch_event_is_forwarded_in_one_request(forward, httpserver):
    accept_all(httpserver)
    event = load_event("sqs-forward-batch.json")
    assert forward(event) == NOTHING_FAILED
    [request] = received(httpserver)
    expected = [e for r in event["Records"] for e in json.loads(r["body"])["events"]]
    assert (request.path, request.authorization) == ("/v1/batch", OPEN_AUTH)
    assert request.events == expected


def test_sample_two_sources_event_is_forwarded_once_per_source_id(forward, httpserver, aws_stack):
    accept_all(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    event = load_event("sqs-forward-two-sources.json")
    assert forward(event) == NOTHING_FAILED
    web, ios = (json.loads(r["body"]) for r in event["Records"])
    assert (web["source"], ios["source"]) == (WEB, IOS)
    by_auth = {r.authorization: r.events for r in received(httpserver)}  # sent concurrently
    assert by_auth == {basic_auth("ILoveData123"): web["events"], basic_auth("OtherSource"): ios["events"]}


def test_no_source_id_or_auth_value_appears_in_logs_or_metrics(forward, httpserver, aws_stack, capsys):
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    httpserver.expect_request("/v1/batch").respond_with_handler(
        by_batch(lambda events: respond(400, {"echo": "OtherSource"}) if len(events) == 1 else respond(503))
    )
    forward.configure(UPSTREAM_MAX_ATTEMPTS="2")
    forward(sqs_event(record("q1", [track(1), track(2)], WEB), record("q2", [track(3)], IOS)))
    captured = capsys.readouterr()
    secrets = ["ILoveData123", "OtherSource", "pk_web_7f3a", "pk_ios_91bc"]
    secrets += [base64.b64encode(f"{s}:".encode()).decode() for s in secrets]
    for text in (captured.out, captured.err):
        assert not [s for s in secrets if s in text]
    [letter] = aws_stack.dead_letters()
    assert "OtherSource" not in letter.attributes["detail"]
