"""make plan-report's parts: the metric records of a log, CloudWatch's queries and answers (moto,
and a fake for what moto does not page), the quarantine's blocked events summarised, the report."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_ops import plan_report
from edge_ops.plan_report import (
    MetricCounts,
    QuarantineSummary,
    Report,
    as_json,
    cloudwatch_counts,
    emf_counts,
    local_log,
    metric_counts,
    metric_queries,
    render,
    summarise,
)
from edge_ops.queues import Target

END = datetime(2026, 12, 7, 12, tzinfo=UTC)
START = END - timedelta(hours=24)
NAMESPACE = "MetaRouterEdge/metarouter-edge"


def emf(at: datetime, metrics: dict[str, Any], **dimensions: str) -> str:
    """A metric record as Powertools writes it (values as lists, or a bare number)."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(at.timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": "MetaRouterEdge/local",
                        "Dimensions": [[*sorted(dimensions), "service"]],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics],
                    }
                ],
            },
            **dimensions,
            "service": "edge-ingest",
            **metrics,
        }
    )


def violations(at: datetime, event: str, kind: str, value: Any = None) -> str:
    return emf(at, {"PlanViolations": [1.0] if value is None else value}, event=event, kind=kind)


# ---------------------------------------------------------------- the log's metric records


def test_the_log_s_records_in_the_window_are_summed_by_event_and_kind() -> None:
    inside = START + timedelta(hours=1)
    lines = [
        violations(inside, "Order Completed", "required_missing"),
        violations(inside, "Order Completed", "required_missing", [2.0, 1.0]),
        violations(inside, "Order Completed", "wrong_type", 4),
        violations(inside, "(unplanned)", "unplanned_event"),
        emf(inside, {"SqsMessagesSent": [1.0], "EventsAccepted": [3.0], "EventsBlocked": [2.0]}),
        emf(inside, {"EventsBlocked": 5}),
        emf(inside, {"EventsAccepted": [9.0]}),
    ]
    counts = emf_counts(lines, START, END)
    assert counts.violations == Counter(
        {
            ("Order Completed", "required_missing"): 4,
            ("Order Completed", "wrong_type"): 4,
            ("(unplanned)", "unplanned_event"): 1,
        }
    )
    assert counts.blocked == 7


def test_records_outside_the_window_are_left_out_its_start_included_its_end_not() -> None:
    lines = [
        violations(START - timedelta(seconds=1), "Signed Up", "required_missing"),
        violations(START, "Signed Up", "wrong_type"),
        violations(END - timedelta(milliseconds=1), "Signed Up", "not_allowed_value"),
        violations(END, "Signed Up", "unplanned_property"),
        emf(END, {"EventsBlocked": [3.0]}),
    ]
    counts = emf_counts(lines, START, END)
    assert counts.violations == Counter(
        {("Signed Up", "wrong_type"): 1, ("Signed Up", "not_allowed_value"): 1}
    )
    assert counts.blocked == 0


def test_log_lines_that_are_not_metric_records_are_skipped() -> None:
    inside = START + timedelta(hours=2)
    record = json.loads(violations(inside, "Order Completed", "wrong_type"))
    lines = [
        '{"level":"INFO","message":"request outcome","plan":{"PlanViolations":1}}',  # no _aws
        '{"_aws": "PlanViolations"}',
        '{"_aws": {"Timestamp": "soon"}, "PlanViolations": [1.0]}',
        "not json, mentioning PlanViolations and _aws",
        json.dumps({**record, "_aws": {**record["_aws"], "CloudWatchMetrics": []}}),  # not declared a metric
        b'\xff\xfe binary "_aws" EventsBlocked',
        violations(inside, "Order Completed", "wrong_type").encode(),  # a log read as bytes
    ]
    counts = emf_counts(lines, START, END)
    assert counts.violations == Counter({("Order Completed", "wrong_type"): 1})


def test_the_local_log_is_found_by_the_variable_then_the_stack_s_state_then_the_default(
    tmp_path: Path,
) -> None:
    state = tmp_path / "stack.json"
    assert local_log(state, {}) == plan_report.ROOT / ".local" / "logs" / "ingest.log"
    state.write_text(json.dumps({"logs": str(tmp_path / "from-state")}))
    assert local_log(state, {}) == tmp_path / "from-state" / "ingest.log"
    assert local_log(state, {"LOCAL_LOG_DIR": str(tmp_path / "env")}) == tmp_path / "env" / "ingest.log"


# ---------------------------------------------------------------- CloudWatch


def _listed(name: str, **dimensions: str) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in {"service": "edge-ingest", **dimensions}.items()],
    }


def test_queries_ask_for_each_listed_metric_s_sum_over_the_window() -> None:
    listed = [
        _listed("PlanViolations", event="Order Completed", kind="wrong_type"),
        _listed("PlanViolations", event="(identify)"),  # not the plan's: no kind
        _listed("EventsBlocked"),
        _listed("EventsAccepted"),
        _listed("PlanViolations", kind="wrong_type", event="Order Completed"),  # again
    ]
    queries, meaning = metric_queries(listed, 86_400)
    assert [q["MetricStat"]["Metric"] for q in queries] == [listed[0], listed[2]]
    assert {q["MetricStat"]["Stat"] for q in queries} == {"Sum"}
    assert {q["MetricStat"]["Period"] for q in queries} == {86_400}
    assert len({q["Id"] for q in queries}) == 2
    assert all(q["Id"][0].islower() for q in queries)  # GetMetricData's rule for ids
    assert [meaning[q["Id"]] for q in queries] == [
        ("PlanViolations", "Order Completed", "wrong_type"),
        ("EventsBlocked", "", ""),
    ]


def test_answers_are_summed_across_periods_and_pages() -> None:
    meaning = {"m0": ("PlanViolations", "Signed Up", "required_missing"), "m1": ("EventsBlocked", "", "")}
    results = [
        {"Id": "m0", "Values": [3.0, 2.0]},
        {"Id": "m1", "Values": [4.0]},
        {"Id": "m0", "Values": [1.0]},  # a later page
        {"Id": "m1", "Values": []},
    ]
    counts = metric_counts(meaning, results)
    assert counts.violations == Counter({("Signed Up", "required_missing"): 6})
    assert counts.blocked == 4


def test_cloudwatch_counts_read_moto_s_metrics_of_the_stack_and_window() -> None:
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")

        def put(name: str, value: float, at: datetime, namespace: str = NAMESPACE, **dims: str) -> None:
            dimensions = [{"Name": k, "Value": v} for k, v in {"service": "edge-ingest", **dims}.items()]
            cloudwatch.put_metric_data(
                Namespace=namespace,
                MetricData=[{"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": at}],
            )

        inside = END - timedelta(hours=3)
        put("PlanViolations", 2, inside, event="Order Completed", kind="wrong_type")
        put("PlanViolations", 3, inside - timedelta(hours=5), event="Order Completed", kind="wrong_type")
        put("PlanViolations", 1, inside, event="(identify)", kind="unplanned_property")
        put("PlanViolations", 7, START - timedelta(hours=1), event="(group)", kind="wrong_type")  # before
        put("PlanViolations", 9, inside, "MetaRouterEdge/other-stack", event="Elsewhere", kind="wrong_type")
        put("EventsBlocked", 4, inside)
        put("EventsBlocked", 1, inside - timedelta(hours=1))

        counts = cloudwatch_counts(cloudwatch, NAMESPACE, START, END)
    assert counts.violations == Counter(
        {("Order Completed", "wrong_type"): 5, ("(identify)", "unplanned_property"): 1}
    )
    assert counts.blocked == 5
    assert NAMESPACE in counts.source


class FakeCloudWatch:
    """Lists ``n`` metrics and answers each query with 1, a page of ``page`` results at a time."""

    def __init__(self, n: int, page: int) -> None:
        self.metrics = [_listed("PlanViolations", event=f"E{i}", kind="wrong_type") for i in range(n)]
        self.page = page
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> FakeCloudWatch:
        assert name == "list_metrics"
        return self

    def paginate(self, *, Namespace: str, MetricName: str) -> list[dict[str, Any]]:  # noqa: N803
        return [{"Metrics": [m for m in self.metrics if m["MetricName"] == MetricName]}]

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        queries = request["MetricDataQueries"]
        first = int(request.get("NextToken", 0))
        answer: dict[str, Any] = {
            "MetricDataResults": [
                {"Id": q["Id"], "Values": [1.0]} for q in queries[first : first + self.page]
            ]
        }
        if first + self.page < len(queries):
            answer["NextToken"] = str(first + self.page)
        return answer


def test_many_metrics_take_several_calls_of_at_most_500_queries_each_followed_to_their_last_page() -> None:
    cloudwatch = FakeCloudWatch(1_203, page=200)
    counts = cloudwatch_counts(cloudwatch, NAMESPACE, START, END)
    assert sum(counts.violations.values()) == 1_203
    assert len(counts.violations) == 1_203
    assert max(len(call["MetricDataQueries"]) for call in cloudwatch.calls) == 500
    assert {call["StartTime"] for call in cloudwatch.calls} == {START}
    assert {call["EndTime"] for call in cloudwatch.calls} == {END}
    assert all(call["MetricDataQueries"][0]["MetricStat"]["Period"] == 86_400 for call in cloudwatch.calls)


# ---------------------------------------------------------------- the quarantine


def blocked_item(message_id: str, name: str | None, at: datetime, *found: tuple[str, str]) -> dict[str, Any]:
    """A quarantine item of a blocked event: a track event of that name, else an identify call."""
    event: dict[str, Any] = {"type": "identify", "messageId": message_id}
    if name is not None:
        event = {"type": "track", "event": name, "messageId": message_id}
    return {
        "index": 0,
        "reason": "plan_violation",
        "violations": [{"kind": kind, "path": path, "message": "…"} for kind, path in found],
        "route": "batch",
        "receivedAt": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": event,
    }


def message(kind: str, *items: dict[str, Any], source: str | None = None) -> str:
    return json.dumps({"v": 1, "source": source, "kind": kind, "rejected": list(items)})


def test_blocked_events_of_the_window_are_summarised_by_name_kind_and_path() -> None:
    inside, before = END - timedelta(hours=1), START - timedelta(minutes=1)
    bodies = [
        message(
            "blocked",
            blocked_item("m-1", "Order Completed", inside, ("required_missing", "properties.order_id")),
            blocked_item(
                "m-2",
                "Order Completed",
                inside,
                ("required_missing", "properties.order_id"),
                ("wrong_type", "properties.total"),
            ),
            blocked_item("m-3", "Order Complete", inside, ("unplanned_event", "event")),
        ),
        message(
            "blocked", blocked_item("m-4", None, inside, ("not_allowed_value", "traits.email")), source="ab"
        ),
        message(
            "blocked", blocked_item("m-0", "Order Completed", before, ("wrong_type", "properties.total"))
        ),
        message("quarantine", {"reason": "invalid_event", "errors": [], "event": {"messageId": "q-1"}}),
        "not json",
        json.dumps({"v": 1, "kind": "blocked", "rejected": "nope"}),
    ]
    summary = summarise(bodies, START, END)
    assert summary.messages == 6
    assert summary.waiting == 5
    assert summary.other == 1
    assert summary.events == Counter({"Order Completed": 2, "Order Complete": 1, "(identify)": 1})
    assert summary.in_window == 4
    assert summary.kinds == Counter(
        {
            ("Order Completed", "required_missing"): 2,
            ("Order Completed", "wrong_type"): 1,
            ("Order Complete", "unplanned_event"): 1,
            ("(identify)", "not_allowed_value"): 1,
        }
    )
    assert summary.paths == Counter(
        {
            ("required_missing", "properties.order_id"): 2,
            ("wrong_type", "properties.total"): 1,
            ("unplanned_event", "event"): 1,
            ("not_allowed_value", "traits.email"): 1,
        }
    )
    assert summary.examples == {
        "Order Completed": ["m-1", "m-2"],
        "Order Complete": ["m-3"],
        "(identify)": ["m-4"],
    }


def test_a_few_examples_are_kept_per_event_name() -> None:
    inside = END - timedelta(hours=1)
    items = [
        blocked_item(f"m-{i}", "Signed Up", inside, ("required_missing", "properties.method"))
        for i in range(7)
    ]
    summary = summarise([message("blocked", *items)], START, END)
    assert summary.events == Counter({"Signed Up": 7})
    assert summary.examples["Signed Up"] == ["m-0", "m-1", "m-2"]


# ---------------------------------------------------------------- the report


def _report() -> Report:
    metrics = MetricCounts(
        Counter(
            {
                ("Order Completed", "required_missing"): 12,
                ("Order Completed", "wrong_type"): 3,
                ("(unplanned)", "unplanned_event"): 20,
            }
        ),
        blocked=35,
        source="CloudWatch, namespace MetaRouterEdge/shop",
    )
    inside = END - timedelta(hours=1)
    quarantine = summarise(
        [
            message(
                "blocked",
                blocked_item("m-1", "Order Completed", inside, ("required_missing", "properties.order_id")),
                blocked_item("m-2", "Order Complete", inside, ("unplanned_event", "event")),
            )
        ],
        START,
        END,
    )
    return Report(START, END, "stack shop", metrics, quarantine, "make redrive STACK=shop BLOCKED=1")


def test_the_text_report_has_the_counts_per_event_and_kind_the_paths_and_what_waits() -> None:
    text = render(_report())
    lines = text.splitlines()
    assert "the last 24 h (2026-12-06T12:00:00Z to 2026-12-07T12:00:00Z)" in lines[0]
    assert "Violations (CloudWatch, namespace MetaRouterEdge/shop): 35; events blocked: 35" in text
    rows = [line.split() for line in lines if line.startswith("  ") and line.split()[-1].isdigit()]
    assert rows[:3] == [  # the event with the most violations first
        ["(unplanned)", "unplanned_event", "20"],
        ["Order", "Completed", "required_missing", "12"],
        ["Order", "Completed", "wrong_type", "3"],
    ]
    assert "per kind: unplanned_event 20, required_missing 12, wrong_type 3" in text
    assert "Blocked events waiting in the quarantine: 2, 2 of them received in the window" in text
    assert "make redrive STACK=shop BLOCKED=1" in text
    assert any(line.split() == ["required_missing", "properties.order_id", "1"] for line in lines)
    assert any(line.split()[:3] == ["Order", "Complete", "1"] and "m-2" in line for line in lines)


def test_an_empty_window_says_so() -> None:
    report = Report(START, END, "the local stack", MetricCounts(source="log"), QuarantineSummary())
    text = render(report)
    assert "none in the window" in text
    assert "Blocked events waiting in the quarantine: 0, 0 of them" in text
    assert "redrive" not in text  # nothing to send on


def test_the_json_report_holds_the_same_figures() -> None:
    document = as_json(_report())
    assert json.loads(json.dumps(document)) == document
    assert document["from"] == "2026-12-06T12:00:00Z"
    assert document["metrics"]["blocked"] == 35
    assert {(v["event"], v["kind"]): v["count"] for v in document["metrics"]["violations"]} == {
        ("Order Completed", "required_missing"): 12,
        ("Order Completed", "wrong_type"): 3,
        ("(unplanned)", "unplanned_event"): 20,
    }
    assert document["quarantine"]["blocked_waiting"] == 2
    assert document["quarantine"]["events"][1] == {
        "event": "Order Completed",
        "count": 1,
        "kinds": {"required_missing": 1},
        "examples": ["m-1"],
    }
    assert {(p["kind"], p["path"]) for p in document["quarantine"]["paths"]} == {
        ("required_missing", "properties.order_id"),
        ("unplanned_event", "event"),
    }


# ---------------------------------------------------------------- the command line


def test_local_reads_the_log_and_peeks_at_the_quarantine_leaving_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = END - timedelta(hours=2)
    log = tmp_path / "ingest.log"
    log.write_text(
        "\n".join(
            [violations(inside, "Order Completed", "wrong_type"), emf(inside, {"EventsBlocked": [1.0]})]
        )
    )
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="quarantine")["QueueUrl"]
        body = message(
            "blocked", blocked_item("m-1", "Order Completed", inside, ("wrong_type", "properties.total"))
        )
        sqs.send_message(QueueUrl=url, MessageBody=body)
        sqs.send_message(QueueUrl=url, MessageBody=message("quarantine", {"reason": "invalid_event"}))
        monkeypatch.setattr(plan_report, "resolve", lambda _args: Target(sqs, "", "", url, True))
        out = io.StringIO()
        assert plan_report.main(["--local", "--log", str(log), "--json"], now=END, out=out) == 0
        # Both messages visible again at once, untouched.
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    document = json.loads(out.getvalue())
    assert document["metrics"]["violations"] == [
        {"event": "Order Completed", "kind": "wrong_type", "count": 1}
    ]
    assert document["metrics"]["blocked"] == 1
    assert document["quarantine"]["blocked_in_window"] == 1
    assert document["quarantine"]["other_quarantined"] == 1
    assert document["quarantine"]["complete"] is True
    assert sorted(m["Body"] for m in again) == sorted(
        [body, message("quarantine", {"reason": "invalid_event"})]
    )


def test_a_window_of_no_hours_is_refused() -> None:
    with pytest.raises(SystemExit, match="HOURS must be above 0"):
        plan_report.main(["--local", "--hours", "0"])


def test_messages_another_reader_holds_are_reported_as_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "ingest.log"
    log.write_text("")
    inside = END - timedelta(hours=2)
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="quarantine")["QueueUrl"]
        item = blocked_item("m-1", "Order Completed", inside, ("wrong_type", "properties.total"))
        sqs.send_message(QueueUrl=url, MessageBody=message("blocked", item))
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)  # a make quarantine running elsewhere
        monkeypatch.setattr(plan_report, "resolve", lambda _args: Target(sqs, "", "", url, True))
        out = io.StringIO()
        assert plan_report.main(["--local", "--log", str(log)], now=END, out=out) == 0
    assert "0 quarantine messages read, about 1 hidden by another reader and not read" in out.getvalue()
