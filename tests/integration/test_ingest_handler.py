"""The ingest ``lambda_handler`` with real API Gateway v2 events against moto SQS and Secrets Manager."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from edge.core.secret import fingerprint
from edge.ingest.limits import MAX_BATCH_EVENTS, MAX_BODY_BYTES
from edge.ingest.routes import ROUTES, RouteKind
from support.apigw import api_event, basic_auth

CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
TRACK = {"userId": "u-123", "event": "Order Completed", "properties": {"total": 42}}
#: A valid event of each type, without its type (the route gives it).
SAMPLES = {
    "identify": {"userId": "u-123", "traits": {"plan": "pro"}},
    "track": TRACK,
    "page": {"anonymousId": "a-1", "name": "Home"},
    "screen": {"anonymousId": "a-1", "name": "Settings"},
    "group": {"userId": "u-123", "groupId": "g-9"},
    "alias": {"userId": "u-123", "previousId": "a-1"},
}
SINGLE_EVENT_ROUTES = [route for route in ROUTES if not isinstance(route.target, RouteKind)]
BATCH_PATHS = [route.path for route in ROUTES if route.target is RouteKind.BATCH]


def _body(response):
    return json.loads(response["body"])


@pytest.mark.parametrize("route", SINGLE_EVENT_ROUTES, ids=lambda route: route.path)
def test_every_single_event_route_queues_the_event_with_its_type(ingest, aws_stack, route):
    event = SAMPLES[route.target]
    response = ingest(api_event("POST", route.path, event))
    assert response["statusCode"] == 200
    assert _body(response) == {"success": True}
    [queued] = aws_stack.queued_events()
    assert queued["type"] == route.target
    assert {k: queued[k] for k in event} == event


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_the_handler_answers_every_route_of_the_table_as_its_kind(ingest, aws_stack, route):
    path = route.path.replace("{type}", "t")  # the pixel takes the one-letter forms too
    match route.target:
        case RouteKind.PIXEL:
            response = ingest(api_event("GET", path, query={"userId": "u-1", "event": "Opened"}))
        case RouteKind.BATCH:
            response = ingest(api_event("POST", path, {"batch": [{**TRACK, "type": "track"}]}))
        case RouteKind.TELEMETRY:
            response = ingest(api_event("POST", path, {"series": []}))
        case RouteKind.CUSTOM:
            response = ingest(api_event("POST", path, {"order": 1}, query={"eventName": "paid"}))
        case event_type:
            response = ingest(api_event("POST", path, SAMPLES[event_type]))
    assert response["statusCode"] == 200
    queued = [event["type"] for event in aws_stack.queued_events()]
    kinds = {RouteKind.TELEMETRY: [], RouteKind.BATCH: ["track"], RouteKind.PIXEL: ["track"]}
    assert queued == kinds.get(route.target, [route.target])


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json;charset=UTF-8", "text/plain", "text/plain;charset=UTF-8", ""],
)
def test_json_is_accepted_under_any_content_type(ingest, aws_stack, content_type):
    response = ingest(api_event("POST", "/v1/t", TRACK, headers={"content-type": content_type}))
    assert response["statusCode"] == 200
    assert len(aws_stack.queued_events()) == 1


def test_gzip_batch_delivered_base64_by_api_gateway_is_accepted(ingest, aws_stack):
    body = {"batch": [{**TRACK, "type": "track", "messageId": f"m-{i}"} for i in range(3)]}
    event = api_event("POST", "/v1/batch", body, gzip_body=True, headers={"authorization": basic_auth("k")})
    assert event["isBase64Encoded"] is True
    assert ingest(event)["statusCode"] == 200
    assert [e["messageId"] for e in aws_stack.queued_events()] == ["m-0", "m-1", "m-2"]


@pytest.mark.parametrize("path", BATCH_PATHS)
def test_batch_routes_merge_batch_context_integrations_and_sent_at(ingest, aws_stack, path):
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "timestamp": "2023-11-14T22:13:10.000Z"},
            {"type": "track", "userId": "u1", "event": "E", "context": {"locale": "de"}},
        ],
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}, "locale": "en"},
        "integrations": {"All": True},
        "sentAt": "2023-11-14T22:13:15.000Z",
        "writeKey": "pk_web_7f3a",
    }
    assert ingest(api_event("POST", path, body))["statusCode"] == 200
    first, second = aws_stack.queued_events()
    assert first["context"]["library"] == {"name": "analytics-python", "version": "2.3.0"}
    assert first["context"]["locale"] == "en"
    assert second["context"]["locale"] == "de"
    assert first["integrations"] == second["integrations"] == {"All": True}
    # Received at 22:13:20.000 (the event's timeEpoch), sent 5 s after it happened.
    assert first["timestamp"] == "2023-11-14T22:13:15.000Z"
    assert first["originalTimestamp"] == "2023-11-14T22:13:10.000Z"


def test_enrichment_is_applied_and_the_write_key_stripped(ingest, aws_stack):
    event = {**TRACK, "messageId": "m-keep", "writeKey": "pk_web_7f3a"}
    ingest(
        api_event(
            "POST", "/v1/track", event, source_ip="198.51.100.23", headers={"user-agent": "Mozilla/5.0"}
        )
    )
    [queued] = aws_stack.queued_events()
    assert queued["messageId"] == "m-keep"
    assert queued["receivedAt"] == "2023-11-14T22:13:20.000Z"
    assert queued["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert queued["context"] == {"ip": "198.51.100.23", "userAgent": "Mozilla/5.0"}
    assert "writeKey" not in queued
    assert "pk_web_7f3a" not in json.dumps(aws_stack.messages(aws_stack.events_url))


def test_ip_policy_anonymize_is_applied(ingest, aws_stack, ingest_settings, monkeypatch):
    from edge.ingest.wiring import build_ingestor
    from ingest import app

    settings = replace(ingest_settings, ip_policy="anonymize")
    monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings))
    ingest(api_event("POST", "/v1/track", TRACK, source_ip="198.51.100.23"))
    assert aws_stack.queued_events()[0]["context"]["ip"] == "198.51.100.0"


def test_a_batch_of_100_events_is_one_sqs_message(ingest, aws_stack):
    body = {"batch": [{**TRACK, "type": "track", "properties": {"pad": "x" * 900}} for _ in range(100)]}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    messages = aws_stack.messages(aws_stack.events_url)
    assert len(messages) == 1
    assert len(messages[0]["events"]) == 100


def test_a_full_batch_is_split_across_messages_within_the_size_limit(ingest, aws_stack):
    body = {"batch": [{**TRACK, "type": "track", "properties": {"pad": "x" * 4000}} for _ in range(110)]}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    messages = aws_stack.messages(aws_stack.events_url)
    assert len(messages) == 2
    assert sum(len(m["events"]) for m in messages) == 110


def test_a_partly_invalid_batch_queues_the_valid_and_quarantines_the_invalid(ingest, aws_stack):
    body = {
        "batch": [
            {**TRACK, "type": "track", "messageId": "ok-0"},
            {"type": "track", "event": "No Identity", "messageId": "bad-1", "writeKey": "pk"},
            {**TRACK, "type": "launch", "messageId": "bad-2"},
            "not an object",
            {**TRACK, "type": "track", "messageId": "ok-4"},
        ]
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    answer = _body(response)
    assert answer["success"] is True
    assert [(r["index"], r["messageId"]) for r in answer["rejected"]] == [
        (1, "bad-1"),
        (2, "bad-2"),
        (3, None),
    ]
    assert answer["rejected"][0]["errors"][0]["field"] == "userId"
    assert answer["rejected"][1]["errors"][0]["field"] == "type"
    assert [e["messageId"] for e in aws_stack.queued_events()] == ["ok-0", "ok-4"]
    quarantined = aws_stack.quarantined()
    assert [(q["index"], q["reason"]) for q in quarantined] == [
        (1, "invalid_event"),
        (2, "invalid_type"),
        (3, "not_an_object"),
    ]
    assert quarantined[0]["event"] == {"type": "track", "event": "No Identity", "messageId": "bad-1"}


def test_a_batch_item_without_a_known_type_is_told_what_the_types_are(ingest, aws_stack):
    body = {
        "batch": [
            {**TRACK, "messageId": "none"},
            {**TRACK, "type": "launch", "messageId": "odd"},
            {**TRACK, "type": "track", "messageId": "ok"},
        ]
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    assert [r["errors"] for r in _body(response)["rejected"]] == [
        [{"field": "type", "message": "is required"}],
        [{"field": "type", "message": "must be one of alias, group, identify, page, screen, track"}],
    ]


def test_a_batch_with_every_item_invalid_is_a_400_and_quarantined(ingest, aws_stack):
    body = {"batch": [{"type": "track", "userId": "u"}, {"type": "alias", "userId": "u"}]}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 400
    error = _body(response)["error"]
    assert error["code"] == "invalid_batch"
    assert [d["index"] for d in error["details"]] == [0, 1]
    assert aws_stack.queued_events() == []
    assert len(aws_stack.quarantined()) == 2


def test_an_invalid_single_event_is_a_400_with_field_errors_and_quarantined(ingest, aws_stack):
    response = ingest(api_event("POST", "/v1/track", {"userId": "u"}))
    assert response["statusCode"] == 400
    assert _body(response) == {
        "success": False,
        "error": {
            "code": "invalid_event",
            "message": "The event is invalid.",
            "details": [{"field": "event", "message": "is required"}],
        },
    }
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined()[0]["reason"] == "invalid_event"


def test_a_type_that_does_not_match_the_route_is_a_400(ingest, aws_stack):
    response = ingest(api_event("POST", "/v1/identify", {**TRACK, "type": "track"}))
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "type_mismatch"
    assert aws_stack.queued_events() == []


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("track", "'track'"),
        ("t" * 98, "'" + "t" * 98 + "'"),  # 100 characters: shown whole
        ("t" * 99, "'" + "t" * 99 + "…"),  # cut at 100
    ],
)
def test_a_mismatched_type_is_echoed_at_most_100_characters_long(ingest, given, shown):
    response = ingest(api_event("POST", "/v1/identify", {**TRACK, "type": given}))
    assert _body(response)["error"]["details"] == [
        {"field": "type", "message": f"is {shown} but this route takes 'identify' events"}
    ]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"a string"', "", "null"])
def test_malformed_or_non_object_bodies_are_a_400(ingest, aws_stack, raw):
    response = ingest(api_event("POST", "/v1/track", raw_body=raw))
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("raw", ["[1, 2]", '"a string"', "null"])
@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_a_body_that_is_not_an_object_is_a_400(ingest, path, raw):
    response = ingest(api_event("POST", path, raw_body=raw))
    assert response["statusCode"] == 400
    assert _body(response)["error"] == {
        "code": "invalid_json",
        "message": "The request body must be a JSON object.",
    }


@pytest.mark.parametrize(("length", "echoed"), [(100, True), (101, False)])
def test_a_rejected_item_s_message_id_is_echoed_up_to_100_characters(ingest, length, echoed):
    message_id = "m" * length
    anonymous = {"type": "track", "event": "No Identity", "messageId": message_id}
    body = {"batch": [anonymous, {**TRACK, "type": "track"}]}
    [rejected] = _body(ingest(api_event("POST", "/v1/batch", body)))["rejected"]
    assert rejected["messageId"] == (message_id if echoed else None)


def test_an_invalid_batch_envelope_is_a_400_naming_the_field(ingest):
    response = ingest(api_event("POST", "/v1/batch", {"batch": [TRACK], "context": "web"}))
    assert response["statusCode"] == 400
    error = _body(response)["error"]
    assert (error["code"], error["message"]) == ("invalid_batch", "The batch envelope is invalid.")
    assert [d["field"] for d in error["details"]] == ["context"]


def test_batch_without_a_batch_array_is_a_400(ingest):
    response = ingest(api_event("POST", "/v1/batch", {"batch": {"not": "a list"}}))
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "invalid_batch"


def test_body_over_500_kb_is_a_413_naming_the_limit(ingest):
    body = {"batch": [{**TRACK, "type": "track", "properties": {"pad": "x" * 30_000}} for _ in range(18)]}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 413
    assert "500 KB" in _body(response)["error"]["message"]
    assert len(json.dumps(body)) > MAX_BODY_BYTES


def test_gzip_bomb_is_a_413(ingest):
    import gzip

    bomb = gzip.compress(b"[" + b" " * (20 * 1024 * 1024) + b"]")
    event = api_event("POST", "/v1/batch", raw_body=bomb, headers={"content-encoding": "gzip"})
    assert ingest(event)["statusCode"] == 413


def test_more_than_2500_events_is_a_413(ingest):
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}] * (MAX_BATCH_EVENTS + 1)}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 413
    error = _body(response)["error"]
    assert error["code"] == "batch_too_large"
    assert error["message"] == f"A batch holds at most {MAX_BATCH_EVENTS} events."


def test_single_event_over_32_kb_is_a_413_event_too_large(ingest, aws_stack):
    response = ingest(api_event("POST", "/v1/track", {**TRACK, "properties": {"pad": "x" * 33_000}}))
    assert response["statusCode"] == 413
    assert _body(response)["error"]["code"] == "event_too_large"
    assert aws_stack.quarantined()[0]["reason"] == "event_too_large"


def test_oversized_event_in_a_batch_is_rejected_alone(ingest, aws_stack):
    body = {
        "batch": [{**TRACK, "type": "track", "properties": {"pad": "x" * 33_000}}, {**TRACK, "type": "track"}]
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    assert _body(response)["rejected"][0]["errors"] == [{"field": "", "message": "exceeds 32 KB"}]
    assert len(aws_stack.queued_events()) == 1


def test_nesting_deeper_than_64_is_a_400(ingest):
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    response = ingest(api_event("POST", "/v1/track", {**TRACK, "properties": deep}))
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "too_deep"


def test_unknown_route_is_a_404(ingest):
    assert ingest(api_event("POST", "/v1/launch", TRACK))["statusCode"] == 404


def test_client_telemetry_is_answered_and_not_queued(ingest, aws_stack):
    body = {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1, "tags": {}}]}
    response = ingest(api_event("POST", "/v1/m", body, headers={"content-type": "text/plain"}))
    assert response["statusCode"] == 200
    assert aws_stack.queued_events() == []


# -- closed mode -------------------------------------------------------------------------------


@pytest.fixture
def closed_mode(aws_stack):
    aws_stack.set_secret({"sources": CLOSED_SOURCES})


@pytest.mark.usefixtures("closed_mode")
@pytest.mark.parametrize(
    "where",
    ["basic", "body", "query"],
)
def test_closed_mode_accepts_a_listed_key_from_any_place(ingest, aws_stack, where):
    headers = {"authorization": basic_auth("pk_ios_91bc")} if where == "basic" else {}
    body = {**TRACK, "writeKey": "pk_ios_91bc"} if where == "body" else TRACK
    query = {"writeKey": "pk_ios_91bc"} if where == "query" else None
    assert ingest(api_event("POST", "/v1/track", body, headers=headers, query=query))["statusCode"] == 200
    [message] = aws_stack.messages(aws_stack.events_url)
    assert message["source"] == fingerprint("pk_ios_91bc")
    assert "pk_ios_91bc" not in json.dumps(message)
    assert "OtherSource" not in json.dumps(message)


@pytest.mark.usefixtures("closed_mode")
@pytest.mark.parametrize("headers", [{}, {"authorization": basic_auth("pk_unknown")}])
def test_closed_mode_refuses_a_missing_or_unknown_key_with_401(ingest, aws_stack, headers):
    response = ingest(api_event("POST", "/v1/track", TRACK, headers=headers))
    assert response["statusCode"] == 401
    assert _body(response)["error"]["code"] == "invalid_write_key"
    assert aws_stack.queued_events() == []


def test_open_mode_accepts_requests_without_any_key(ingest, aws_stack):
    assert ingest(api_event("POST", "/v1/track", TRACK))["statusCode"] == 200
    assert aws_stack.messages(aws_stack.events_url)[0]["source"] is None


# -- dependencies down -------------------------------------------------------------------------


def test_unreachable_queue_is_a_503_with_retry_after(ingest, aws_stack):
    aws_stack.sqs.delete_queue(QueueUrl=aws_stack.events_url)
    response = ingest(api_event("POST", "/v1/track", TRACK))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert _body(response)["error"]["code"] == "service_unavailable"


def test_unreadable_secret_is_a_503_never_a_401(ingest, aws_stack):
    aws_stack.secrets.delete_secret(SecretId=aws_stack.secret_id, ForceDeleteWithoutRecovery=True)
    response = ingest(
        api_event("POST", "/v1/track", TRACK, headers={"authorization": basic_auth("pk_web_7f3a")})
    )
    assert response["statusCode"] == 503
    assert "Retry-After" in response["headers"]


def test_malformed_secret_is_a_503(ingest, aws_stack):
    aws_stack.secrets.put_secret_value(SecretId=aws_stack.secret_id, SecretString="not json")
    assert ingest(api_event("POST", "/v1/track", TRACK))["statusCode"] == 503


def test_unreachable_quarantine_is_a_503_before_anything_is_queued(ingest, aws_stack):
    aws_stack.sqs.delete_queue(QueueUrl=aws_stack.quarantine_url)
    body = {"batch": [{**TRACK, "type": "track"}, {"type": "track", "userId": "u"}]}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 503
    assert aws_stack.queued_events() == []


# -- pixel -------------------------------------------------------------------------------------


def _gif(response):
    assert response["headers"]["Content-Type"] == "image/gif"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


def test_pixel_with_base64_data_queues_the_event_and_answers_a_gif(ingest, aws_stack):
    event = {"userId": "u1", "event": "Email Opened", "writeKey": "pk_web_7f3a"}
    data = base64.urlsafe_b64encode(json.dumps(event).encode()).decode().rstrip("=")
    response = ingest(api_event("GET", "/v1/pixel/track", query={"data": data}))
    assert response["statusCode"] == 200
    assert _gif(response).startswith(b"GIF89a")
    [queued] = aws_stack.queued_events()
    assert (queued["type"], queued["event"], "writeKey" in queued) == ("track", "Email Opened", False)


def test_pixel_with_dotted_query_parameters(ingest, aws_stack):
    query = {"userId": "u1", "event": "Email Opened", "properties.subject": "Hi", "writeKey": "pk"}
    assert ingest(api_event("GET", "/v1/pixel/track", query=query))["statusCode"] == 200
    [queued] = aws_stack.queued_events()
    assert queued["properties"] == {"subject": "Hi"}


def test_pixel_with_invalid_input_still_answers_200_and_quarantines(ingest, aws_stack):
    response = ingest(api_event("GET", "/v1/pixel/track", query={"event": "Email Opened"}))
    assert response["statusCode"] == 200
    _gif(response)
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined()[0]["reason"] == "invalid_event"


def test_pixel_answers_503_when_the_event_could_not_be_queued(ingest, aws_stack):
    aws_stack.sqs.delete_queue(QueueUrl=aws_stack.events_url)
    response = ingest(api_event("GET", "/v1/pixel/page", query={"userId": "u1"}))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    _gif(response)


# -- logs --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("closed_mode")
def test_no_write_key_or_source_id_reaches_the_logs(ingest, capsys, log_output):
    for key in ("pk_web_7f3a", "pk_unknown_key"):
        ingest(api_event("POST", "/v1/track", TRACK, headers={"authorization": basic_auth(key)}))
        ingest(api_event("POST", "/v1/track", {"userId": "u", "writeKey": key}))
    logs = log_output.getvalue() + "".join(capsys.readouterr())
    assert '"code":"invalid_write_key"' in logs
    assert '"message":"events quarantined"' in logs
    for secret in ("pk_web_7f3a", "pk_unknown_key", "ILoveData123"):
        assert secret not in logs
        assert base64.b64encode(f"{secret}:".encode()).decode() not in logs


def test_an_event_too_large_even_for_a_queue_message_is_quarantined_truncated(ingest, aws_stack):
    event = {"userId": "u", "event": "Huge", "messageId": "m-huge", "properties": {"pad": "x" * 400_000}}
    response = ingest(api_event("POST", "/v1/track", event))
    assert response["statusCode"] == 413
    [item] = aws_stack.quarantined()
    assert item["reason"] == "event_too_large"
    assert item["event"]["truncated"] is True
    assert item["event"]["messageId"] == "m-huge"
    assert item["event"]["bytes"] > 400_000
    assert item["event"]["head"].startswith('{"userId":"u","event":"Huge"')


def test_a_batch_context_too_big_to_merge_into_its_events_rejects_them_not_a_503(ingest, aws_stack):
    body = {
        "batch": [{**TRACK, "type": "track", "messageId": f"m-{i}"} for i in range(2)],
        "context": {"pad": "x" * 300_000},
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 400
    assert {d["errors"][0]["field"] for d in json.loads(response["body"])["error"]["details"]} == {"context"}
    assert [q["reason"] for q in aws_stack.quarantined()] == ["event_too_large", "event_too_large"]


def test_metrics_count_rejected_events_by_reason(ingest, capsys):
    batch = [{"type": "track", "userId": "u"}, {**TRACK, "type": "launch"}, {**TRACK, "type": "track"}]
    assert ingest(api_event("POST", "/v1/batch", {"batch": batch}))["statusCode"] == 200
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines if '"EventsRejected"' in line]
    by_reason = {r["reason"]: r["EventsRejected"] for r in records}
    assert by_reason == {"invalid_event": [1.0], "invalid_type": [1.0]}


def test_an_empty_type_on_a_typed_route_takes_the_route_s_type(ingest, aws_stack):
    assert ingest(api_event("POST", "/v1/identify", {"userId": "u", "type": ""}))["statusCode"] == 200
    assert [e["type"] for e in aws_stack.queued_events()] == ["identify"]


def test_metrics_count_accepted_events_and_the_messages_they_took(ingest, capsys):
    body = {"batch": [{**TRACK, "type": "track"} for _ in range(3)]}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emitted = {name: values for record in records for name, values in record.items() if name[0].isupper()}
    assert emitted["EventsAccepted"] == [3.0]
    assert emitted["SqsMessagesSent"] == [1.0]
