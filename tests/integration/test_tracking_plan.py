"""The tracking plan through the ingest handler, mode by mode: what is answered, forwarded,
quarantined and counted — and that a plan never turns an event the edge accepts into a 4xx or 5xx."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.core.config import IngestSettings
from edge.ingest.limits import MAX_BATCH_EVENTS
from edge.ingest.plan import PlanError, TrackingPlan
from edge.ingest.wiring import build_ingestor
from support.apigw import api_event

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "functions" / "ingest" / "plans" / "example.json"
ORDER = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u-1",
    "properties": {"order_id": "o-1", "total": 30.5, "currency": "EUR"},
}
BAD_ORDER = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u-1",
    "properties": {"total": "30.5", "currency": "JPY", "gift_wrap": True},
}
UNPLANNED = {"type": "track", "event": "Wishlist Shared", "userId": "u-1", "properties": {"a": 1}}


@pytest.fixture
def configure(ingest_settings, monkeypatch):
    """Rebuild the handler's ingest service with these settings (the example plan by default)."""
    from ingest import app

    def apply(**env: str) -> None:
        base = {
            f.metadata["variable"]: str(getattr(ingest_settings, f.name))
            for f in fields(ingest_settings)
            if isinstance(getattr(ingest_settings, f.name), str | int)
        }
        settings = IngestSettings.from_env({**base, "TRACKING_PLAN": str(EXAMPLE), **env})
        monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings))

    return apply


def _records(capsys) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def _metric(records: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    return sum(
        sum(record[name])
        for record in records
        if "_aws" in record
        and name in record
        and all(record.get(key) == value for key, value in dimensions.items())
    )


def _violations(event: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["kind"], v["path"]) for v in event["context"].get("violations", [])}


BAD_ORDER_VIOLATIONS = {
    ("required_missing", "properties.order_id"),
    ("wrong_type", "properties.total"),
    ("not_allowed_value", "properties.currency"),
    ("unplanned_property", "properties.gift_wrap"),
}


def test_observe_forwards_unchanged_and_counts_by_event_and_kind(
    ingest, aws_stack, configure, capsys, log_output
):
    configure(TRACKING_PLAN_MODE="observe")
    body = {"batch": [ORDER, BAD_ORDER, UNPLANNED]}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    queued = aws_stack.queued_events()
    assert [e["event"] for e in queued] == ["Order Completed", "Order Completed", "Wishlist Shared"]
    assert all("violations" not in e["context"] for e in queued)
    assert queued[1]["properties"]["gift_wrap"] is True
    records = _records(capsys)
    for kind in ("required_missing", "wrong_type", "not_allowed_value", "unplanned_property"):
        assert _metric(records, "PlanViolations", event="Order Completed", kind=kind) == 1
    assert _metric(records, "PlanViolations", event="(unplanned)", kind="unplanned_event") == 1
    assert _metric(records, "EventsBlocked") == 0
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [outcome] = [line for line in lines if line["message"] == "request outcome"]
    assert outcome["plan"] == {
        "required_missing": 1,
        "wrong_type": 1,
        "not_allowed_value": 1,
        "unplanned_property": 1,
        "unplanned_event": 1,
        "blocked": 0,
    }


def test_flag_forwards_each_event_with_its_own_violations(ingest, aws_stack, configure):
    configure(TRACKING_PLAN_MODE="flag")
    assert (
        ingest(api_event("POST", "/v1/batch", {"batch": [ORDER, BAD_ORDER, UNPLANNED]}))["statusCode"] == 200
    )
    good, bad, unplanned = aws_stack.queued_events()
    assert "violations" not in good["context"]
    assert _violations(bad) == BAD_ORDER_VIOLATIONS
    assert all(set(v) == {"kind", "path", "message"} for v in bad["context"]["violations"])
    assert _violations(unplanned) == {("unplanned_event", "event")}
    # Enrichment and the edge's other work stand.
    assert bad["messageId"]
    assert bad["receivedAt"]
    assert bad["context"]["ip"]


def test_omit_removes_what_the_plan_does_not_list_and_flags_it(ingest, aws_stack, configure):
    configure(TRACKING_PLAN_MODE="omit")
    identify = {"type": "identify", "userId": "u-1", "traits": {"email": "a@example.com", "shoe_size": 44}}
    response = ingest(api_event("POST", "/v1/batch", {"batch": [BAD_ORDER, identify]}))
    assert response["statusCode"] == 200
    order, person = aws_stack.queued_events()
    assert order["properties"] == {"total": "30.5", "currency": "JPY"}
    assert _violations(order) == BAD_ORDER_VIOLATIONS
    assert person["traits"] == {"email": "a@example.com"}
    assert _violations(person) == {("unplanned_property", "traits.shoe_size")}


def test_block_answers_accepted_and_keeps_violating_events_in_the_quarantine(
    ingest, aws_stack, configure, capsys
):
    configure(TRACKING_PLAN_MODE="block")
    invalid = {"type": "track", "userId": "u-1"}  # no event name: the spec's own validation rejects it
    body = {"batch": [ORDER, BAD_ORDER, UNPLANNED, invalid], "writeKey": "pk_web_7f3a"}
    response = ingest(api_event("POST", "/v1/batch", body))
    answer = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert [r["index"] for r in answer["rejected"]] == [3]  # only the spec's rejection is a rejection
    [forwarded] = aws_stack.queued_events()
    assert forwarded["properties"] == ORDER["properties"]
    messages = aws_stack.messages(aws_stack.quarantine_url)
    blocked = [item for m in messages if m.get("kind") == "blocked" for item in m["rejected"]]
    rejected = [item for m in messages if m.get("kind") == "quarantine" for item in m["rejected"]]
    assert [item["index"] for item in blocked] == [1, 2]
    assert [item["index"] for item in rejected] == [3]
    bad, unplanned = blocked
    assert bad["reason"] == "plan_violation"
    assert {(v["kind"], v["path"]) for v in bad["violations"]} == BAD_ORDER_VIOLATIONS
    assert {(v["kind"], v["path"]) for v in unplanned["violations"]} == {("unplanned_event", "event")}
    # The event as it would have been forwarded, ready to be sent on, and never the write key.
    assert bad["event"]["messageId"]
    assert bad["event"]["receivedAt"]
    assert bad["event"]["context"]["ip"]
    assert bad["event"]["properties"] == BAD_ORDER["properties"]
    assert "pk_web_7f3a" not in json.dumps(messages)
    records = _records(capsys)
    assert _metric(records, "EventsBlocked") == 2
    assert _metric(records, "EventsQuarantined") == 1  # the rejection only: the alarm keeps its meaning


def test_a_lone_blocked_event_and_a_batch_of_only_blocked_events_are_answered_accepted(
    ingest, aws_stack, configure
):
    configure(TRACKING_PLAN_MODE="block")
    single = ingest(api_event("POST", "/v1/track", BAD_ORDER))
    batch = ingest(api_event("POST", "/v1/batch", {"batch": [BAD_ORDER, UNPLANNED]}))
    for response in (single, batch):
        assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert aws_stack.queued_events() == []
    assert len(aws_stack.quarantined()) == 3


def test_a_pixel_event_is_judged_like_any_other(ingest, aws_stack, configure):
    configure(TRACKING_PLAN_MODE="flag")
    query = {"userId": "u-1", "event": "Order Completed", "properties.total": "5"}
    response = ingest(api_event("GET", "/v1/pixel/track", None, query=query))
    assert response["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert ("required_missing", "properties.order_id") in _violations(event)


def test_blocked_events_are_not_acknowledged_when_the_quarantine_cannot_be_written(
    ingest, aws_stack, configure
):
    configure(TRACKING_PLAN_MODE="block")
    aws_stack.sqs.delete_queue(QueueUrl=aws_stack.quarantine_url)
    response = ingest(api_event("POST", "/v1/batch", {"batch": [ORDER, BAD_ORDER]}))
    assert response["statusCode"] == 503
    assert "retry-after" in {k.lower() for k in response["headers"]}
    assert aws_stack.queued_events() == []  # the client's retry duplicates nothing


def test_flagging_never_makes_a_full_batch_too_large_to_accept(ingest, aws_stack, configure):
    """Every event of the largest batch breaks the plan as much as it can: its violations ride
    within their own allowance, never into the request's amplification limit."""
    configure(TRACKING_PLAN_MODE="flag")
    event = {"type": "track", "event": "Order Completed", "userId": "u", "properties": {"p": 1}}
    body = {"batch": [event] * MAX_BATCH_EVENTS}
    response = ingest(api_event("POST", "/v1/batch", body))
    assert response["statusCode"] == 200, response["body"]
    queued = aws_stack.queued_events()
    assert len(queued) == MAX_BATCH_EVENTS
    assert all(_violations(e) >= {("required_missing", "properties.order_id")} for e in queued)


def test_a_plan_that_cannot_be_read_stops_the_function_s_init(ingest_settings, tmp_path):
    broken = tmp_path / "shop.json"
    broken.write_text('{"rules": {"events": [{"name": "E", "rules": {"type": "strin"}}]}}')
    base = {f.metadata["variable"]: str(getattr(ingest_settings, f.name)) for f in fields(ingest_settings)}
    settings = IngestSettings.from_env({**base, "TRACKING_PLAN": str(broken), "TRACKING_PLAN_MODE": "flag"})
    with pytest.raises(PlanError, match=r"shop\.json: rules\.events\[0\] \('E'\)"):
        build_ingestor(settings)


# ---------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
names = st.sampled_from(["a", "b", "order_id", "total", "", "é", "x.y"])
type_names = st.sampled_from(["string", "number", "integer", "boolean", "object", "array", "null"])
leaf_schemas = st.one_of(
    st.fixed_dictionaries({"type": type_names | st.lists(type_names, min_size=1, max_size=3, unique=True)}),
    st.fixed_dictionaries({"enum": st.lists(json_scalars, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"const": json_values}),
    st.fixed_dictionaries(
        {"pattern": st.sampled_from(["^a", "[0-9]+$", "(a|b)*c", "^\\S+@\\S+$", "\\p{L}"])}
    ),
    st.fixed_dictionaries({"format": st.sampled_from(["date-time", "email", "uri", "uuid", "ipv4", "nope"])}),
    st.fixed_dictionaries({"minimum": st.integers(-5, 5)}),
    st.fixed_dictionaries({"maxLength": st.integers(0, 5)}),
    st.booleans(),
)
schemas = st.recursive(
    leaf_schemas,
    lambda children: st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(names, children, max_size=3)},
            optional={
                "required": st.lists(names, max_size=3, unique=True),
                "additionalProperties": st.booleans() | children,
            },
        ),
        st.fixed_dictionaries({"items": children}),
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"not": children}),
    ),
    max_leaves=8,
)
containers = st.sampled_from(["properties", "traits", "context"])
plans = st.fixed_dictionaries(
    {
        "events": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["Order Completed", "E", "é"]),
                    "rules": st.builds(
                        lambda c, s: {"type": "object", "properties": {c: s}}, containers, schemas
                    )
                    | schemas,
                },
                optional={"version": st.integers(0, 3) | st.floats(allow_nan=False) | st.text(max_size=2)},
            ),
            max_size=3,
        )
    },
    optional={
        "identify": schemas,
        "group": schemas,
        "global": schemas,
    },
).map(lambda rules: {"rules": rules})
event_types = st.sampled_from(["track", "identify", "group", "page", "screen", "alias"])
events = st.fixed_dictionaries(
    {"type": event_types, "context": st.dictionaries(st.text(max_size=6), json_values, max_size=3)},
    optional={
        "event": st.sampled_from(["Order Completed", "E", "é"]) | json_values,
        "properties": st.dictionaries(names | st.text(max_size=200), json_values, max_size=5) | json_values,
        "traits": st.dictionaries(names, json_values, max_size=3) | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(document=plans, event=events)
def test_no_plan_the_edge_compiles_raises_on_any_event(document: dict[str, Any], event: dict[str, Any]):
    try:
        plan = TrackingPlan.compile(document)
    except PlanError:
        return  # refused at init, with its reason: never judged
    verdict = plan.judge(event)
    if verdict is not None:
        assert verdict.violations or verdict.unplanned
        assert all(set(v) == {"kind", "path", "message"} for v in verdict.violations)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(["observe", "flag", "omit", "block"]),
    items=st.lists(events | st.dictionaries(names, json_values, max_size=4), min_size=1, max_size=4),
)
def test_a_plan_never_changes_an_answer_nor_loses_an_event(
    ingest, aws_stack, configure, mode: str, items: list[dict[str, Any]]
):
    """With the plan, every request is answered as it would be without it, and every event the
    edge accepts is either queued or (block) quarantined: never a 5xx, never lost."""
    body = {"batch": items}
    configure(TRACKING_PLAN_MODE="off")
    without = ingest(api_event("POST", "/v1/batch", body))
    accepted_without = len(aws_stack.queued_events())
    aws_stack.raw_bodies(aws_stack.quarantine_url)  # out of the way (hidden for five minutes)
    configure(TRACKING_PLAN_MODE=mode)
    with_plan = ingest(api_event("POST", "/v1/batch", body))
    assert with_plan["statusCode"] == without["statusCode"]
    if without["statusCode"] != 200:
        return
    answer, answer_without = json.loads(with_plan["body"]), json.loads(without["body"])
    assert answer.get("rejectedCount") == answer_without.get("rejectedCount")
    queued = len(aws_stack.queued_events())
    blocked = [
        i
        for m in aws_stack.messages(aws_stack.quarantine_url)
        if m.get("kind") == "blocked"
        for i in m["rejected"]
    ]
    assert queued + len(blocked) == accepted_without
    if mode != "block":
        assert not blocked
