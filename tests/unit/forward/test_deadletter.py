"""Letters for the dead-letter queue: attributes, and sending them (edge.forward.deadletter)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from edge.forward.deadletter import DeadLetter, DeadLetterQueue, Parking, Reason, printable


def test_dead_letter_attributes_carry_the_reason_and_what_is_known():
    letter = DeadLetter('{"v":1}', Reason.UPSTREAM_REJECTED, "q1", "The upstream answered 400:\nbad", 400)
    assert letter.attributes() == {
        "reason": {"DataType": "String", "StringValue": "upstream_rejected"},
        "originMessageId": {"DataType": "String", "StringValue": "q1"},
        "detail": {"DataType": "String", "StringValue": "The upstream answered 400: bad"},
        "upstreamStatus": {"DataType": "Number", "StringValue": "400"},
    }
    assert set(DeadLetter("x", Reason.INVALID_MESSAGE, "q2").attributes()) == {"reason", "originMessageId"}


def test_details_are_cut_short_and_only_printable():
    assert printable("a\x00b\ufffec" * 100, limit=6) == "a b ca"
    assert printable("") == "-"


class _FailingSqs:
    def __init__(self):
        self.calls = 0

    def send_message_batch(self, **_):
        self.calls += 1
        raise ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessageBatch")


def test_letters_a_dead_letter_queue_that_cannot_be_reached_did_not_take_are_reported():
    letters = [DeadLetter("x", Reason.INVALID_MESSAGE, "q1"), DeadLetter("y", Reason.INVALID_MESSAGE, "q2")]
    sqs = _FailingSqs()
    assert DeadLetterQueue(sqs, "https://sqs.example/dlq").park(letters, time_left=lambda: 30.0) == [0, 1]
    assert sqs.calls == 1


def test_no_letter_is_sent_without_time_left():
    sqs = _FailingSqs()
    letters = [DeadLetter("x", Reason.INVALID_MESSAGE, "q1")]
    assert DeadLetterQueue(sqs, "https://sqs.example/dlq").park(letters, time_left=lambda: 0.5) == [0]
    assert sqs.calls == 0


@dataclass(frozen=True)
class _Event:
    origin: str
    source: str | None
    data: bytes
    kind: str | None = None


class _Box:
    def __init__(self, refuse: frozenset[int] = frozenset()):
        self.refuse = refuse
        self.letters: list[DeadLetter] = []

    def park(self, letters, *, time_left):
        self.letters = list(letters)
        return sorted(self.refuse)


def test_parking_writes_a_letter_per_message_and_reason_and_counts_events():
    parking = Parking()
    a1, a2, b1 = (
        _Event("qa", "fp", b'{"n":1}'),
        _Event("qa", "fp", b'{"n":2}'),
        _Event("qb", None, b'{"n":3}'),
    )
    parking.add([a1, b1, a2], Reason.UPSTREAM_REJECTED, "refused", 400)
    parking.message("not json", "qc", Reason.INVALID_MESSAGE, "The body is not JSON.")
    box = _Box()
    parked = parking.send(box, time_left=lambda: 30.0)
    assert [(letter.origin, letter.reason, letter.status) for letter in box.letters] == [
        ("qa", "upstream_rejected", 400),
        ("qb", "upstream_rejected", 400),
        ("qc", "invalid_message", None),
    ]
    assert json.loads(box.letters[0].body) == {
        "v": 1,
        "source": "fp",
        "events": [{"n": 1}, {"n": 2}],
        "sizes": [7, 7],
    }
    assert box.letters[2].body == "not json"
    assert parked.by_reason == {"upstream_rejected": 3, "invalid_message": 1}
    assert [json.loads(letter.body)["events"] for letter in box.letters[:2]] == [
        [{"n": 1}, {"n": 2}],
        [{"n": 3}],
    ]
    assert parked.not_sent == set()


def test_letters_not_sent_name_their_messages_and_are_not_counted():
    parking = Parking()
    parking.add([_Event("qa", None, b"{}")], Reason.UPSTREAM_REJECTED, "x")
    parking.add([_Event("qb", None, b"{}")], Reason.UNMAPPED_SOURCE, "y")
    parked = parking.send(_Box(refuse=frozenset({1})), time_left=lambda: 30.0)
    assert (parked.not_sent, dict(parked.by_reason)) == ({"qb"}, {"upstream_rejected": 1})


def test_nothing_to_park_makes_no_call():
    box = _Box()
    box.letters = [DeadLetter("sentinel", Reason.INVALID_MESSAGE, "q")]
    Parking().send(box, time_left=lambda: 30.0)
    assert [letter.body for letter in box.letters] == ["sentinel"]
