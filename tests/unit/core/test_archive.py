"""The archive's layout: labels, partitions, keys and the two encodings (objects, queue messages)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from edge.core.archive import (
    MAX_MEMBER_BYTES,
    Partition,
    archive_message,
    gzip_lines,
    hour_starts,
    is_archive_message,
    label_for,
    object_key,
    parse_key,
    partition_of,
    read_archive_message,
    read_lines,
    source_hash,
)
from edge.core.errors import Reason, UndeliverableError
from edge.core.secret import EdgeSecret

NOON = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)


def test_a_source_is_named_by_a_short_hash_that_does_not_reveal_it():
    name = source_hash("ILoveData123")
    assert len(name) == 16
    assert int(name, 16) >= 0
    assert name == source_hash("ILoveData123") != source_hash("ILoveData124")
    assert "ILoveData" not in name


@pytest.mark.parametrize(
    ("label", "used"),
    [
        ("web", True),
        ("ios-app_2", True),
        ("Web", False),  # upper case: partitions are lower case
        ("-web", False),
        ("web/ios", False),
        ("a" * 41, False),
        ("0123456789abcdef", False),  # looks like a hash
        ("", False),
    ],
)
def test_a_configured_label_is_used_only_when_it_is_usable(label, used):
    assert (label_for("SID", {"SID": label}) == label) is used
    if not used:
        assert label_for("SID", {"SID": label}) == source_hash("SID")


def test_a_label_two_sources_share_names_neither():
    labels = {"A": "web", "B": "web", "C": "ios"}
    assert [label_for(s, labels) for s in "ABC"] == [source_hash("A"), source_hash("B"), "ios"]


def test_the_secret_names_each_source_and_finds_it_again_by_label_or_hash():
    secret = EdgeSecret(sources={"k1": "A", "k2": "B", "k3": "A"}, labels={"A": "web", "Z": "zz"})
    assert secret.source_ids() == ["A", "B"]
    assert (secret.label_for("A"), secret.label_for("B")) == ("web", source_hash("B"))
    assert secret.source_id_for_label("web") == "A"
    assert secret.source_id_for_label(source_hash("A")) == "A"  # a relabelled Source's old partitions
    assert secret.source_id_for_label(source_hash("B")) == "B"
    assert secret.source_id_for_label("zz") is None  # a label for a Source the secret does not name
    assert secret.source_id_for_label(None) is None
    assert EdgeSecret.parse({"writeKey": "A", "labels": {"A": "site"}}).label_for("A") == "site"


def test_an_event_is_kept_under_the_utc_date_and_hour_of_its_received_at():
    nested = b'"properties":{"receivedAt":"1999-01-01T00:00:00Z"}'
    event = b'{"type":"track",' + nested + b',"receivedAt":"2026-12-07T09:59:59.999Z"}'
    assert partition_of("web", event, NOON) == Partition("web", "2026-12-07", "09")
    assert partition_of("web", b'{"type":"track"}', NOON) == Partition("web", "2026-12-07", "12")
    assert partition_of("web", b"not json", NOON) == Partition("web", "2026-12-07", "12")


def test_keys_are_hive_partitions_and_name_their_writer():
    partition = Partition("web", "2026-12-07", "09")
    key = object_key(partition, NOON, "4f1c2a9e-7b3d-4c1e-9a2b-1234567890ab", 2)
    assert key == (
        "events/source=web/dt=2026-12-07/hour=09/20261207T123000Z-4f1c2a9e-7b3d-4c1e-9a2b-1234567890ab-2.jsonl.gz"
    )
    assert parse_key(key) == partition
    assert partition.prefix == "events/source=web/dt=2026-12-07/hour=09/"
    assert partition.start == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert object_key(partition, NOON, "a/b c", 0).endswith("-a-b-c-0.jsonl.gz")
    assert parse_key("events/source=web/dt=2026-12-07/") is None
    assert parse_key("other/key") is None


def test_the_hours_of_a_window_are_every_hour_it_touches():
    start = datetime(2026, 12, 7, 9, 15, tzinfo=UTC)
    assert [h.hour for h in hour_starts(start, datetime(2026, 12, 7, 11, 0, tzinfo=UTC))] == [9, 10]
    assert [h.hour for h in hour_starts(start, datetime(2026, 12, 7, 11, 0, 1, tzinfo=UTC))] == [9, 10, 11]
    assert list(hour_starts(start, start)) == []


def test_objects_are_gzip_json_lines_that_any_gzip_reader_reads():
    events = [b'{"a":1}', b'{"b":"\\n"}']
    data = gzip_lines(events)
    assert gzip.decompress(data) == b'{"a":1}\n{"b":"\\n"}\n'
    assert read_lines(data) == events
    assert read_lines(data + gzip_lines([b'{"c":3}'], 1)) == [*events, b'{"c":3}']  # multi-member
    with pytest.raises(ValueError, match="cut short"):
        read_lines(data[:-4])


def test_an_archive_message_carries_a_label_a_count_and_gzip_members():
    members = [gzip_lines([b'{"a":1}']), gzip_lines([b'{"b":2}'])]
    body = archive_message("web", 2, members)
    assert is_archive_message(body)
    assert not is_archive_message('{"v":1,"source":null,"events":[]}')
    batch = read_archive_message(body)
    assert (batch.source, batch.event_count, batch.events) == ("web", 2, [b'{"a":1}', b'{"b":2}'])
    assert json.loads(body)["kind"] == "archive"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("nope", Reason.INVALID_MESSAGE),
        ('{"v":1,"kind":"archive","source":"web","events":1,"gzip":"%%%"}', Reason.INVALID_MESSAGE),
        ('{"v":2,"kind":"archive","source":"web","events":1,"gzip":""}', Reason.UNSUPPORTED_VERSION),
        ('{"v":1,"kind":"archive","source":"Web!","events":1,"gzip":""}', Reason.INVALID_MESSAGE),
    ],
)
def test_a_message_that_is_not_an_archive_message_says_why(body, reason):
    with pytest.raises(UndeliverableError) as caught:
        read_archive_message(body)
    assert caught.value.reason == reason


def test_a_full_archive_message_fits_sqs_s_limit():
    body = archive_message("a" * 40, 10**6, [b"\xff" * MAX_MEMBER_BYTES])
    assert len(body.encode()) <= 256 * 1024
