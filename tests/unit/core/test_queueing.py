import json

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from edge.core.errors import TransientError, UndeliverableError
from edge.core.queueing import (
    MESSAGE_VERSION,
    Entry,
    Queue,
    QueueWriter,
    chunks,
    events_message,
    message_prefix,
    pack,
    pack_events,
    read_events,
    serialize,
)

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


def test_serialize_escapes_characters_sqs_refuses():
    data = serialize({"a": "x\ufffey\uffff"})
    assert b"\xef\xbf\xbe" not in data
    assert b"\xef\xbf\xbf" not in data
    assert json.loads(data) == {"a": "x\ufffey\uffff"}


def test_packed_messages_are_the_documented_envelope():
    events = [serialize({"n": i}) for i in range(3)]
    [message] = pack_events("fp", events, 10_000)
    assert json.loads(message) == {
        "v": MESSAGE_VERSION,
        "source": "fp",
        "events": [{"n": 0}, {"n": 1}, {"n": 2}],
        "sizes": [7, 7, 7],
    }


def test_quarantine_envelope_names_its_kind_and_items():
    [message] = pack([b'{"index":0}'], message_prefix(None, kind="quarantine", items="rejected"), 1000)
    assert json.loads(message) == {"v": 1, "source": None, "kind": "quarantine", "rejected": [{"index": 0}]}


def test_packing_fills_messages_up_to_the_size_limit_and_no_further():
    events = [serialize({"pad": "x" * 1000, "n": i}) for i in range(100)]
    limit = 10 * 1024
    messages = list(pack_events(None, events, limit))
    assert all(len(m) <= limit for m in messages)
    assert [e["n"] for m in messages for e in json.loads(m)["events"]] == list(range(100))
    # 1,017-byte events (and their sizes, 5 bytes each with a comma) and a 45-byte envelope: nine
    # fit in 10 KB, so 12 messages, not 100.
    assert len(messages[0]) > limit - 1023
    assert len(messages) == 12


def _writer(sqs, max_bytes=256 * 1024):
    return QueueWriter(sqs, QUEUE, max_bytes, backoff=0)


def test_send_uses_one_call_for_up_to_ten_messages():
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": str(i), "MessageId": "m", "MD5OfMessageBody": "x"} for i in range(10)],
                "Failed": [],
            },
        )
        _writer(sqs).send([b"{}"] * 10)
        stub.assert_no_pending_responses()


def test_send_splits_batches_at_the_total_payload_limit():
    sqs = boto3.client("sqs", region_name="us-east-1")
    body = b'"' + b"x" * 3000 + b'"'
    with Stubber(sqs) as stub:
        for ids in (["0", "1", "2"], ["0"]):
            stub.add_response(
                "send_message_batch",
                {
                    "Successful": [{"Id": i, "MessageId": "m", "MD5OfMessageBody": "x"} for i in ids],
                    "Failed": [],
                },
            )
        _writer(sqs, max_bytes=10_000).send([body] * 4)
        stub.assert_no_pending_responses()


def test_failed_entries_are_retried_alone():
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m", "MD5OfMessageBody": "x"}],
                "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}],
            },
            {
                "QueueUrl": QUEUE,
                "Entries": [{"Id": "0", "MessageBody": "{}"}, {"Id": "1", "MessageBody": "[]"}],
            },
        )
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "m", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": QUEUE, "Entries": [{"Id": "1", "MessageBody": "[]"}]},
        )
        _writer(sqs).send([b"{}", b"[]"])
        stub.assert_no_pending_responses()


def test_entries_that_keep_failing_raise_a_transient_error():
    sqs = boto3.client("sqs", region_name="us-east-1")
    failed = {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]}
    with Stubber(sqs) as stub:
        for _ in range(3):
            stub.add_response("send_message_batch", failed)
        with pytest.raises(TransientError):
            _writer(sqs).send([b"{}"])


def test_an_unreachable_queue_raises_a_transient_error():
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_client_error("send_message_batch", "ServiceUnavailable", http_status_code=503)
        with pytest.raises(TransientError):
            _writer(sqs).send([b"{}"])


@pytest.mark.parametrize(
    ("sizes", "max_count", "runs"),
    [
        ([10, 10, 10], None, [[10, 10, 10]]),
        ([40, 40, 40], None, [[40, 40], [40]]),  # 5 + 40 + 1 + 40 = 86 ≤ 100; a third does not fit
        ([200, 1, 1], None, [[200], [1, 1]]),  # too large alone: a run of its own
        ([1] * 5, 2, [[1, 1], [1, 1], [1]]),
        ([], 3, []),
    ],
)
def test_chunks_are_consecutive_runs_within_the_count_and_byte_limits(sizes, max_count, runs):
    items = [b"x" * size for size in sizes]
    got = list(chunks(items, len, max_bytes=100, max_count=max_count, base=5))
    assert [[len(item) for item in run] for run in got] == runs


def _ok(ids):
    return {"Successful": [{"Id": i, "MessageId": "m", "MD5OfMessageBody": "x"} for i in ids], "Failed": []}


def test_a_queue_sends_entries_with_their_attributes_and_delay_ten_a_call():
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = {"reason": {"DataType": "String", "StringValue": "r"}}
    entries = [Entry(f"[{i}]", attributes, delay=5) for i in range(12)]
    with Stubber(sqs) as stub:
        expected = [
            {"Id": str(i), "MessageBody": f"[{i}]", "MessageAttributes": attributes, "DelaySeconds": 5}
            for i in range(12)
        ]
        stub.add_response(
            "send_message_batch",
            _ok([str(i) for i in range(10)]),
            {"QueueUrl": QUEUE, "Entries": expected[:10]},
        )
        stub.add_response(
            "send_message_batch", _ok(["10", "11"]), {"QueueUrl": QUEUE, "Entries": expected[10:]}
        )
        assert Queue(sqs, QUEUE).send(entries) == []
        stub.assert_no_pending_responses()


def test_a_queue_stops_sending_when_time_runs_out_and_names_what_was_not_sent():
    sqs = boto3.client("sqs", region_name="us-east-1")
    left = iter([5.0, 0.5])
    with Stubber(sqs) as stub:
        stub.add_response("send_message_batch", _ok([str(i) for i in range(10)]))
        sent = Queue(sqs, QUEUE).send([Entry("{}")] * 15, time_left=lambda: next(left))
        stub.assert_no_pending_responses()
    assert sent == list(range(10, 15))


def test_a_queue_that_fails_a_call_names_every_entry_from_that_call_on():
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_response("send_message_batch", _ok([str(i) for i in range(10)]))
        stub.add_client_error("send_message_batch", "ServiceUnavailable", http_status_code=503)
        assert Queue(sqs, QUEUE).send([Entry("{}")] * 25) == list(range(10, 25))


def test_entry_size_counts_the_body_and_each_attribute_as_sqs_does():
    entry = Entry("é" * 10, {"reason": {"DataType": "String", "StringValue": "abc"}})
    assert entry.size() == 20 + len("reason") + len("String") + 3


def _event(n: int, **fields) -> bytes:
    return serialize({"type": "track", "messageId": f"m-{n}", "properties": {"é": "ü" * n}, **fields})


@given(st.lists(st.integers(0, 300), max_size=30), st.sampled_from([None, "0f3a"]), st.integers(300, 5000))
def test_events_read_back_exactly_as_packed(lengths, source, limit):
    events = [_event(n, pad="x" * n) for n in lengths]
    messages = list(pack_events(source, events, limit))
    read = [read_events(message.decode()) for message in messages]
    assert [event for _, part in read for event in part] == events
    assert all(got == source for got, _ in read)
    # Within the limit, sizes included; only an event too large to share a message goes alone.
    assert all(
        len(message) <= limit or len(part) == 1 for message, (_, part) in zip(messages, read, strict=True)
    )
    # Greedy: the next message's first event (with its size and two commas) would not have fitted,
    # counting the one byte the packer keeps back (it counts a comma before the first size too).
    for message, (_, following) in zip(messages, read[1:], strict=False):
        first = following[0]
        assert len(message) + len(first) + len(str(len(first))) + 2 >= limit


@pytest.mark.parametrize(
    "body",
    [
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}],"sizes":[7,7]}',  # sizes that do not fit
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}],"sizes":[7]}',
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}],"sizes":[14]}',
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}],"sizes":[-1,"x"]}',
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}]}',  # no sizes: an old or hand-made message
        '{"v": 1, "source": null, "events": [{"a": 1}, {"b": 2}], "sizes": [7, 7]}',  # not as ingest writes
        '{"source":null,"v":1,"events":[{"a":1},{"b":2}],"sizes":[7,7]}',
        # Sizes that tile the array but cut events where no event begins or ends:
        '{"v":1,"source":null,"events":[{"a":1},{"b":2}],"sizes":[5,1]}',
    ],
)
def test_a_message_whose_sizes_do_not_fit_is_read_in_full(body):
    assert read_events(body) == (None, [b'{"a":1}', b'{"b":2}'])


@pytest.mark.parametrize(
    "sizes",
    ["6,6", "1,11", "12,0", "2,10"],  # {"a":1 + "b":2}; { + "a":1,"b":2}; …: never a whole event
)
def test_sizes_that_cut_one_event_in_two_are_not_believed(sizes):
    body = '{"v":1,"source":null,"events":[{"a":1,"b":2}],"sizes":[' + sizes + "]}"
    assert read_events(body) == (None, [b'{"a":1,"b":2}'])


def test_messages_as_ingest_writes_them_are_cut_even_empty_ones(monkeypatch):
    import edge.core.queueing

    def never(body):
        raise AssertionError("decoded in full: the sizes were not used")

    monkeypatch.setattr(edge.core.queueing, "decode_message", never)
    assert read_events(events_message("0f3a", []).decode()) == ("0f3a", [])
    assert read_events(events_message(None, [b"{}", b'{"a":{}}']).decode()) == (None, [b"{}", b'{"a":{}}'])


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        ("not json", "invalid_message", "The body is not JSON."),
        ("[1]", "invalid_message", "The body is not an events message."),
        ('{"events": []}', "invalid_message", "The body is not an events message."),
        ('{"v": 2, "events": []}', "unsupported_version", "Version 2 is not read here."),
        ('{"v": true, "events": []}', "unsupported_version", "Version True is not read here."),
        ('{"v": 1, "source": 7, "events": []}', "invalid_message", "The source is not a string or null."),
        (
            '{"v": 1, "source": null, "events": {}}',
            "invalid_message",
            "The events are not a list of objects.",
        ),
        (
            '{"v": 1, "source": null, "events": [1]}',
            "invalid_message",
            "The events are not a list of objects.",
        ),
    ],
)
def test_a_message_that_cannot_be_read_says_why(body, reason, detail):
    with pytest.raises(UndeliverableError) as refusal:
        read_events(body)
    assert (refusal.value.reason, refusal.value.detail) == (reason, detail)


def test_entries_that_keep_failing_are_sent_again_after_a_doubling_backoff():
    sqs = boto3.client("sqs", region_name="us-east-1")
    failed = {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]}
    sleeps: list[float] = []
    with Stubber(sqs) as stub:
        for _ in range(3):
            stub.add_response("send_message_batch", failed)
        assert Queue(sqs, QUEUE, backoff=0.05, sleep=sleeps.append).send([Entry("{}")]) == [0]
    assert sleeps == [0.05, 0.1]


def test_a_write_key_never_leaves_the_queue_whichever_way_the_message_is_read():
    event = _event(1, writeKey="pk_live_secret")
    fast = read_events(events_message("0f3a", [event]).decode())
    slow = read_events(json.dumps({"v": 1, "source": "0f3a", "events": [json.loads(event)]}))
    for source, [data] in (fast, slow):
        assert source == "0f3a"
        assert b"pk_live_secret" not in data
        assert json.loads(data) == {k: v for k, v in json.loads(event).items() if k != "writeKey"}


def test_a_cut_event_that_is_not_json_sends_the_message_to_the_full_reading():
    body = '{"v":1,"source":null,"events":[{"writeKey":x}],"sizes":[14]}'
    with pytest.raises(UndeliverableError) as refusal:
        read_events(body)
    assert refusal.value.reason == "invalid_message"


def test_an_event_with_its_own_sizes_field_does_not_confuse_the_cutting(monkeypatch):
    import edge.core.queueing

    def never(body):
        raise AssertionError("decoded in full: the sizes were not used")

    monkeypatch.setattr(edge.core.queueing, "decode_message", never)
    events = [
        serialize({"type": "track", "a": [1], "sizes": [999, 1], "properties": {"x": '],"sizes":[7]}'}})
    ]
    events.append(serialize({"type": "page", "sizes": []}))
    [message] = pack_events(None, events, 10_000)
    assert read_events(message.decode()) == (None, events)
