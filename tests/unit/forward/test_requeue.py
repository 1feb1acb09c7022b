"""What is left of a message after an invocation (pure): acknowledge, redeliver, send back, park."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.core.queueing import decode_message, serialize
from edge.forward.requeue import (
    ATTEMPTS_ATTRIBUTE,
    Acknowledge,
    Exhausted,
    Redeliver,
    Requeue,
    carried_attempts,
    delivery_attempts,
    next_step,
)

MAX_BYTES = 256 * 1024


def events(n: int, size: int = 0) -> list[bytes]:
    return [serialize({"type": "track", "messageId": f"m-{i}", "pad": "x" * size}) for i in range(n)]


def step(done: list[bool], *, attempts: int = 1, max_attempts: int = 5, size: int = 0, source=None):
    return next_step(
        "q1",
        source,
        events(len(done), size),
        done,
        attempts=attempts,
        max_attempts=max_attempts,
        max_bytes=MAX_BYTES,
    )


def ids(body: bytes) -> list[str]:
    return [event["messageId"] for event in json.loads(body)["events"]]


def test_a_message_whose_events_are_all_done_is_acknowledged():
    assert step([True, True, True]) == Acknowledge()
    assert step([True], attempts=5) == Acknowledge()  # done on its last attempt: nothing to park


def test_a_message_none_of_whose_events_got_through_is_left_to_sqs():
    assert step([False, False]) == Redeliver()


def test_only_the_events_not_done_go_back_with_the_attempts_so_far():
    result = step([True, False, True, False], attempts=2, source="fp-web")
    assert isinstance(result, Requeue)
    assert result.origin == "q1"
    assert result.attempts == 2
    [body] = result.bodies
    assert ids(body) == ["m-1", "m-3"]
    # The same version-1 format the forwarder reads: a remainder is a message like any other.
    source, decoded = decode_message(body.decode())
    assert source == "fp-web"
    assert [e["messageId"] for e in decoded] == ["m-1", "m-3"]


def test_events_not_done_on_the_last_allowed_delivery_are_exhausted():
    assert step([True, False, False], attempts=5, max_attempts=5) == Exhausted(5, (1, 2))
    assert step([False], attempts=7, max_attempts=5) == Exhausted(7, (0,))
    assert isinstance(step([True, False], attempts=4, max_attempts=5), Requeue)


def test_a_remainder_too_large_for_one_message_is_split_and_keeps_room_for_its_attribute():
    result = step([False] * 20 + [True], size=30_000)  # 20 events of ~30 KB: ~600 KB to send back
    assert isinstance(result, Requeue)
    assert len(result.bodies) > 1
    assert all(len(body) <= MAX_BYTES - 1024 for body in result.bodies)
    assert [m for body in result.bodies for m in ids(body)] == [f"m-{i}" for i in range(20)]


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 10))
def test_no_confirmed_event_is_ever_sent_back_and_none_not_done_is_lost(done, attempts):
    result = step(done, attempts=attempts, max_attempts=5)
    pending = {f"m-{i}" for i, finished in enumerate(done) if not finished}
    match result:
        case Acknowledge():
            assert not pending
        case Redeliver():
            assert all(not finished for finished in done)
            assert attempts < 5
        case Requeue(bodies=bodies):
            sent_back = [m for body in bodies for m in ids(body)]
            assert sorted(sent_back) == sorted(pending)  # exactly the pending, once each
            assert attempts < 5
        case Exhausted(pending=positions):
            assert {f"m-{i}" for i in positions} == pending
            assert attempts >= 5


def test_the_attempts_are_sqs_receive_count_plus_what_the_events_carried():
    record = {
        "attributes": {"ApproximateReceiveCount": "2"},
        "messageAttributes": {ATTEMPTS_ATTRIBUTE: {"stringValue": "3", "dataType": "Number"}},
    }
    assert delivery_attempts(record) == 5
    assert delivery_attempts({"attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}) == 1


@pytest.mark.parametrize(
    "attributes",
    [
        None,
        {},
        {ATTEMPTS_ATTRIBUTE: {"stringValue": "many", "dataType": "Number"}},
        {ATTEMPTS_ATTRIBUTE: {"stringValue": "-4", "dataType": "Number"}},
        {ATTEMPTS_ATTRIBUTE: "3"},
        {"other": {"stringValue": "3", "dataType": "Number"}},
    ],
)
def test_an_absent_or_unreadable_attempts_attribute_counts_as_none_carried(attributes):
    assert carried_attempts(attributes) == 0


def test_a_record_without_a_receive_count_counts_as_its_first_delivery():
    assert delivery_attempts({}) == 1
    assert delivery_attempts({"attributes": {"ApproximateReceiveCount": "x"}}) == 1
