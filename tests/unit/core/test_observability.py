"""One forward invocation's figures, published once at its end (edge.core.observability)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edge.core.observability import ForwardTally, MetricUnit, count, metrics


@pytest.fixture(autouse=True)
def no_metrics_left() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def _records(capsys: pytest.CaptureFixture[str], log_output: io.StringIO) -> list[dict]:
    """The EMF records printed and the log lines written."""
    lines = (capsys.readouterr().out + log_output.getvalue()).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_an_invocation_publishes_its_counts_its_answers_and_one_log_line(capsys, log_output):
    tally = ForwardTally(requests=3, forwarded=250, retries=2, auth_failures=1)
    for status_class, elapsed in (("2xx", 12.5), ("5xx", 40.0), ("2xx", 10.0)):
        tally.answered(status_class, elapsed)
    tally.publish(
        messages=4, failed=1, requeued=7, parked={"upstream_rejected": 2}, mode="batch", delivery_log=False
    )
    counted = {name: entry["Value"] for name, entry in metrics.metric_set.items()}
    assert counted == {
        "UpstreamLatency": [12.5, 40.0, 10.0],
        "EventsForwarded": [250.0],
        "UpstreamRetries": [2.0],
        "MessagesNotForwarded": [1.0],
        "EventsRequeued": [7.0],
        "UpstreamAuthFailures": [1.0],
    }
    records = _records(capsys, log_output)
    by_status = {r["status_class"]: r["UpstreamResponses"] for r in records if "UpstreamResponses" in r}
    assert by_status == {"2xx": [2.0], "5xx": [1.0]}
    assert [r["reason"] for r in records if "EventsDeadLettered" in r] == ["upstream_rejected"]
    [line] = [r for r in records if r.get("message") == "messages forwarded"]
    assert {k: line[k] for k in ("messages", "failed_messages", "events_forwarded", "dead_lettered")} == {
        "messages": 4,
        "failed_messages": 1,
        "events_forwarded": 250,
        "dead_lettered": 2,
    }
    assert (line["requests"], line["upstream_statuses"], line["mode"]) == (3, {"2xx": 2, "5xx": 1}, "batch")
    assert "log_reads" not in line
    assert any(
        r.get("message") == "upstream refused the Source ID after the secret was read again" for r in records
    )


def test_a_quiet_invocation_counts_what_it_forwarded_and_nothing_it_did_not_do(capsys, log_output):
    ForwardTally(forwarded=5, log_reads=5, log_writes=5, log_seconds=0.0123).publish(
        messages=1, failed=0, requeued=0, parked={}, mode="per-call", delivery_log=True
    )
    assert {name: entry["Value"] for name, entry in metrics.metric_set.items()} == {"EventsForwarded": [5.0]}
    [line] = [r for r in _records(capsys, log_output) if r.get("message") == "messages forwarded"]
    assert (line["log_reads"], line["log_writes"], line["log_ms"], line["mode"]) == (5, 5, 12.3, "per-call")


def _counts_recorded(
    add: Callable[[str, float], None], capsys: pytest.CaptureFixture[str]
) -> tuple[Any, ...]:
    """What ``add`` leaves in the invocation's record, and the records published early, when it
    counts three metrics, then 120 more (past Powertools' 100 per record), then one 120 times."""
    for name, value in (("EventsAccepted", 1), ("EventsAccepted", 2), ("SqsMessagesSent", 1)):
        add(name, value)
    for n in range(120):
        add(f"Count{n}", n)
    for _ in range(120):
        add("EventsAccepted", 1)
    kept = {name: (dict(entry), list(entry["Value"])) for name, entry in metrics.metric_set.items()}
    serialized = metrics.serialize_metric_set()
    serialized["_aws"].pop("Timestamp")
    early = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for record in early:
        record["_aws"].pop("Timestamp")
    metrics.clear_metrics()
    return kept, serialized, early


def test_a_count_is_recorded_exactly_as_powertools_records_it(capsys):
    ours = _counts_recorded(count, capsys)
    theirs = _counts_recorded(lambda name, value: metrics.add_metric(name, MetricUnit.Count, value), capsys)
    assert ours == theirs
    assert ours[2]  # the limits were reached: records were published early, the same ones


def _written(capsys) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for record in records:
        record["_aws"].pop("Timestamp")
    return records


@pytest.mark.parametrize(
    ("dimension", "counts"),
    [
        ("reason", {"invalid_event": 3, "too_deep": 1}),
        (("event", "kind"), {("Order Completed", "wrong_type"): 2, ("(identify)", "required_missing"): 1}),
    ],
)
def test_dimensioned_counts_are_written_exactly_as_powertools_single_metric_writes_them(
    capsys, dimension: Any, counts: dict[Any, int]
):
    from edge.core import observability

    names = (dimension,) if isinstance(dimension, str) else dimension
    observability._single_metrics("EventsRejected", names, counts)  # Powertools' own single_metric
    theirs = _written(capsys)
    observability.add_counts("EventsRejected", dimension, counts)
    ours = _written(capsys)
    assert len(ours) == len(counts)
    assert ours == theirs
