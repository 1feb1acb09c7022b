"""The table of repairs, case by case: what arrives, what is forwarded, what is counted."""

import pytest

from edge.ingest.models import validate_event
from edge.ingest.repairs import Repair, repair_event, repair_timestamp


def test_a_clean_event_is_left_exactly_as_it_was():
    event = {
        "type": "track",
        "userId": "u1",
        "event": "E",
        "messageId": "m1",
        "timestamp": "2023-11-14T22:13:20.000Z",
        "properties": {"a": 1},
    }
    before = {**event, "properties": dict(event["properties"])}
    assert repair_event(event) == []
    assert event == before


def test_numeric_ids_and_message_id_become_strings():
    event = {"userId": 42, "anonymousId": 7.0, "groupId": 1.5, "previousId": -3, "messageId": 123456789}
    assert repair_event(event) == [Repair.ID_NUMBER] * 5
    assert event == {
        "userId": "42",
        "anonymousId": "7",
        "groupId": "1.5",
        "previousId": "-3",
        "messageId": "123456789",
    }
    assert validate_event({**event, "type": "group"}, "group") == []


def test_a_huge_integer_id_becomes_its_exact_decimal_string():
    event = {"userId": 10**30}
    assert repair_event(event) == [Repair.ID_NUMBER]
    assert event["userId"] == "1" + "0" * 30


@pytest.mark.parametrize("value", [True, False, {"id": 1}, [1], float("inf")])
def test_ids_that_are_not_numbers_are_left_for_validation_to_refuse(value):
    event = {"userId": value}
    assert repair_event(event) == []
    assert event == {"userId": value}
    assert [e["field"] for e in validate_event(event, "identify")] == ["userId"]


@pytest.mark.parametrize(
    ("sent", "folded"), [("Track", "track"), ("IDENTIFY", "identify"), (" page ", "page")]
)
def test_the_type_s_case_and_spaces_are_folded(sent, folded):
    event = {"type": sent}
    assert repair_event(event) == [Repair.TYPE_CASE]
    assert event["type"] == folded


@pytest.mark.parametrize("sent", ["tracking", "Launch", "", 7])
def test_an_unknown_type_is_not_guessed(sent):
    event = {"type": sent}
    assert repair_event(event) == []
    assert event["type"] == sent


@pytest.mark.parametrize(
    ("sent", "iso"),
    [
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),  # epoch milliseconds
        (1_700_000_000, "2023-11-14T22:13:20.000Z"),  # epoch seconds
        (1_700_000_000.5, "2023-11-14T22:13:20.500Z"),
        ("1700000000123", "2023-11-14T22:13:20.123Z"),  # a digit string
        ("1700000000", "2023-11-14T22:13:20.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
    ],
)
@pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "sentAt"])
def test_epoch_timestamps_become_iso8601(field, sent, iso):
    event = {"userId": "u", field: sent}
    assert repair_event(event) == [Repair.EPOCH_TIME]
    assert event == {"userId": "u", field: iso}


@pytest.mark.parametrize("sent", ["yesterday", "", "2023-13-45T00:00:00Z", "2023", {"t": 1}, True, 1e300])
@pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "sentAt"])
def test_an_unusable_timestamp_is_dropped_and_its_original_kept_in_context(field, sent):
    event = {"userId": "u", field: sent, "context": {"locale": "en"}}
    assert repair_event(event) == [Repair.TIME_DROPPED]
    assert field not in event
    assert event["context"] == {"locale": "en", "edgeRepairs": {field: sent}}


@pytest.mark.parametrize(("sent", "kept"), [(float("inf"), "inf"), (10**400, str(10**400))])
def test_a_dropped_number_no_double_holds_is_kept_as_a_string(sent, kept):
    event = {"userId": "u", "timestamp": sent}
    assert repair_event(event) == [Repair.TIME_DROPPED]
    assert event["context"]["edgeRepairs"] == {"timestamp": kept}


def test_a_dropped_timestamp_without_context_gets_one():
    event = {"userId": "u", "timestamp": "soon"}
    repair_event(event)
    assert event == {"userId": "u", "context": {"edgeRepairs": {"timestamp": "soon"}}}


def test_iso8601_timestamps_are_kept_as_sent():
    for value in ["2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123+02:00", "2023-11-14", "20231114"]:
        assert repair_timestamp(value) == value


@pytest.mark.parametrize("field", ["properties", "traits", "context", "integrations"])
def test_an_empty_array_where_an_object_belongs_becomes_an_empty_object(field):
    event = {"userId": "u", field: []}
    assert repair_event(event) == [Repair.EMPTY_ARRAY]
    assert event[field] == {}


@pytest.mark.parametrize("value", [[1], "x", 3])
def test_a_non_empty_non_object_is_left_for_validation_to_refuse(value):
    event = {"userId": "u", "event": "E", "properties": value}
    assert repair_event(event) == []
    assert [e["field"] for e in validate_event(event, "track")] == ["properties"]


@pytest.mark.parametrize(
    "sent",
    [
        "<img src=x onerror=alert(1)>",
        "1' OR '1'='1",
        "a" * 300,
        "203.0.113.7/32",
        "203.0.113.7 ",
        "",
        42,
        [],
        {},
    ],
)
def test_a_context_ip_that_is_not_an_address_is_removed_so_the_observed_one_stands_in(sent):
    event = {"userId": "u", "context": {"ip": sent, "locale": "en"}}
    assert repair_event(event) == [Repair.IP_REPLACED]
    assert event["context"] == {"locale": "en"}


@pytest.mark.parametrize("sent", ["198.51.100.23", "2001:db8::1", "::ffff:192.0.2.1", "0.0.0.0", None])  # noqa: S104
def test_a_context_ip_that_is_an_address_or_null_is_left_alone(sent):
    event = {"userId": "u", "context": {"ip": sent}}
    assert repair_event(event) == []
    assert event["context"] == {"ip": sent}


def test_a_context_that_is_not_an_object_is_left_for_validation():
    assert repair_event({"userId": "u", "context": "ip=1.2.3.4"}) == []
