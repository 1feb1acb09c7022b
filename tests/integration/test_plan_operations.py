"""The tracking plan's operator tools against what the real ingest handler writes in block mode
(moto's SQS): make redrive BLOCKED=1 moves exactly the blocked events into the events queue as
messages the forwarder reads and delivers under their Source, EVENT= splits a message, nothing is
lost when a send fails; make plan-report reads the handler's own metric records."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.core.queueing import PARKING_ROOM, read_message
from edge_ops import plan_report
from edge_ops.plan_report import emf_counts, summarise
from edge_ops.queues import Target
from edge_ops.redrive import redrive_blocked
from support.apigw import api_event, basic_auth
from support.sqs import received_records, sqs_event
from support.upstream import received

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
# The API Gateway samples' request time: every event's receivedAt.
RECEIVED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

ORDER = {"order_id": "o-1", "total": 30, "currency": "EUR"}


def track(message_id: str, event: str, /, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u-1",
        "event": event,
        "messageId": message_id,
        "properties": properties,
    }


# Per key: the events of one batch, and which of them the example plan blocks.
WEB = [
    track("w-ok", "Order Completed", **ORDER),
    track("w-oc-1", "Order Completed", total="30", currency="EUR"),  # no order_id, total a string
    track("w-pv-1", "Product Viewed", name="Shoe"),  # no product_id
    track("w-oc-2", "Order Completed", order_id="o-2", total=5, currency="YEN"),  # not an allowed currency
    track("w-un-1", "Order Complete", **ORDER),  # unplanned
    {"type": "identify", "userId": "u-1", "messageId": "w-id-1", "traits": {"email": "not an address"}},
    {"type": "track", "event": "No user", "messageId": "w-bad"},  # an ordinary rejection
]
IOS = [
    track("i-oc-1", "Order Completed", order_id="o-3", currency="EUR"),  # no total
    track("i-su-1", "Signed Up", method="fax"),
]
BLOCKED_IDS = {"w-oc-1", "w-pv-1", "w-oc-2", "w-un-1", "w-id-1", "i-oc-1", "i-su-1"}


@pytest.fixture
def blocking(ingest: Any, ingest_settings: Any, aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real ingest handler with the example plan in block mode, in closed mode; the two
    batches sent."""
    from edge.ingest.wiring import build_ingestor
    from ingest import app

    settings = replace(ingest_settings, tracking_plan_mode="block", tracking_plan="plans/example.json")
    monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings, code_dir=ROOT / "functions" / "ingest"))
    aws_stack.set_secret({"sources": SOURCES})
    for key, batch in (("pk_web_7f3a", WEB), ("pk_ios_91bc", IOS)):
        answer = ingest(api_event("POST", "/v1/batch", {"batch": batch, "writeKey": key}))
        assert answer["statusCode"] == 200
    return ingest


def _drain_events(aws_stack: Any) -> list[tuple[str | None, list[dict[str, Any]], str | None]]:
    """Every events message (deleted), read as the forwarder reads it."""
    found = []
    for record in received_records(aws_stack.sqs, aws_stack.events_url):
        source, events, kind = read_message(record["body"])
        found.append((source, [json.loads(event) for event in events], kind))
        aws_stack.sqs.delete_message(QueueUrl=aws_stack.events_url, ReceiptHandle=record["receiptHandle"])
    return found


def _quarantine(aws_stack: Any) -> list[dict[str, Any]]:
    """Every quarantine message, decoded; received with no visibility timeout, so still visible."""
    bodies: dict[str, str] = {}
    for _ in range(10):
        answer = aws_stack.sqs.receive_message(
            QueueUrl=aws_stack.quarantine_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        bodies.update((m["MessageId"], m["Body"]) for m in answer.get("Messages", []))
    return [json.loads(body) for body in bodies.values()]


def _ids(messages: list[dict[str, Any]], kind: str) -> set[str]:
    return {item["event"]["messageId"] for m in messages if m["kind"] == kind for item in m["rejected"]}


def _accept_everything(httpserver: Any) -> None:
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


def test_redrive_moves_exactly_the_blocked_events_and_the_forwarder_delivers_them_under_their_source(
    blocking: Any, aws_stack: Any, forward: Any, httpserver: Any
) -> None:
    live = _drain_events(aws_stack)
    assert [m["messageId"] for _, events, _ in live for m in events] == ["w-ok"]  # the plan let one through
    before = _quarantine(aws_stack)
    assert _ids(before, "blocked") == BLOCKED_IDS
    sources = {m["source"] for m in before if m["kind"] == "blocked"}
    assert len(sources) == 2  # one blocked message per Source
    blocked_events = {
        item["event"]["messageId"]: item["event"]
        for m in before
        if m["kind"] == "blocked"
        for item in m["rejected"]
    }

    done = redrive_blocked(aws_stack.sqs, aws_stack.quarantine_url, aws_stack.events_url)

    assert (done.moved, done.left, done.messages, done.untouched, done.problems) == (7, 0, 2, 1, [])
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    queued = [read_message(record["body"]) for record in records]
    assert {source for source, _, _ in queued} == sources
    assert all(kind is None for _, _, kind in queued)  # live events: archived, the delivery log asked
    moved = [json.loads(event) for _, events, _ in queued for event in events]
    assert sorted(e["messageId"] for e in moved) == sorted(BLOCKED_IDS)  # each exactly once
    assert all(event == blocked_events[event["messageId"]] for event in moved)  # as ingest would have
    # The ordinary rejection is still there, visible at once.
    after = _quarantine(aws_stack)
    assert [m["kind"] for m in after] == ["quarantine"]
    assert _ids(after, "quarantine") == {"w-bad"}

    # The forwarder takes the messages like any ingest wrote: each event to its own Source ID.
    _accept_everything(httpserver)
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}
    by_auth: dict[str | None, Counter[str]] = {}
    for request in received(httpserver):
        by_auth.setdefault(request.authorization, Counter()).update(request.ids)
    assert by_auth == {
        basic_auth("ILoveData123"): Counter(BLOCKED_IDS - {"i-oc-1", "i-su-1"}),
        basic_auth("OtherSource"): Counter({"i-oc-1", "i-su-1"}),
    }


def test_an_event_name_moves_only_those_and_writes_the_rest_back_as_a_blocked_message(
    blocking: Any, aws_stack: Any
) -> None:
    _drain_events(aws_stack)
    before = {m["source"]: m for m in _quarantine(aws_stack) if m["kind"] == "blocked"}

    done = redrive_blocked(
        aws_stack.sqs, aws_stack.quarantine_url, aws_stack.events_url, event="Order Completed"
    )

    assert (done.moved, done.left, done.messages, done.problems) == (3, 4, 2, [])
    queued = _drain_events(aws_stack)
    assert sorted(e["messageId"] for _, events, _ in queued for e in events) == ["i-oc-1", "w-oc-1", "w-oc-2"]
    after = {m["source"]: m for m in _quarantine(aws_stack) if m["kind"] == "blocked"}
    assert after.keys() == before.keys()  # same Sources, same kind
    for source, message in after.items():
        kept = [
            item for item in before[source]["rejected"] if item["event"].get("event") != "Order Completed"
        ]
        assert message["rejected"] == kept  # the rest, items whole: violations, route, receivedAt
    assert _ids(_quarantine(aws_stack), "quarantine") == {"w-bad"}

    # Run again for everything: the rest moves, nothing twice.
    again = redrive_blocked(aws_stack.sqs, aws_stack.quarantine_url, aws_stack.events_url)
    assert (again.moved, again.left) == (4, 0)
    rest = _drain_events(aws_stack)
    assert sorted(e["messageId"] for _, events, _ in rest for e in events) == sorted(
        BLOCKED_IDS - {"i-oc-1", "w-oc-1", "w-oc-2"}
    )


def test_a_name_nothing_has_leaves_the_quarantine_as_it_was(blocking: Any, aws_stack: Any) -> None:
    _drain_events(aws_stack)
    before = sorted(json.dumps(m, sort_keys=True) for m in _quarantine(aws_stack))
    done = redrive_blocked(aws_stack.sqs, aws_stack.quarantine_url, aws_stack.events_url, event="Nope")
    assert (done.moved, done.left, done.messages, done.untouched) == (0, 7, 2, 1)
    assert _drain_events(aws_stack) == []
    assert sorted(json.dumps(m, sort_keys=True) for m in _quarantine(aws_stack)) == before


class FailingSqs:
    """moto's SQS, except that the events queue reports the entries holding ``refused`` as failed."""

    def __init__(
        self, sqs: Any, events_url: str, refused: str = "", *, write_back_fails: bool = False
    ) -> None:
        self._sqs = sqs
        self._events_url = events_url
        self._refused = refused
        self._write_back_fails = write_back_fails

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        if QueueUrl != self._events_url or not self._refused:
            return dict(self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))
        failing = [e for e in Entries if self._refused in e["MessageBody"]]
        passing = [e for e in Entries if e not in failing]
        answer = dict(self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=passing)) if passing else {}
        answer["Failed"] = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for e in failing
        ]
        return answer

    def send_message(self, **request: Any) -> dict[str, Any]:
        if self._write_back_fails:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://sqs.example")
        return dict(self._sqs.send_message(**request))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_events_the_events_queue_refuses_stay_in_the_quarantine_and_nothing_is_lost(
    blocking: Any, aws_stack: Any
) -> None:
    _drain_events(aws_stack)
    # A tiny events queue puts each event in a message of its own: one of them is refused.
    sqs = FailingSqs(aws_stack.sqs, aws_stack.events_url, refused='"messageId":"w-pv-1"')
    tiny = PARKING_ROOM + 1
    done = redrive_blocked(sqs, aws_stack.quarantine_url, aws_stack.events_url, events_max_bytes=tiny)

    assert done.refused == 1
    assert done.problems  # it says so, and the command exits 1
    queued = {e["messageId"] for _, events, _ in _drain_events(aws_stack) for e in events}
    waiting = _ids(_quarantine(aws_stack), "blocked")
    assert "w-pv-1" in waiting
    assert queued.isdisjoint(waiting)  # nothing in both places
    assert queued | waiting == BLOCKED_IDS  # nothing lost
    assert (done.moved, done.left) == (len(queued), len(waiting))

    # Once the queue takes it again, the same command goes on.
    again = redrive_blocked(aws_stack.sqs, aws_stack.quarantine_url, aws_stack.events_url)
    assert {e["messageId"] for _, events, _ in _drain_events(aws_stack) for e in events} == waiting
    assert again.problems == []
    assert _ids(_quarantine(aws_stack), "blocked") == set()


def test_a_rest_that_cannot_be_written_back_keeps_the_whole_message(blocking: Any, aws_stack: Any) -> None:
    _drain_events(aws_stack)
    before = sorted(json.dumps(m, sort_keys=True) for m in _quarantine(aws_stack))
    sqs = FailingSqs(aws_stack.sqs, aws_stack.events_url, write_back_fails=True)
    done = redrive_blocked(sqs, aws_stack.quarantine_url, aws_stack.events_url, event="Order Completed")
    assert len(done.problems) == 1
    assert "could not be written back" in done.problems[0]
    # The first message's Order Completed events went out; its original stays whole (they would be
    # sent again, with the same messageIds), and the redrive stopped there.
    assert sorted(json.dumps(m, sort_keys=True) for m in _quarantine(aws_stack)) == before
    assert 1 <= done.moved == len([e for _, events, _ in _drain_events(aws_stack) for e in events])


def test_the_plan_report_reads_the_handler_s_metric_records_and_the_quarantine(
    capsys: pytest.CaptureFixture[str],  # first: it captures what the handler writes while blocking
    blocking: Any,
    aws_stack: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    start, end = RECEIVED - timedelta(hours=1), RECEIVED + timedelta(hours=1)
    # The records carry the time they were written, not the events' receivedAt.
    counts = emf_counts(
        records, datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=1)
    )
    assert counts.blocked == 7
    assert counts.violations[("Order Completed", "required_missing")] == 2  # w-oc-1 and i-oc-1
    assert counts.violations[("(unplanned)", "unplanned_event")] == 1
    assert counts.violations[("Signed Up", "not_allowed_value")] == 1
    assert counts.violations[("(identify)", "not_allowed_value")] == 1

    bodies = [json.dumps(m) for m in _quarantine(aws_stack)]
    summary = summarise(bodies, start, end)
    assert summary.events == Counter(
        {"Order Completed": 3, "Product Viewed": 1, "Order Complete": 1, "(identify)": 1, "Signed Up": 1}
    )
    assert summary.paths[("required_missing", "properties.order_id")] == 1
    assert summary.paths[("required_missing", "properties.total")] == 1
    assert summary.other == 1

    log = tmp_path / "ingest.log"
    log.write_text("\n".join(records))
    monkeypatch.setattr(
        plan_report, "resolve", lambda _args: Target(aws_stack.sqs, "", "", aws_stack.quarantine_url, True)
    )
    out = io.StringIO()
    assert plan_report.main(["--local", "--log", str(log)], out=out) == 0
    text = out.getvalue()
    assert "events blocked: 7" in text
    assert "Blocked events waiting in the quarantine: 7" in text  # received in 2023: none in the window
    assert "make redrive-local BLOCKED=1" in text


def test_the_command_prints_what_it_moved_and_left_and_exits_1_on_a_failure(
    blocking: Any, aws_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_ops import redrive

    queues = ["--queues", aws_stack.events_url, aws_stack.dead_letter_url, aws_stack.quarantine_url]
    capsys.readouterr()
    assert redrive.main([*queues, "--blocked", "--event", "Signed Up"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        'moved 1 blocked "Signed Up" events from the quarantine queue to the events queue; '
    )
    assert "6 blocked events left in the quarantine" in printed
    assert "1 other quarantine messages left as they were" in printed
    with pytest.raises(SystemExit):
        redrive.main([*queues, "--event", "Signed Up"])  # the dead-letter queue moves whole
    assert "--event takes --blocked" in capsys.readouterr().err
