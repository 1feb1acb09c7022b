"""The tracking plan on its own: reading Segment's plan JSON, the verdicts per kind, the modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import to_json

from edge.core.queueing import serialize
from edge.ingest.limits import MAX_EVENT_BYTES
from edge.ingest.plan import (
    MAX_VIOLATIONS,
    NO_PLAN,
    PLAN_ALLOWANCE,
    UNPLANNED,
    PlanError,
    PlanPolicy,
    TrackingPlan,
    ViolationKind,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "functions" / "ingest" / "plans" / "example.json"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


def _track_rules(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required), **extra}
    return {"$schema": DRAFT7, "type": "object", "properties": {"properties": inner, "context": {}}}


ORDER = _track_rules(
    {
        "order_id": {"type": ["string"]},
        "total": {"type": ["number"], "minimum": 0},
        "currency": {"type": ["string"], "enum": ["USD", "EUR"]},
    },
    ("order_id", "total"),
)
PLAN = TrackingPlan.compile(
    {
        "rules": {
            "events": [{"name": "Order Completed", "version": 1, "rules": ORDER}],
            "identify": {
                "type": "object",
                "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string"}}}},
            },
            "global": {"type": "object", "properties": {"context": {"type": "object"}}},
        }
    }
)


def _order(**properties: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "properties": properties, "context": {}}


def _kinds(event: dict[str, Any], plan: TrackingPlan = PLAN) -> set[tuple[str, str]]:
    verdict = plan.judge(event)
    return set() if verdict is None else {(v["kind"], v["path"]) for v in verdict.violations}


# ---------------------------------------------------------------- reading a plan


def test_the_example_plan_compiles_with_its_events_and_calls():
    plan = TrackingPlan.load(EXAMPLE)
    assert set(plan.events) == {"Order Completed", "Product Viewed", "Signed Up"}
    assert set(plan.calls) == {"identify", "group"}
    assert plan.everything is not None


def test_the_public_api_s_list_of_rules_is_read_as_the_same_plan():
    plan = TrackingPlan.compile(
        {
            "rules": [
                {"type": "TRACK", "key": "Order Completed", "version": 1, "jsonSchema": ORDER},
                {"type": "IDENTIFY", "key": None, "jsonSchema": {"type": "object"}},
                {"type": "PAGE", "jsonSchema": {"required": ["name"]}},
                {"type": "COMMON", "jsonSchema": {"type": "object"}},
            ]
        }
    )
    assert set(plan.events) == {"Order Completed"}
    assert set(plan.calls) == {"identify", "page"}
    assert _kinds(_order(total=1), plan) == {(ViolationKind.REQUIRED_MISSING, "properties.order_id")}
    assert _kinds({"type": "page", "context": {}}, plan) == {(ViolationKind.REQUIRED_MISSING, "name")}


def test_the_highest_version_of_an_event_is_the_one_that_counts():
    old = _track_rules({"a": {"type": "string"}}, ("a",))
    new = _track_rules({"b": {"type": "string"}}, ("b",))
    events = [{"name": "E", "version": 2, "rules": new}, {"name": "E", "version": 1, "rules": old}]
    plan = TrackingPlan.compile({"rules": {"events": events}})
    event = {"type": "track", "event": "E", "properties": {"b": "x"}}
    assert plan.judge(event) is None


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "is not a JSON object"),
        ({"events": []}, 'no "rules" object'),
        ({"rules": {"events": {}}}, "rules.events is not a list"),
        ({"rules": {"events": [{"rules": {}}]}}, "rules.events[0] has no name"),
        ({"rules": {"events": ["x"]}}, "rules.events[0] is not an object"),
        ({"rules": {"events": [{"name": "E", "rules": {"type": "strin"}}]}}, "rules.events[0] ('E')"),
        ({"rules": {"events": [{"name": "E", "rules": []}]}}, "not a JSON Schema"),
        ({"rules": {"identify": {"minimum": "zero"}}}, "rules.identify"),
        ({"rules": {"events": [{"name": "E", "rules": {"pattern": "(?<=a)b"}}]}}, "rules.events[0]"),
        ({"rules": {"global": {"$ref": "https://example.com/s.json"}}}, "remote references are not fetched"),
        ({"rules": [{"type": "TRACK", "key": "E", "jsonSchema": {"type": 3}}]}, "rules.events[0] ('E')"),
    ],
)
def test_a_plan_that_cannot_be_compiled_says_where_and_why(document: Any, problem: str):
    with pytest.raises(PlanError) as refusal:
        TrackingPlan.compile(document)
    assert problem in str(refusal.value)


def test_a_plan_that_cannot_be_read_names_its_file(tmp_path: Path):
    missing = tmp_path / "missing.json"
    with pytest.raises(PlanError, match=r"missing\.json: cannot be read"):
        TrackingPlan.load(missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"rules": ')
    with pytest.raises(PlanError, match=r"broken\.json: not JSON"):
        TrackingPlan.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"rules": {"events": [{"name": "E", "rules": {"type": "strin"}}]}}))
    with pytest.raises(PlanError, match=r"wrong.json: rules.events\[0\] \('E'\): not a valid draft-07"):
        TrackingPlan.load(wrong)


def test_a_mode_other_than_off_needs_a_plan_and_off_reads_none(tmp_path: Path):
    assert PlanPolicy.configure("off", "does-not-exist.json", tmp_path) is NO_PLAN
    with pytest.raises(PlanError, match="TRACKING_PLAN names no plan file"):
        PlanPolicy.configure("observe", "", tmp_path)
    with pytest.raises(PlanError, match="cannot be read"):
        PlanPolicy.configure("observe", "plans/nope.json", tmp_path)
    policy = PlanPolicy.configure("flag", "plans/example.json", EXAMPLE.parents[1])  # relative to the code
    assert policy.mode == "flag"
    assert policy.plan is not None
    assert set(policy.plan.events) == {"Order Completed", "Product Viewed", "Signed Up"}
    assert PlanPolicy.configure("block", str(EXAMPLE), tmp_path).plan is not None  # absolute


# ---------------------------------------------------------------- verdicts, kind by kind


def test_a_planned_valid_event_has_no_verdict():
    assert PLAN.judge(_order(order_id="o-1", total=12.5, currency="EUR")) is None


def test_an_unplanned_track_event_is_a_violation_of_its_own():
    event = {"type": "track", "event": "Cart Abandoned", "properties": {"x": 1}, "context": {}}
    assert _kinds(event) == {(ViolationKind.UNPLANNED_EVENT, "event")}
    assert PlanPolicy("observe", PLAN).metric_event(event) == UNPLANNED


def test_each_kind_is_named_with_the_field_s_path():
    event = _order(total="12", currency="JPY", coupon="SAVE")
    assert _kinds(event) == {
        (ViolationKind.REQUIRED_MISSING, "properties.order_id"),
        (ViolationKind.WRONG_TYPE, "properties.total"),
        (ViolationKind.NOT_ALLOWED_VALUE, "properties.currency"),
        (ViolationKind.UNPLANNED_PROPERTY, "properties.coupon"),
    }


def test_messages_never_echo_the_client_s_value():
    verdict = PLAN.judge(_order(total="secret-value", currency="also-secret", order_id="o"))
    assert verdict is not None
    assert "secret" not in json.dumps(verdict.violations)


def test_a_nested_value_s_path_runs_through_arrays():
    rules = _track_rules({"products": {"type": "array", "items": {"type": "object", "required": ["sku"]}}})
    plan = TrackingPlan.compile({"rules": {"events": [{"name": "E", "rules": rules}]}})
    event = {"type": "track", "event": "E", "properties": {"products": [{"sku": "a"}, {}]}}
    assert _kinds(event, plan) == {(ViolationKind.REQUIRED_MISSING, "properties.products.1.sku")}


def test_additional_properties_false_names_each_unplanned_property_once():
    rules = _track_rules({"a": {"type": "string"}}, additionalProperties=False)
    plan = TrackingPlan.compile({"rules": {"events": [{"name": "E", "rules": rules}]}})
    verdict = plan.judge({"type": "track", "event": "E", "properties": {"a": "x", "b": 1, "c": 2}})
    assert verdict is not None
    assert [(v["kind"], v["path"]) for v in verdict.violations] == [
        (ViolationKind.UNPLANNED_PROPERTY, "properties.b"),
        (ViolationKind.UNPLANNED_PROPERTY, "properties.c"),
    ]


def test_rules_that_list_no_properties_leave_every_property_planned():
    rules = {"type": "object", "properties": {"properties": {"type": "object", "required": ["a"]}}}
    plan = TrackingPlan.compile({"rules": {"events": [{"name": "E", "rules": rules}]}})
    assert plan.judge({"type": "track", "event": "E", "properties": {"a": 1, "anything": 2}}) is None


def test_identify_traits_are_judged_by_the_identify_rules_and_global_judges_every_call():
    identify = {"type": "identify", "traits": {"email": 3, "age": 40}, "context": {}}
    assert _kinds(identify) == {
        (ViolationKind.WRONG_TYPE, "traits.email"),
        (ViolationKind.UNPLANNED_PROPERTY, "traits.age"),
    }
    assert _kinds({"type": "page", "properties": {"anything": 1}, "context": {}}) == set()
    assert _kinds({"type": "alias", "context": "not an object"}) == {(ViolationKind.WRONG_TYPE, "context")}
    assert _kinds({"type": "group", "traits": {"anything": 1}, "context": {}}) == set()  # no group rules


def test_the_metric_dimension_is_the_planned_name_or_the_call():
    policy = PlanPolicy("observe", PLAN)
    assert policy.metric_event(_order()) == "Order Completed"
    assert policy.metric_event({"type": "identify"}) == "(identify)"


def test_an_event_keeps_at_most_its_first_violations_within_the_allowance():
    many = {f"p{i:02d}": i for i in range(40)}
    verdict = PLAN.judge(_order(order_id="o", total=1, **many))
    assert verdict is not None
    assert len(verdict.violations) == MAX_VIOLATIONS
    long_names = {"x" * 90 + str(i): i for i in range(40)}
    verdict = PLAN.judge(_order(order_id="o", total=1, **long_names))
    assert verdict is not None
    assert 0 < len(verdict.violations) <= MAX_VIOLATIONS
    assert len(b',"violations":' + to_json(verdict.violations)) <= PLAN_ALLOWANCE
    assert all(len(v["path"]) <= 100 for v in verdict.violations)
    assert len(verdict.unplanned) == 40  # omit removes every one, not only those listed


# ---------------------------------------------------------------- what each mode does to an event


@pytest.mark.parametrize("mode", ["observe", "block"])
def test_observe_and_block_leave_the_event_as_it_is(mode: str):
    event = _order(total="12", extra=1)
    data = serialize(event)
    marked, verdict = PlanPolicy(mode, PLAN).apply(event, data)  # type: ignore[arg-type]
    assert marked is data
    assert verdict is not None
    assert "violations" not in event["context"]


def test_flag_adds_the_violations_to_the_context():
    event = _order(total="12", extra=1)
    marked, verdict = PlanPolicy("flag", PLAN).apply(event, serialize(event))
    assert verdict is not None
    forwarded = json.loads(marked)
    assert forwarded["context"]["violations"] == verdict.violations
    assert forwarded["properties"]["extra"] == 1


def test_omit_removes_unplanned_properties_and_flags_them():
    event = _order(order_id="o", total=1, extra=1, more={"a": 1})
    marked, _ = PlanPolicy("omit", PLAN).apply(event, serialize(event))
    forwarded = json.loads(marked)
    assert forwarded["properties"] == {"order_id": "o", "total": 1}
    assert {v["path"] for v in forwarded["context"]["violations"]} == {"properties.extra", "properties.more"}


def test_omit_removes_unplanned_traits_of_identify():
    event = {"type": "identify", "traits": {"email": "a@b.c", "age": 4}, "context": {}}
    marked, _ = PlanPolicy("omit", PLAN).apply(event, serialize(event))
    assert json.loads(marked)["traits"] == {"email": "a@b.c"}


def test_a_valid_event_is_forwarded_byte_for_byte_in_every_mode():
    event = _order(order_id="o", total=1)
    data = serialize(event)
    for mode in ("observe", "flag", "omit", "block"):
        assert PlanPolicy(mode, PLAN).apply(event, data) == (data, None)  # type: ignore[arg-type]


def test_a_flagged_event_the_list_would_push_past_the_limit_goes_without_it():
    event = _order(total="12", pad="x" * (MAX_EVENT_BYTES - 200))
    data = serialize(event)
    assert len(data) <= MAX_EVENT_BYTES
    marked, verdict = PlanPolicy("flag", PLAN).apply(event, data)
    assert verdict is not None
    assert len(marked) <= MAX_EVENT_BYTES
    assert "violations" not in json.loads(marked)["context"]


class _Panic(BaseException):
    """What pyo3 raises when Rust code panics."""


_Panic.__name__ = "PanicException"


@pytest.mark.parametrize("failure", [ValueError("engine"), _Panic("capacity overflow")])
def test_an_event_the_engine_fails_on_goes_on_unjudged(failure: BaseException, monkeypatch, log_output):
    def fail(event: Any) -> None:
        raise failure

    monkeypatch.setattr(TrackingPlan, "judge", lambda self, event: fail(event))
    event = _order(total="secret-total")
    data = serialize(event)
    for mode in ("flag", "block"):
        assert PlanPolicy(mode, PLAN).apply(event, data) == (data, None)  # type: ignore[arg-type]
    assert "tracking plan could not judge an event" in log_output.getvalue()
    assert "secret" not in log_output.getvalue()


def test_anything_else_the_engine_raises_is_not_swallowed(monkeypatch):
    def interrupt(self: TrackingPlan, event: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(TrackingPlan, "judge", interrupt)
    with pytest.raises(KeyboardInterrupt):
        PlanPolicy("flag", PLAN).apply(_order(), b"{}")


@pytest.mark.parametrize("mode", ["flag", "omit"])
def test_violations_a_client_sent_never_reach_downstream_when_the_edge_marks_them(mode: str):
    forged = [{"kind": "wrong_type", "path": "properties.x", "message": "forged"}]
    valid = _order(order_id="o", total=1)
    valid["context"]["violations"] = forged
    marked, verdict = PlanPolicy(mode, PLAN).apply(valid, serialize(valid))  # type: ignore[arg-type]
    assert verdict is None
    assert "violations" not in json.loads(marked)["context"]
    invalid = _order(total="12")
    invalid["context"]["violations"] = forged
    marked, verdict = PlanPolicy(mode, PLAN).apply(invalid, serialize(invalid))  # type: ignore[arg-type]
    assert verdict is not None
    assert json.loads(marked)["context"]["violations"] == verdict.violations


def test_observing_leaves_a_client_s_own_context_violations_alone():
    event = _order(order_id="o", total=1)
    event["context"]["violations"] = ["the client's"]
    data = serialize(event)
    assert PlanPolicy("observe", PLAN).apply(event, data) == (data, None)
