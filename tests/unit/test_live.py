"""The live events feed and its entries: what each hook's observation becomes on the page."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
from typing import Any

from edge_local.live import LiveFeed
from edge_local.live_entries import batch_entry, dead_letter_entry, request_entry, upstream_entry
from edge_local.template import INGEST_CODE

KEY = "wk_secret_7f3a"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _entries(feed: LiveFeed) -> list[dict[str, Any]]:
    return [json.loads(text) for _, text in feed.after(0, timeout=0)]


def _request(path: str, body: Any, status: int, answer: Any, **kwargs: Any) -> dict[str, Any]:
    """``request_entry`` for a POST; ``privacy`` and ``plan`` passed on when given."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request_entry(
        "POST",
        path,
        query=kwargs.get("query", ""),
        body=raw,
        encoding=kwargs.get("encoding"),
        status=status,
        answer=json.dumps(answer).encode(),
        privacy=kwargs.get("privacy"),
        plan=kwargs.get("plan"),
    )


def test_nothing_is_recorded_while_nobody_watches() -> None:
    feed = LiveFeed()
    assert not feed.watching
    feed.publish({"kind": "request", "events": []})
    assert len(feed) == 0


def test_a_viewer_turns_recording_on_until_the_linger_after_it_leaves() -> None:
    clock = _Clock()
    feed = LiveFeed(linger=60, clock=clock)
    with feed.viewer():
        feed.publish({"kind": "request", "events": []})
    clock.now += 59
    feed.publish({"kind": "request", "events": []})
    assert len(feed) == 2
    assert feed.active()
    clock.now += 2
    assert not feed.active()
    assert not feed.watching
    feed.publish({"kind": "request", "events": []})
    assert len(feed) == 2


def test_the_ring_keeps_the_newest_entries_within_its_count_and_byte_budget() -> None:
    feed = LiveFeed(capacity=3, max_bytes=10_000)
    with feed.viewer():
        for index in range(5):
            feed.publish({"n": index})
        assert [e["n"] for e in _entries(feed)] == [2, 3, 4]
        feed.publish({"big": "x" * 6000})
        feed.publish({"big": "y" * 6000})
    assert [e.get("big", "")[:1] for e in _entries(feed)] == ["y"]


def test_known_secrets_are_scrubbed_from_every_entry_even_json_escaped() -> None:
    feed = LiveFeed(secrets=[KEY, 'SRC"quoted'])
    with feed.viewer():
        feed.publish({"detail": f'key {KEY} and source SRC"quoted'})
    (text,) = [t for _, t in feed.after(0, timeout=0)]
    assert KEY not in text
    assert "SRC" not in text
    assert text.count("[redacted]") == 2


def test_entries_after_an_id_are_what_a_reconnecting_page_gets() -> None:
    feed = LiveFeed()
    with feed.viewer():
        for index in range(3):
            feed.publish({"n": index})
    assert [json.loads(t)["n"] for _, t in feed.after(1, timeout=0)] == [1, 2]
    assert feed.after(3, timeout=0) == []


def test_a_valid_single_event_is_accepted_without_its_key() -> None:
    body = {"userId": "u-1", "event": "Order Completed", "messageId": "m-1", "writeKey": KEY}
    entry = _request("/v1/t", body, 200, {"success": True})
    assert entry["outcome"] == "accepted"
    assert entry["events"] == [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "u-1",
            "messageId": "m-1",
            "outcome": "accepted",
        }
    ]
    assert KEY not in json.dumps(entry)


def test_an_invalid_single_event_shows_its_field_errors() -> None:
    answer = {
        "success": False,
        "error": {
            "code": "invalid_event",
            "message": "The event is invalid.",
            "details": [{"field": "event", "message": "is required"}],
        },
    }
    entry = _request("/v1/track", {"userId": "u-1", "messageId": "m-2"}, 400, answer)
    assert (entry["outcome"], entry["status"], entry["error"]["code"]) == ("rejected", 400, "invalid_event")
    assert entry["events"][0]["outcome"] == "rejected"
    assert entry["events"][0]["errors"] == [{"field": "event", "message": "is required"}]


def test_a_partly_invalid_batch_marks_each_item() -> None:
    body = {
        "writeKey": KEY,
        "batch": [
            {"type": "page", "name": "Home", "anonymousId": "a-1", "messageId": "b-0"},
            {"type": "track", "anonymousId": "a-1", "messageId": "b-1"},
        ],
    }
    answer = {
        "success": True,
        "rejected": [
            {"index": 1, "messageId": "b-1", "errors": [{"field": "event", "message": "is required"}]}
        ],
    }
    entry = _request("/v1/batch", gzip.compress(json.dumps(body).encode()), 200, answer, encoding="gzip")
    assert entry["outcome"] == "accepted"
    assert [(e["messageId"], e["outcome"], e.get("errors")) for e in entry["events"]] == [
        ("b-0", "accepted", None),
        ("b-1", "rejected", [{"field": "event", "message": "is required"}]),
    ]


def test_a_batch_whose_every_item_is_invalid_is_rejected_item_by_item() -> None:
    answer = {
        "success": False,
        "error": {
            "code": "invalid_batch",
            "message": "Every event in the batch is invalid.",
            "details": [
                {"index": 0, "messageId": None, "errors": [{"field": "type", "message": "is required"}]}
            ],
        },
    }
    entry = _request("/v1/batch", {"batch": [{"event": "x"}]}, 400, answer)
    assert (entry["outcome"], entry["events"][0]["outcome"]) == ("rejected", "rejected")
    assert entry["events"][0]["errors"] == [{"field": "type", "message": "is required"}]


def test_a_refused_request_and_an_unavailable_one() -> None:
    unauthorized = {
        "success": False,
        "error": {"code": "invalid_write_key", "message": "A valid write key is required."},
    }
    refused = _request("/v1/batch", {"batch": [{"type": "track", "event": "x"}]}, 401, unauthorized)
    assert (refused["outcome"], refused["events"][0]["outcome"]) == ("refused", "refused")
    unavailable = {
        "success": False,
        "error": {"code": "service_unavailable", "message": "Try again shortly."},
    }
    assert _request("/v1/track", {"event": "x"}, 503, unavailable)["outcome"] == "unavailable"


def test_a_body_that_cannot_be_read_still_gives_an_entry() -> None:
    entry = _request("/v1/batch", b"\x1f\x8b not gzip", 400, {"success": False}, encoding="gzip")
    assert (entry["events"], entry["outcome"]) == ([], "refused")


def test_a_pixel_event_is_read_from_its_data_parameter() -> None:
    data = base64.urlsafe_b64encode(
        json.dumps({"userId": "u-9", "event": "Opened", "writeKey": KEY}).encode()
    )
    entry = request_entry(
        "GET",
        "/v1/pixel/track",
        query=f"data={data.decode()}",
        body=b"",
        encoding=None,
        status=200,
        answer=b"GIF",
    )
    assert entry["events"] == [{"type": "track", "event": "Opened", "userId": "u-9", "outcome": "accepted"}]
    assert KEY not in json.dumps(entry)


def test_an_upstream_answer_gives_each_event_its_outcome_and_body_as_forwarded() -> None:
    events = [
        {"type": "track", "event": "A", "messageId": "m-1"},
        {"type": "track", "event": "B", "messageId": "m-2"},
    ]
    entry = upstream_entry("/v1/batch", 207, events, {1: 503})
    assert [(e["messageId"], e["outcome"], e["status"]) for e in entry["events"]] == [
        ("m-1", "forwarded", 207),
        ("m-2", "retried", 503),
    ]
    assert entry["outcome"] == "retried"
    assert entry["events"][0]["body"] == events[0]
    assert upstream_entry("/v1/batch", 400, events, {})["outcome"] == "refused"
    assert upstream_entry("/v1/batch", 503, events, {})["outcome"] == "retried"
    assert upstream_entry("/v1/batch", 200, events, {})["outcome"] == "forwarded"


def test_a_forwarded_event_is_shown_without_a_key_and_a_huge_one_by_its_size() -> None:
    entry = upstream_entry("/v1/track", 200, [{"type": "track", "writeKey": KEY, "p": "x" * 20_000}], {})
    assert entry["events"][0]["body"] == {
        "truncated": True,
        "bytes": len(json.dumps({"type": "track", "p": "x" * 20_000})),
    }
    assert KEY not in json.dumps(upstream_entry("/v1/track", 200, [{"type": "track", "writeKey": KEY}], {}))


def test_a_forwarder_invocation_shows_what_was_left_for_redelivery() -> None:
    first = json.dumps(
        {"v": 1, "source": None, "events": [{"type": "track", "event": "A", "messageId": "e-1"}]}
    )
    second = json.dumps(
        {"v": 1, "source": "fp", "events": [{"type": "page", "name": "B", "messageId": "e-2"}]}
    )
    entry = batch_entry([first, second], ["sqs-1", "sqs-2"], {"sqs-2"})
    assert (entry["messages"], entry["redelivered"], entry["outcome"]) == (2, 1, "retried")
    assert [(e["messageId"], e["outcome"]) for e in entry["events"]] == [
        ("e-1", "settled"),
        ("e-2", "retried"),
    ]


def test_a_parked_message_shows_its_reason_and_a_message_sqs_moved_says_so() -> None:
    body = json.dumps(
        {"v": 1, "source": None, "events": [{"type": "identify", "userId": "u", "messageId": "p-1"}]}
    )
    parked = dead_letter_entry(
        body, {"reason": "upstream_rejected", "detail": "The upstream answered 400.", "upstreamStatus": "400"}
    )
    assert (parked["reason"], parked["status"], parked["events"][0]["reason"]) == (
        "upstream_rejected",
        400,
        "upstream_rejected",
    )
    moved = dead_letter_entry(body, {})
    assert moved["reason"] == "max_receive_count"
    assert "too many times" in moved["detail"]
    assert dead_letter_entry("not json", {"reason": "invalid_message"})["events"] == []


def test_past_the_answer_s_cap_on_listed_rejections_events_are_unlisted_not_accepted() -> None:
    batch = [{"type": "track", "userId": "u", "messageId": f"b-{i}"} for i in range(5)]
    answer = {
        "success": True,
        "rejected": [{"index": i, "messageId": f"b-{i}", "errors": []} for i in (0, 2)],
        "rejectedCount": 4,
    }
    entry = _request("/v1/batch", {"batch": batch}, 200, answer)
    assert [e["outcome"] for e in entry["events"]] == [
        "rejected",
        "accepted",
        "rejected",
        "unlisted",
        "unlisted",
    ]
    assert entry["note"] == "4 events rejected: the answer lists the first 2"


def test_every_item_of_an_invalid_batch_is_rejected_listed_or_not() -> None:
    answer = {
        "success": False,
        "error": {
            "code": "invalid_batch",
            "message": "Every event in the batch is invalid. The first 1 are listed.",
            "details": [{"index": 0, "messageId": None, "errors": []}],
            "rejectedCount": 3,
        },
    }
    entry = _request("/v1/batch", {"batch": [{"event": "x"}] * 3}, 400, answer)
    assert [e["outcome"] for e in entry["events"]] == ["rejected"] * 3


def test_a_compressed_bomb_is_read_no_further_than_the_page_shows() -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")
    tracemalloc.start()
    try:
        entry = _request("/v1/batch", bomb, 413, {"success": False}, encoding="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry["events"] == []
    assert peak < 8 * 1024 * 1024  # was the whole 64 MB


# -- what the privacy controls decided: dropped and why, the consent each event goes on with ------

ONETRUST = (
    "OptanonConsent=isGpcEnabled=0&version=202310.2.0&interactionCount=1&landingPath=NotLandingPage"
    "&groups=C0001%3A1%2CC0002%3A0%2CC0004%3A1"
)


def _decided(body: Any, cookies: list[str], headers: dict[str, str] | None = None, **settings: str) -> Any:
    from edge.ingest.privacy import PrivacyPolicy

    policy = PrivacyPolicy.configure(
        bot_policy="keep",
        gpc_policy="ignore",
        required_consent=settings.get("required", ""),
        consent_when_missing="forward",
        hash_fields="",
        consent_cookie="onetrust",
        gpc_opt_out=settings.get("gpc", ""),
    )
    path = "/v1/batch" if "batch" in body else "/v1/t"
    return _request(
        path, body, 200, {"success": True}, privacy=policy.for_request(headers or {}, "keep", cookies)
    )


def test_an_event_a_control_dropped_says_so_and_why() -> None:
    entry = _decided({"userId": "u-1", "event": "Viewed", "messageId": "m-1"}, [ONETRUST], required="C0002")
    assert entry["outcome"] == "dropped"
    [event] = entry["events"]
    assert (event["outcome"], event["reason"]) == ("dropped", "consent")
    assert event["consent"] == "onetrust cookie: opts out of C0002 (explicit)"


def test_each_event_shows_the_consent_it_is_forwarded_with_and_where_it_came_from() -> None:
    body = {
        "batch": [
            {
                "type": "track",
                "userId": "u",
                "event": "A",
                "messageId": "own",
                "context": {"consent": {"optOut": {"C0004": "true"}}},
            },
            {"type": "track", "userId": "u", "event": "B", "messageId": "cookie"},
            {
                "type": "track",
                "userId": "u",
                "event": "C",
                "messageId": "denied",
                "context": {"consent": {"categoryPreferences": {"C0001": False}}},
            },
        ]
    }
    entry = _decided(body, [ONETRUST], {"sec-gpc": "1"}, required="C0001", gpc="C0005")
    shown = {e["messageId"]: (e["outcome"], e.get("consent"), e.get("reason")) for e in entry["events"]}
    assert shown == {
        "own": ("accepted", "event: opts out of C0004, C0005 · GPC", None),
        "cookie": ("accepted", "onetrust cookie: opts out of C0002, C0005 (explicit) · GPC", None),
        "denied": ("dropped", "event: opts out of C0001, C0005 · GPC", "consent"),
    }
    assert entry["outcome"] == "accepted"
    assert body["batch"][0]["context"]["consent"] == {"optOut": {"C0004": "true"}}  # shown, not changed


def test_the_batch_s_consent_is_shown_as_the_batch_s() -> None:
    body = {
        "batch": [{"type": "track", "userId": "u", "event": "A"}],
        "context": {"consent": {"optOut": {"C0004": False}}},
    }
    [event] = _decided(body, [ONETRUST])["events"]
    assert event["consent"] == "batch: opts out of nothing"


def test_a_forwarded_event_shows_its_consent() -> None:
    forwarded = {
        "type": "track",
        "messageId": "m-1",
        "context": {"consent": {"explicit": False, "optOut": {"C0004": True, "C0001": False}}},
    }
    [event] = upstream_entry("/v1/batch", 200, [forwarded, {"type": "page"}], {})["events"][:1]
    assert event["consent"] == "opts out of C0004 (not explicit)"
    assert "consent" not in upstream_entry("/v1/batch", 200, [{"type": "page"}], {})["events"][0]


def test_a_request_under_a_front_door_s_prefix_is_read_as_the_api_saw_it_and_shown_as_sent() -> None:
    body = json.dumps({"userId": "u-1", "event": "Prefixed", "messageId": "m-p"}).encode()
    entry = request_entry(
        "POST", "/v1/t", shown_path="/mr/v1/t", query="", body=body, encoding=None, status=200, answer=b"{}"
    )
    assert entry["route"] == "/mr/v1/t"
    assert [(e["type"], e["messageId"], e["outcome"]) for e in entry["events"]] == [
        ("track", "m-p", "accepted")
    ]


def test_a_custom_event_is_shown_by_its_metadata_from_the_body_or_the_query_and_never_its_key() -> None:
    body = json.dumps(
        {"order": 1, "type": "webhook", "_metarouter": {"writeKey": "pk_web", "eventName": "paid"}}
    )
    entry = request_entry(
        "POST",
        "/v1/custom/event",
        query="userID=u-1&eventName=ignored&writeKey=pk_web",
        body=body.encode(),
        encoding=None,
        status=200,
        answer=b'{"success": true}',
    )
    assert entry["events"] == [{"type": "custom", "event": "paid", "userId": "u-1", "outcome": "accepted"}]
    assert "pk_web" not in json.dumps(entry)


def test_a_forwarded_custom_event_is_shown_without_the_source_id_and_a_queued_one_by_its_wrapper() -> None:
    forwarded = {
        "order": 1,
        "_metarouter": {"writeKey": "SourceId123", "eventName": "paid", "eventID": "e-1"},
    }
    entry = upstream_entry("/v1/custom/event", 200, [forwarded], {})
    [event] = entry["events"]
    assert (event["type"], event["event"], event["messageId"], event["outcome"]) == (
        "custom",
        "paid",
        "e-1",
        "forwarded",
    )
    assert "SourceId123" not in json.dumps(entry)
    assert event["body"]["_metarouter"] == {"eventName": "paid", "eventID": "e-1"}
    queued = {"type": "custom", "messageId": "m-9", "body": {"_metarouter": {"eventName": "paid"}}}
    message = json.dumps({"v": 1, "source": None, "events": [queued]})
    [shown] = batch_entry([message], ["q1"], set())["events"]
    assert (shown["type"], shown["event"], shown["messageId"]) == ("custom", "paid", "m-9")


# -- what the tracking plan says of each event: its violations, and what block mode held back ------

EXAMPLE_PLAN = INGEST_CODE / "plans" / "example.json"
ORDER = {"order_id": "o-1", "total": 42, "currency": "USD"}


def _judged(path: str, body: Any, mode: str, *, answer: Any = None, plan: Any = None) -> dict[str, Any]:
    from edge.ingest.plan import PlanPolicy, TrackingPlan

    policy = PlanPolicy(mode, plan or TrackingPlan.load(EXAMPLE_PLAN))  # type: ignore[arg-type]
    return _request(path, body, 200, answer or {"success": True}, plan=policy)


def test_each_accepted_event_shows_the_plan_s_violations_and_a_clean_one_none() -> None:
    body = {
        "batch": [
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "u",
                "properties": {**ORDER, "total": "42"},
            },
            {"type": "track", "event": "Product Viewed", "userId": "u", "properties": {"product_id": "p-1"}},
            {"type": "track", "event": "Coupon Applied", "userId": "u"},
            {"type": "identify", "userId": "u", "traits": {"email": "ada", "nickname": "A"}},
        ]
    }
    entry = _judged("/v1/batch", body, "flag")
    assert entry["plan"] == "flag"
    assert entry["outcome"] == "accepted"
    shown = [
        (e["outcome"], [(v["kind"], v["path"]) for v in e.get("violations", [])]) for e in entry["events"]
    ]
    assert shown == [
        ("accepted", [("wrong_type", "properties.total")]),
        ("accepted", []),
        ("accepted", [("unplanned_event", "event")]),
        ("accepted", [("unplanned_property", "traits.nickname"), ("not_allowed_value", "traits.email")]),
    ]
    assert entry["events"][0]["violations"][0]["message"] == "must be number"
    assert "violations" not in entry["events"][1]


def test_in_block_mode_an_event_with_violations_is_shown_blocked_and_a_request_of_only_those_too() -> None:
    batch = [
        {"type": "track", "event": "Order Completed", "userId": "u", "messageId": "ok", "properties": ORDER},
        {"type": "track", "event": "Coupon Applied", "userId": "u", "messageId": "unplanned"},
    ]
    entry = _judged("/v1/batch", {"batch": batch}, "block")
    assert [(e["messageId"], e["outcome"]) for e in entry["events"]] == [
        ("ok", "accepted"),
        ("unplanned", "blocked"),
    ]
    assert entry["outcome"] == "accepted"
    assert entry["plan"] == "block"
    only = _judged("/v1/batch", {"batch": batch[1:]}, "block")
    assert (only["outcome"], only["events"][0]["outcome"]) == ("blocked", "blocked")
    assert _judged("/v1/batch", {"batch": batch[1:]}, "observe")["events"][0]["outcome"] == "accepted"


def test_an_event_is_judged_with_its_route_s_type_and_its_batch_s_context() -> None:
    from edge.ingest.plan import TrackingPlan

    # Every call must carry context.locale; a track call's properties are listed.
    plan = TrackingPlan.compile(
        {
            "rules": {
                "events": [
                    {
                        "name": "Signed Up",
                        "rules": {"properties": {"properties": {"properties": {"method": {}}}}},
                    }
                ],
                "global": {"properties": {"context": {"required": ["locale"]}}},
            }
        }
    )
    single = _judged(
        "/v1/t", {"event": "Signed Up", "userId": "u", "properties": {"via": "x"}}, "flag", plan=plan
    )
    assert [(v["kind"], v["path"]) for v in single["events"][0]["violations"]] == [
        ("unplanned_property", "properties.via"),  # judged as a track call: /v1/t says so
        ("required_missing", "context.locale"),
    ]
    batch = {
        "batch": [
            {"type": "track", "event": "Signed Up", "userId": "u"},
            {"type": "track", "event": "Signed Up", "userId": "u", "context": {"page": {}}},
        ],
        "context": {"locale": "en-GB"},
        "writeKey": KEY,
    }
    assert [e.get("violations") for e in _judged("/v1/batch", batch, "block", plan=plan)["events"]] == [
        None,
        None,
    ]


def test_a_rejected_event_is_not_judged_and_no_plan_shows_nothing() -> None:
    batch = [
        {"type": "track", "event": "Coupon Applied", "userId": "u", "messageId": "bad"},
        {"type": "track", "event": "Coupon Applied", "userId": "u", "messageId": "kept"},
    ]
    answer = {"success": True, "rejected": [{"index": 0, "messageId": "bad", "errors": []}]}
    entry = _judged("/v1/batch", {"batch": batch}, "block", answer=answer)
    assert [(e["outcome"], "violations" in e) for e in entry["events"]] == [
        ("rejected", False),
        ("blocked", True),
    ]
    plain = _request("/v1/batch", {"batch": batch}, 200, {"success": True})
    assert "plan" not in plain
    assert all("violations" not in e for e in plain["events"])


def test_a_forwarded_event_shows_the_violations_it_carries() -> None:
    violation = {"kind": "wrong_type", "path": "properties.total", "message": "must be number"}
    flagged = {
        "type": "track",
        "messageId": "m-1",
        "context": {"violations": [violation, "odd", {"kind": 7}]},
    }
    clean = {"type": "track", "messageId": "m-2", "context": {}}
    first, second = upstream_entry("/v1/batch", 200, [flagged, clean], {})["events"]
    assert first["violations"] == [violation, {"kind": "7", "path": "", "message": ""}]
    assert first["body"]["context"]["violations"][0] == violation
    assert "violations" not in second
