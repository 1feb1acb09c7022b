"""The forward function's environment (ForwardSettings) and the dead-letter message format."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from edge.config import ForwardSettings
from edge.deadletter import DeadLetter, DeadLetterQueue, Reason, printable

REQUIRED = {"EDGE_SECRET_ID": "edge/secret", "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq"}


def test_defaults_follow_the_seed_and_the_spec():
    settings = ForwardSettings.from_env(REQUIRED)
    assert settings.endpoint == "https://e.metarouter.io"
    assert settings.mode == "batch"
    assert settings.max_batch_bytes == 500 * 1024
    assert settings.max_batch_events == 500
    assert settings.secret_max_age == 300
    assert (settings.connect_timeout, settings.read_timeout) == (2.0, 10.0)
    assert settings.gzip is False


def test_every_tunable_is_read_from_its_variable():
    settings = ForwardSettings.from_env(
        {
            **REQUIRED,
            "METAROUTER_ENDPOINT": "https://acme.metarouter.example/",
            "FORWARD_MODE": "per-call",
            "SECRET_MAX_AGE_SECONDS": "60",
            "UPSTREAM_MAX_BATCH_EVENTS": "50",
            "UPSTREAM_MAX_BATCH_BYTES": "102400",
            "UPSTREAM_CONNECT_TIMEOUT_SECONDS": "1.5",
            "UPSTREAM_READ_TIMEOUT_SECONDS": "4",
            "UPSTREAM_MAX_ATTEMPTS": "3",
            "UPSTREAM_BACKOFF_BASE_SECONDS": "0.1",
            "UPSTREAM_BACKOFF_MAX_SECONDS": "1",
            "UPSTREAM_CONCURRENCY": "4",
            "FORWARD_TIME_MARGIN_SECONDS": "3",
            "UPSTREAM_GZIP": "true",
        }
    )
    assert settings.endpoint == "https://acme.metarouter.example"
    assert settings.mode == "per-call"
    assert (settings.secret_max_age, settings.max_batch_events, settings.max_batch_bytes) == (60, 50, 102400)
    assert (settings.connect_timeout, settings.read_timeout, settings.max_attempts) == (1.5, 4.0, 3)
    assert (settings.backoff_base, settings.backoff_max, settings.concurrency) == (0.1, 1.0, 4)
    assert settings.time_margin == 3.0
    assert settings.gzip is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METAROUTER_ENDPOINT", "e.metarouter.io"),
        ("METAROUTER_ENDPOINT", "ftp://e.metarouter.io"),
        ("METAROUTER_ENDPOINT", "http://e.metarouter.io"),  # plain http only to loopback
        ("METAROUTER_ENDPOINT", "https://e.metarouter.io?debug=1"),
        ("UPSTREAM_GZIP", "maybe"),
        ("FORWARD_MODE", "bulk"),
        ("UPSTREAM_MAX_BATCH_BYTES", str(500 * 1024 + 1)),
        ("UPSTREAM_MAX_BATCH_EVENTS", "0"),
        ("UPSTREAM_READ_TIMEOUT_SECONDS", "0"),
    ],
)
def test_invalid_settings_fail_at_start_up(name, value):
    with pytest.raises(ValidationError):
        ForwardSettings.from_env({**REQUIRED, name: value})


def test_required_variables_are_required():
    with pytest.raises(ValidationError):
        ForwardSettings.from_env({"EDGE_SECRET_ID": "edge/secret"})


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
