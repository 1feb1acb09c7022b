"""Hostile input: every limit holds for what is forwarded, and nothing a client sends costs a 5xx,
an amplification, non-JSON on the queue, or an event under a Source whose key it did not present."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

import pytest

from edge.core.queueing import PARKING_ROOM
from edge.core.secret import fingerprint
from edge.ingest.enrichment import MAX_USER_AGENT_BYTES
from edge.ingest.limits import (
    ENRICHMENT_ALLOWANCE,
    INFLATION_PER_EVENT,
    MAX_BATCH_EVENTS,
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    MAX_INFLATION_RATIO,
    MAX_REJECTIONS_SHOWN,
    QUEUED_PER_BODY_BYTE,
)
from edge_local.upstream import strict_loads
from support.apigw import api_event, basic_auth

CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")
TRACK = {"type": "track", "userId": "u-1", "event": "Clicked"}


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def _queued_strictly(aws_stack: Any) -> list[dict[str, Any]]:
    """Every queued event, parsed as a strict upstream would (no Infinity, no NaN, doubles only)."""
    return [e for body in aws_stack.raw_bodies(aws_stack.events_url) for e in strict_loads(body)["events"]]


# -- amplification -----------------------------------------------------------------------------


def test_a_batch_context_copied_into_thousands_of_items_is_refused_not_amplified(ingest, aws_stack):
    body = {
        "batch": [{**TRACK, "messageId": f"m-{i}"} for i in range(2000)],
        "context": {"pad": "x" * 30_000},
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 413
    assert _body(response)["error"]["code"] == "payload_too_large"
    assert f"{QUEUED_PER_BODY_BYTE} times the request body" in _body(response)["error"]["message"]
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []


def test_a_huge_user_agent_is_cut_and_what_is_queued_stays_within_the_budget(ingest, aws_stack):
    body = {"batch": [{**TRACK, "messageId": f"m-{i}"} for i in range(2500)]}
    raw = json.dumps(body)
    response = ingest(api_event("POST", "/v1/batch", raw_body=raw, headers={"user-agent": "A" * 9000}))
    assert response["statusCode"] == 200
    messages = aws_stack.raw_bodies(aws_stack.events_url)
    events = [e for m in messages for e in json.loads(m)["events"]]
    assert len(events) == 2500
    assert {len(e["context"]["userAgent"].encode()) for e in events} == {MAX_USER_AGENT_BYTES}
    queued = sum(len(m.encode()) for m in messages)
    assert queued <= QUEUED_PER_BODY_BYTE * len(raw) + ENRICHMENT_ALLOWANCE * 2500


def test_a_multibyte_user_agent_is_cut_on_a_character_boundary(ingest, aws_stack):
    response = ingest(api_event("POST", "/v1/track", TRACK, headers={"user-agent": "é" * 5000}))
    assert response["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert event["context"]["userAgent"] == "é" * (MAX_USER_AGENT_BYTES // 2)


def test_an_event_that_outgrows_32_kb_through_enrichment_is_a_413(ingest, aws_stack):
    event = {**TRACK, "messageId": "m-edge", "properties": {"pad": ""}}
    event["properties"]["pad"] = "x" * (MAX_EVENT_BYTES - len(json.dumps(event, separators=(",", ":"))) - 10)
    assert len(json.dumps(event, separators=(",", ":"))) < MAX_EVENT_BYTES
    response = ingest(api_event("POST", "/v1/track", event, headers={"user-agent": "agent/" + "1" * 400}))
    assert response["statusCode"] == 413
    assert _body(response)["error"]["code"] == "event_too_large"
    assert aws_stack.queued_events() == []
    [quarantined] = aws_stack.quarantined()
    assert quarantined["reason"] == "event_too_large"
    assert quarantined["event"]["messageId"] == "m-edge"
    assert "receivedAt" not in quarantined["event"]  # the event as the client sent it


def test_an_item_the_batch_context_pushes_over_32_kb_is_quarantined_alone(ingest, aws_stack):
    big = {**TRACK, "messageId": "m-big", "properties": {"pad": "x" * 20_000}}
    small = {**TRACK, "messageId": "m-small"}
    body = {"batch": [big, small], "context": {"pad": "y" * 15_000}}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    [rejected] = _body(response)["rejected"]
    assert (rejected["index"], rejected["messageId"]) == (0, "m-big")
    assert rejected["errors"][0]["field"] == "context"
    [queued] = aws_stack.queued_events()
    assert queued["messageId"] == "m-small"
    assert queued["context"]["pad"] == "y" * 15_000
    [quarantined] = aws_stack.quarantined()
    assert "pad" not in quarantined["event"].get("context", {})  # stored without the merged context


def test_every_queued_event_is_at_most_32_kb_as_forwarded(ingest, aws_stack):
    pad = MAX_EVENT_BYTES - 600
    body = {"batch": [{**TRACK, "messageId": f"m-{i}", "properties": {"p": "x" * pad}} for i in range(10)]}
    assert ingest(api_event("POST", "/v1/batch", body, headers={"user-agent": "u" * 600}))["statusCode"] in (
        200,
        400,
    )
    for event in _queued_strictly(aws_stack):
        assert len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()) <= MAX_EVENT_BYTES


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "9" * 400])
def test_a_number_outside_the_double_range_is_a_400_invalid_json(ingest, aws_stack, number):
    raw = '{"userId": "u", "event": "E", "properties": {"n": ' + number + "}}"
    response = ingest(api_event("POST", "/v1/track", raw_body=raw))
    assert response["statusCode"] == 400
    error = _body(response)["error"]
    assert error["code"] == "invalid_json"
    assert error["details"] == [
        {"field": "properties.n", "message": "is a number outside the range of a double"}
    ]
    assert aws_stack.queued_events() == []
    [stored] = strict_loads(aws_stack.raw_bodies(aws_stack.quarantine_url)[0])["rejected"]  # still JSON
    # The number is kept, as a string a strict reader takes.
    assert stored["event"]["properties"] == {"n": str(json.loads(number))}


def test_in_a_batch_only_the_item_with_an_infinite_number_is_rejected(ingest, aws_stack):
    item = '{"type": "track", "userId": "u", "event": "E", "messageId": "%s", "properties": {"n": %s}}'
    raw = '{"batch": [' + item % ("bad", "1e400") + ", " + item % ("good", "1.5") + "]}"
    response = ingest(api_event("POST", "/v1/batch", raw_body=raw))
    assert response["statusCode"] == 200
    [rejected] = _body(response)["rejected"]
    assert rejected["messageId"] == "bad"
    assert [e["messageId"] for e in _queued_strictly(aws_stack)] == ["good"]


def test_an_infinite_number_in_the_batch_context_rejects_the_items_it_is_merged_into(ingest, aws_stack):
    raw = '{"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": {"n": 1e999}}'
    response = ingest(api_event("POST", "/v1/batch", raw_body=raw))
    assert response["statusCode"] == 400
    [detail] = _body(response)["error"]["details"]
    assert (detail["index"], detail["errors"][0]["field"]) == (0, "context.n")
    assert aws_stack.queued_events() == []


# -- depth, however the event is built ---------------------------------------------------------


def _gif(response: dict[str, Any]) -> None:
    assert response["headers"]["Content-Type"] == "image/gif"
    assert base64.b64decode(response["body"]).startswith(b"GIF89a")


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100, 230, 300, 2000])
def test_dotted_pixel_parameters_nesting_past_the_limit_are_quarantined_with_a_gif(ingest, aws_stack, levels):
    query = {"userId": "u1", "event": "Opened", ".".join(["p"] * levels): "deep"}
    response = ingest(api_event("GET", "/v1/pixel/track", query=query))
    assert response["statusCode"] == 200
    _gif(response)
    assert aws_stack.queued_events() == []
    [quarantined] = aws_stack.quarantined()
    assert quarantined["reason"] == "too_deep"


def test_dotted_pixel_parameters_within_the_limit_are_queued(ingest, aws_stack):
    query = {"userId": "u1", "event": "Opened", ".".join(["p"] * MAX_DEPTH): "deep"}
    assert ingest(api_event("GET", "/v1/pixel/track", query=query))["statusCode"] == 200
    [queued] = _queued_strictly(aws_stack)
    assert queued["event"] == "Opened"


def test_pixel_data_nesting_past_the_limit_is_quarantined_with_a_gif(ingest, aws_stack):
    deep: Any = "x"
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    data = base64.b64encode(json.dumps({"userId": "u", "event": "E", "properties": deep}).encode()).decode()
    response = ingest(api_event("GET", "/v1/pixel/track", query={"data": data}))
    assert response["statusCode"] == 200
    _gif(response)
    assert aws_stack.queued_events() == []
    [quarantined] = aws_stack.quarantined()
    assert quarantined["reason"] == "too_deep"
    # Stored cut at the limit: the event and MAX_DEPTH - 1 levels below it, then a marker.
    node, levels = quarantined["event"], 1
    assert node["userId"] == "u"
    node = node["properties"]
    while isinstance(node, dict):
        node, levels = node["a"], levels + 1
    assert (levels, node) == (MAX_DEPTH, "…")


def test_json_arrays_nesting_past_the_limit_are_quarantined_cut_at_the_limit(ingest, aws_stack):
    raw = '{"userId": "u", "event": "E", "properties": {"l": ' + "[" * 70 + "1" + "]" * 70 + "}}"
    assert ingest(api_event("POST", "/v1/track", raw_body=raw))["statusCode"] == 400
    [quarantined] = aws_stack.quarantined()
    node, levels = quarantined["event"]["properties"]["l"], 3
    while isinstance(node, list):
        [node], levels = node, levels + 1
    assert (levels, node) == (MAX_DEPTH + 1, "…")


def test_pixel_data_with_an_infinite_number_is_quarantined_with_a_gif(ingest, aws_stack):
    data = base64.b64encode(b'{"userId": "u", "event": "E", "properties": {"n": 1e400}}').decode()
    response = ingest(api_event("GET", "/v1/pixel/track", query={"data": data}))
    assert response["statusCode"] == 200
    _gif(response)
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined()[0]["reason"] == "invalid_json"


def test_a_deep_batch_item_is_rejected_alone(ingest, aws_stack):
    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    body = {
        "batch": [{**TRACK, "messageId": "deep", "properties": {"d": deep}}, {**TRACK, "messageId": "ok"}]
    }
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    assert [(r["messageId"], r["errors"][0]["message"]) for r in _body(response)["rejected"]] == [
        ("deep", f"nests deeper than {MAX_DEPTH} levels")
    ]
    assert [e["messageId"] for e in _queued_strictly(aws_stack)] == ["ok"]


# -- encodings ---------------------------------------------------------------------------------


def test_raw_deflate_is_accepted(ingest, aws_stack):
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(json.dumps(TRACK).encode()) + compressor.flush()
    response = ingest(api_event("POST", "/v1/track", raw_body=raw, headers={"content-encoding": "deflate"}))
    assert response["statusCode"] == 200
    assert len(aws_stack.queued_events()) == 1


def test_multi_member_gzip_is_accepted(ingest, aws_stack):
    text = json.dumps({"batch": [{**TRACK, "messageId": f"m-{i}"} for i in range(4)]}).encode()
    raw = gzip.compress(text[:50]) + gzip.compress(text[50:])
    response = ingest(api_event("POST", "/v1/batch", raw_body=raw, headers={"content-encoding": "gzip"}))
    assert response["statusCode"] == 200
    assert [e["messageId"] for e in aws_stack.queued_events()] == ["m-0", "m-1", "m-2", "m-3"]


def test_a_byte_order_mark_before_the_json_is_tolerated(ingest, aws_stack):
    raw = b"\xef\xbb\xbf" + json.dumps(TRACK).encode()
    assert ingest(api_event("POST", "/v1/track", raw_body=raw))["statusCode"] == 200
    assert len(aws_stack.queued_events()) == 1


# -- compressed bodies: what they cost, queue, quarantine and answer follows what was sent --------


def _gzip_post(path: str, raw: bytes, encoding: str = "gzip") -> dict[str, Any]:
    return api_event("POST", path, raw_body=raw, headers={"content-encoding": encoding})


def test_tens_of_thousands_of_empty_gzip_members_before_an_event_are_read(ingest, aws_stack):
    raw = gzip.compress(b"", mtime=0) * 20_000 + gzip.compress(json.dumps(TRACK).encode())  # 400 KB
    assert ingest(_gzip_post("/v1/track", raw))["statusCode"] == 200
    assert [e["event"] for e in aws_stack.queued_events()] == ["Clicked"]


def test_a_compressed_body_larger_than_the_body_limit_is_a_413(ingest, aws_stack):
    raw = gzip.compress(b"", mtime=0) * 40_000 + gzip.compress(json.dumps(TRACK).encode())  # 800 KB
    response = ingest(_gzip_post("/v1/track", raw))
    assert response["statusCode"] == 413
    assert _body(response)["error"]["message"] == "The request body exceeds 500 KB."


def test_a_few_hundred_bytes_inflating_to_thousands_of_events_are_refused_before_any_is_queued(
    ingest, aws_stack
):
    raw = gzip.compress(json.dumps({"batch": [TRACK] * MAX_BATCH_EVENTS}).encode())
    assert len(raw) < 1000
    response = ingest(_gzip_post("/v1/batch", raw))
    assert response["statusCode"] == 413
    error = _body(response)["error"]
    assert error["code"] == "payload_too_large"
    assert f"more than {MAX_INFLATION_RATIO} times its size" in error["message"]
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []


def test_a_few_hundred_bytes_of_invalid_events_fill_neither_the_quarantine_nor_the_answer(ingest, aws_stack):
    raw = zlib.compress(json.dumps({"batch": [{"type": "track"}] * MAX_BATCH_EVENTS}).encode())
    response = ingest(_gzip_post("/v1/batch", raw, "deflate"))
    assert response["statusCode"] == 413
    assert len(response["body"]) < 300
    assert aws_stack.quarantined() == []


def _within_the_byte_ratio(text: bytes) -> bytes:
    """gzip of ``text``, padded with trailing bytes (which gzip ignores) up to the ratio's edge."""
    data = gzip.compress(text, compresslevel=9)
    return data + b"\0" * max(0, len(text) // MAX_INFLATION_RATIO + 1 - len(data))


@pytest.mark.parametrize(
    "items",
    [[{}] * MAX_BATCH_EVENTS, [{"type": "track"}] * MAX_BATCH_EVENTS, [TRACK] * MAX_BATCH_EVENTS, [{}] * 300],
    ids=["empty-objects", "invalid-events", "bare-events", "empty-objects-under-the-floor"],
)
def test_tiny_events_compressed_within_the_byte_ratio_fill_neither_queue_nor_quarantine(
    ingest, aws_stack, items
):
    raw = _within_the_byte_ratio(json.dumps({"batch": items}).encode())
    assert len(raw) < 2500  # before: 157 bytes quarantined 394 KB, 1.9 KB queued 848 KB
    response = ingest(_gzip_post("/v1/batch", raw))
    assert response["statusCode"] == 413
    assert f"counting {INFLATION_PER_EVENT} bytes more" in _body(response)["error"]["message"]
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []


def test_a_body_compressed_twice_is_a_400(ingest, aws_stack):
    raw = gzip.compress(gzip.compress(json.dumps(TRACK).encode()))
    response = ingest(_gzip_post("/v1/track", raw, "gzip, gzip"))
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "invalid_body"


# -- answers stay small: the rejected are listed up to a cap, and counted -----------------------


def test_a_batch_answer_lists_the_first_rejected_events_and_counts_them_all(ingest, aws_stack):
    invalid = [{"type": "track", "userId": "u", "messageId": f"bad-{i}"} for i in range(MAX_BATCH_EVENTS - 1)]
    response = ingest(api_event("POST", "/v1/batch", {"batch": [*invalid, TRACK]}))
    assert response["statusCode"] == 200
    answer = _body(response)
    assert [r["index"] for r in answer["rejected"]] == list(range(MAX_REJECTIONS_SHOWN))
    assert answer["rejectedCount"] == MAX_BATCH_EVENTS - 1
    assert len(response["body"]) < 20_000  # was 200 KB, listing every one
    assert len(aws_stack.quarantined()) == MAX_BATCH_EVENTS - 1  # every one is kept for the operators
    assert len(aws_stack.queued_events()) == 1


def test_a_batch_of_only_invalid_events_lists_the_first_in_its_400_and_counts_them_all(ingest, aws_stack):
    body = {"batch": [{"type": "track", "userId": "u"}] * MAX_BATCH_EVENTS}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 400
    error = _body(response)["error"]
    assert (error["code"], error["rejectedCount"], len(error["details"])) == (
        "invalid_batch",
        MAX_BATCH_EVENTS,
        MAX_REJECTIONS_SHOWN,
    )
    assert (
        error["message"]
        == f"Every event in the batch is invalid. The first {MAX_REJECTIONS_SHOWN} are listed."
    )


def test_a_field_path_made_of_long_client_keys_is_cut_in_the_answer(ingest, aws_stack):
    deep: Any = 1
    for level in range(MAX_DEPTH):
        deep = {f"k{level}" + "x" * 1000: deep}
    body = {"batch": [{**TRACK, "properties": deep}, TRACK]}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200
    [rejected] = _body(response)["rejected"]
    assert rejected["errors"][0]["field"].startswith("properties.k63xxx")
    assert len(rejected["errors"][0]["field"]) == 101  # 100 characters and an ellipsis
    assert len(aws_stack.quarantined()[0]["errors"][0]["field"]) > 60_000  # the operators see it whole


# -- context.ip: an address, or the edge's own observation ---------------------------------------


@pytest.mark.parametrize(
    "sent",
    ["<script>alert(1)</script>", "1.2.3.4' OR '1'='1", "x" * 300, "203.0.113.7/32", " 203.0.113.7", 42, {}],
)
def test_a_client_ip_that_is_not_an_address_is_replaced_by_the_observed_one_and_counted(
    ingest, aws_stack, capsys, sent
):
    response = ingest(api_event("POST", "/v1/track", {**TRACK, "context": {"ip": sent}}))
    assert response["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert event["context"]["ip"] == "203.0.113.7"  # the request's source address
    assert _repairs(capsys) == {"ip_replaced": 1}


@pytest.mark.parametrize(
    "sent",
    ["198.51.100.23", "2001:db8:85a3::8a2e:370:7334", "::ffff:192.0.2.1", "0.0.0.0"],  # noqa: S104 - data
)
def test_a_server_sdk_s_end_user_address_is_kept(ingest, aws_stack, capsys, sent):
    assert ingest(api_event("POST", "/v1/track", {**TRACK, "context": {"ip": sent}}))["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert event["context"]["ip"] == sent
    assert _repairs(capsys) == {}


def test_a_batch_context_ip_that_is_not_an_address_is_replaced_in_every_item(ingest, aws_stack, capsys):
    body = {"batch": [TRACK, {**TRACK, "context": {"ip": "198.51.100.1"}}], "context": {"ip": "<b>"}}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    assert [e["context"]["ip"] for e in aws_stack.queued_events()] == ["203.0.113.7", "198.51.100.1"]
    assert _repairs(capsys) == {"ip_replaced": 1}


def test_a_pixel_s_ip_parameter_that_is_not_an_address_is_replaced(ingest, aws_stack):
    query = {"userId": "u1", "event": "Opened", "context.ip": "'; DROP TABLE users; --"}
    assert ingest(api_event("GET", "/v1/pixel/track", query=query))["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert event["context"]["ip"] == "203.0.113.7"


def _repairs(capsys: Any) -> dict[str, float]:
    counted: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line) if line.startswith('{"_aws"') else {}
        if "EventsRepaired" in record:
            counted[record["repair"]] = counted.get(record["repair"], 0) + record["EventsRepaired"][0]
    return counted


# -- closed mode: an event travels only under the Source of a key it presented ----------------


@pytest.fixture
def closed_mode(aws_stack):
    aws_stack.set_secret({"sources": CLOSED_SOURCES})


def _sources(aws_stack: Any) -> list[tuple[str, list[str]]]:
    return sorted(
        (m["source"], [e["messageId"] for e in m["events"]]) for m in aws_stack.messages(aws_stack.events_url)
    )


@pytest.mark.usefixtures("closed_mode")
def test_a_batch_item_with_another_valid_key_goes_to_that_key_s_source(ingest, aws_stack):
    body = {
        "batch": [{**TRACK, "messageId": "web"}, {**TRACK, "messageId": "ios", "writeKey": "pk_ios_91bc"}]
    }
    response = ingest(
        api_event("POST", "/v1/batch", body, headers={"authorization": basic_auth("pk_web_7f3a")})
    )
    assert response["statusCode"] == 200
    assert _sources(aws_stack) == sorted([(WEB, ["web"]), (IOS, ["ios"])])


@pytest.mark.usefixtures("closed_mode")
def test_a_batch_item_with_an_unknown_key_is_rejected_and_quarantined_under_the_request_s_source(
    ingest, aws_stack
):
    body = {
        "batch": [{**TRACK, "messageId": "web"}, {**TRACK, "messageId": "stray", "writeKey": "pk_stolen"}]
    }
    response = ingest(
        api_event("POST", "/v1/batch", body, headers={"authorization": basic_auth("pk_web_7f3a")})
    )
    assert response["statusCode"] == 200
    [rejected] = _body(response)["rejected"]
    assert (rejected["messageId"], rejected["errors"]) == (
        "stray",
        [{"field": "writeKey", "message": "is not a valid write key"}],
    )
    assert _sources(aws_stack) == [(WEB, ["web"])]
    [message] = aws_stack.messages(aws_stack.quarantine_url)
    assert message["source"] == WEB
    assert message["rejected"][0]["reason"] == "invalid_write_key"
    assert "pk_stolen" not in json.dumps(message)


@pytest.mark.usefixtures("closed_mode")
def test_a_single_event_presenting_an_unknown_key_of_its_own_is_a_401(ingest, aws_stack):
    event = {**TRACK, "writeKey": "pk_stolen"}
    response = ingest(
        api_event("POST", "/v1/track", event, headers={"authorization": basic_auth("pk_web_7f3a")})
    )
    assert response["statusCode"] == 401
    assert aws_stack.queued_events() == []


@pytest.mark.parametrize(
    "secret",
    [{"sources": {"pk:web": "ILoveData123"}}, {"sources": {"pk_web": "Source:1"}}, {"writeKey": "Source:1"}],
)
def test_a_secret_with_a_key_basic_auth_cannot_carry_is_refused_without_printing_it(
    ingest, aws_stack, capsys, log_output, secret
):
    aws_stack.set_secret(secret)
    response = ingest(api_event("POST", "/v1/track", TRACK, headers={"authorization": basic_auth("pk")}))
    assert response["statusCode"] == 503
    logs = log_output.getvalue() + "".join(capsys.readouterr())
    assert "dependency unavailable" in logs
    for value in ("pk:web", "Source:1", "ILoveData123"):
        assert value not in logs


# -- parking room ------------------------------------------------------------------------------


def test_ingest_leaves_room_in_every_message_for_the_dead_letter_attributes(ingest, aws_stack):
    pad = MAX_EVENT_BYTES - 1000
    body = {"batch": [{**TRACK, "messageId": f"m-{i}", "properties": {"p": "x" * pad}} for i in range(15)]}
    assert ingest(api_event("POST", "/v1/batch", body))["statusCode"] == 200
    sizes = [len(m.encode()) for m in aws_stack.raw_bodies(aws_stack.events_url)]
    assert len(sizes) == 2
    assert max(sizes) <= 256 * 1024 - PARKING_ROOM
    assert max(sizes) > 256 * 1024 - PARKING_ROOM - MAX_EVENT_BYTES  # packed full, not one per event
