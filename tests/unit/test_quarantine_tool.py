"""make quarantine's lines, BLOCKED=1's filter, and the whole-queue sweep the plan tools read with
(moto's SQS in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_ops.quarantine import describe, read
from edge_ops.queues import Sweep
from edge_ops.redrive import read_blocked

AT = "2026-12-07T09:30:00.000Z"


def blocked(message_id: str, name: str = "Order Completed", **event: Any) -> dict[str, Any]:
    return {
        "index": 1,
        "reason": "plan_violation",
        "violations": [
            {"kind": "required_missing", "path": "properties.order_id", "message": "is required"},
            {"kind": "wrong_type", "path": "properties.total", "message": "must be number"},
        ],
        "route": "batch",
        "receivedAt": AT,
        "event": {"type": "track", "event": name, "messageId": message_id, **event},
    }


def rejected(message_id: str) -> dict[str, Any]:
    return {
        "index": 0,
        "reason": "invalid_event",
        "errors": [{"field": "userId", "message": "userId or anonymousId is required"}],
        "route": "track",
        "receivedAt": AT,
        "event": {"type": "track", "event": "No user", "messageId": message_id},
    }


def body(kind: str, *items: dict[str, Any], source: str | None = "f00d") -> str:
    return json.dumps({"v": 1, "source": source, "kind": kind, "rejected": list(items)})


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs")
        yield sqs, sqs.create_queue(QueueName="edge-quarantine")["QueueUrl"]


def _visible(sqs: Any, url: str) -> list[str]:
    """The bodies a reader gets right now (hidden again for a while, so each is listed once)."""
    bodies: list[str] = []
    while found := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
        "Messages"
    ):
        bodies += [m["Body"] for m in found]
    return bodies


# ---------------------------------------------------------------- lines


def test_an_ordinary_rejection_keeps_its_line() -> None:
    assert describe(rejected("q-1")) == (
        f"{AT}  track     invalid_event    messageId=q-1  userId: userId or anonymousId is required"
    )


def test_a_blocked_event_shows_its_name_message_id_and_violations() -> None:
    assert describe(blocked("m-1")) == (
        f'{AT}  batch     plan_violation   "Order Completed"  messageId=m-1  '
        "required_missing properties.order_id; wrong_type properties.total"
    )


def test_a_blocked_call_without_a_name_shows_its_type() -> None:
    item = {**blocked("m-2"), "event": {"type": "identify", "messageId": "m-2"}}
    assert '"(identify)"  messageId=m-2' in describe(item)


# ---------------------------------------------------------------- BLOCKED=1


def test_blocked_lists_only_the_blocked_events_and_every_message_is_visible_again_at_once(
    queue: tuple[Any, str],
) -> None:
    sqs, url = queue
    ordinary, held = body("quarantine", rejected("q-1")), body("blocked", blocked("m-1"), blocked("m-2"))
    sqs.send_message(QueueUrl=url, MessageBody=ordinary)
    sqs.send_message(QueueUrl=url, MessageBody=held)
    items = read(sqs, url, 100, delete=False, blocked=True)
    assert [item["event"]["messageId"] for item in items] == ["m-1", "m-2"]
    assert sorted(_visible(sqs, url)) == sorted([ordinary, held])  # a redrive may follow at once


def test_listing_stops_at_the_most_items_asked_for(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=body("quarantine", rejected(f"q-{n}")))
    assert len(read(sqs, url, 5, delete=False)) == 5
    assert len(_visible(sqs, url)) == 12


def test_blocked_with_delete_deletes_only_the_blocked_messages(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    ordinary = body("quarantine", rejected("q-1"))
    sqs.send_message(QueueUrl=url, MessageBody=ordinary)
    sqs.send_message(QueueUrl=url, MessageBody=body("blocked", blocked("m-1")))
    assert len(read(sqs, url, 100, delete=True, blocked=True)) == 1
    assert _visible(sqs, url) == [ordinary]
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )  # nothing else left behind


def test_without_blocked_every_item_is_listed(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=body("quarantine", rejected("q-1")))
    sqs.send_message(QueueUrl=url, MessageBody=body("blocked", blocked("m-1")))
    items = read(sqs, url, 100, delete=False)
    assert sorted(item["event"]["messageId"] for item in items) == ["m-1", "q-1"]


# ---------------------------------------------------------------- a blocked message split


def test_a_blocked_message_is_split_by_event_name() -> None:
    message = body("blocked", blocked("m-1"), blocked("m-2", "Signed Up"), blocked("m-3"))
    split = read_blocked(message, "Order Completed")
    assert split is not None
    assert split.source == "f00d"
    assert [i["event"]["messageId"] for i in split.chosen] == ["m-1", "m-3"]
    assert [i["event"]["messageId"] for i in split.kept] == ["m-2"]
    everything = read_blocked(message)
    assert everything is not None
    assert [i["event"]["messageId"] for i in everything.chosen] == ["m-1", "m-2", "m-3"]
    assert everything.kept == []


def test_an_identify_call_never_matches_an_event_name() -> None:
    identify = {**blocked("m-4"), "event": {"type": "identify", "messageId": "m-4"}}
    split = read_blocked(body("blocked", identify), "Order Completed")
    assert split is not None
    assert (split.chosen, [i["event"]["messageId"] for i in split.kept]) == ([], ["m-4"])


def test_an_item_without_its_event_is_never_moved() -> None:
    cut = {**blocked("m-5"), "event": "…"}
    split = read_blocked(body("blocked", cut, blocked("m-6")))
    assert split is not None
    assert [i["event"]["messageId"] for i in split.chosen] == ["m-6"]
    assert split.kept == [cut]


@pytest.mark.parametrize(
    "text",
    [
        body("quarantine", rejected("q-1")),
        json.dumps({"v": 2, "kind": "blocked", "rejected": []}),
        json.dumps({"v": 1, "kind": "blocked", "rejected": {}}),
        json.dumps({"v": 1, "source": 7, "kind": "blocked", "rejected": []}),
        json.dumps(["blocked"]),
        "{not json",
    ],
)
def test_anything_but_a_blocked_message_is_not_touched(text: str) -> None:
    assert read_blocked(text) is None


# ---------------------------------------------------------------- the sweep


def test_a_sweep_hands_out_each_message_once_and_shows_the_rest_again(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for n in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"m-{n}")
    with Sweep(sqs, url, visibility=60) as sweep:
        bodies = [m["Body"] for m in sweep]
        assert _visible(sqs, url) == []  # hidden while the sweep holds them
    assert sorted(bodies) == sorted(f"m-{n}" for n in range(25))
    assert sweep.exhausted
    assert sorted(_visible(sqs, url)) == sorted(bodies)  # all visible again at once


def test_a_sweep_stops_at_its_limit_and_deleted_messages_stay_deleted(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for n in range(15):
        sqs.send_message(QueueUrl=url, MessageBody=f"m-{n}")
    with Sweep(sqs, url, visibility=60, limit=4) as sweep:
        handed = list(sweep)
        sweep.delete(handed[0])
    assert len(handed) == 4
    assert not sweep.exhausted
    assert len(_visible(sqs, url)) == 14


def test_a_sweep_skips_the_messages_it_is_told_it_wrote(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="first")
    with Sweep(sqs, url, visibility=60) as sweep:
        handed = []
        for message in sweep:
            handed.append(message["Body"])
            written = sqs.send_message(QueueUrl=url, MessageBody=f"after {message['Body']}")
            sweep.seen.add(written["MessageId"])
    assert handed == ["first"]
    assert sorted(_visible(sqs, url)) == ["after first", "first"]
