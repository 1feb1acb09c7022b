import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.timestamps import parse_timestamp
from edge.ingest.enrichment import (
    UNKNOWN_IP,
    BatchDefaults,
    RequestFacts,
    apply_ip_policy,
    enrich,
    is_ip_address,
)
from support.upstream import ISO_MS_Z

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FACTS = RequestFacts(received_at=RECEIVED, source_ip="203.0.113.7", user_agent="agent/1")


def test_received_at_is_the_edge_clock_in_milliseconds_utc():
    event = enrich({"userId": "u"}, facts=FACTS, ip_policy="keep")
    assert event["receivedAt"] == "2024-05-01T12:00:00.000Z"


def test_clock_skew_is_corrected_with_sent_at():
    # The client's clock is 10 minutes fast: it stamped the event 2 s before it sent it.
    event = {"userId": "u", "timestamp": "2024-05-01T12:09:58.000Z", "sentAt": "2024-05-01T12:10:00.000Z"}
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["originalTimestamp"] == "2024-05-01T12:09:58.000Z"
    assert event["timestamp"] == "2024-05-01T11:59:58.000Z"


def test_batch_sent_at_is_used_when_the_event_has_none():
    event = {"userId": "u", "timestamp": "2024-05-01T13:00:00+01:00"}
    enrich(event, facts=FACTS, ip_policy="keep", batch=BatchDefaults(sent_at="2024-05-01T12:00:05Z"))
    assert event["timestamp"] == "2024-05-01T11:59:55.000Z"
    assert event["sentAt"] == "2024-05-01T12:00:05Z"


def test_an_item_s_own_sent_at_wins_over_its_batch_s():
    # The item was queued offline and sent in an earlier request: its own clock pair stands.
    event = {"userId": "u", "timestamp": "2024-05-01T12:09:58.000Z", "sentAt": "2024-05-01T12:10:00.000Z"}
    enrich(event, facts=FACTS, ip_policy="keep", batch=BatchDefaults(sent_at="2024-05-01T12:20:00.000Z"))
    assert event["sentAt"] == "2024-05-01T12:10:00.000Z"
    assert event["timestamp"] == "2024-05-01T11:59:58.000Z"


def test_original_timestamp_is_used_when_there_is_no_timestamp():
    event = {
        "userId": "u",
        "originalTimestamp": "2024-05-01T11:00:00.123Z",
        "sentAt": "2024-05-01T11:00:01.123Z",
    }
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["timestamp"] == "2024-05-01T11:59:59.000Z"


def test_without_sent_at_timestamp_is_the_original_timestamp():
    event = {"userId": "u", "timestamp": "2024-04-30T08:00:00.5+02:00"}
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["originalTimestamp"] == "2024-04-30T08:00:00.5+02:00"
    assert event["timestamp"] == "2024-04-30T06:00:00.500Z"


def test_without_any_client_time_timestamp_is_received_at():
    event = enrich({"userId": "u"}, facts=FACTS, ip_policy="keep")
    assert event["timestamp"] == event["receivedAt"] == "2024-05-01T12:00:00.000Z"
    assert "originalTimestamp" not in event


def test_naive_timestamps_are_taken_as_utc():
    event = {"userId": "u", "timestamp": "2024-05-01T10:00:00"}
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["timestamp"] == "2024-05-01T10:00:00.000Z"


def test_message_id_is_kept_when_given():
    assert enrich({"userId": "u", "messageId": "m-1"}, facts=FACTS, ip_policy="keep")["messageId"] == "m-1"


def test_message_id_is_a_uuid4_when_absent():
    import uuid

    message_id = enrich({"userId": "u"}, facts=FACTS, ip_policy="keep")["messageId"]
    assert uuid.UUID(message_id).version == 4


def test_write_key_is_removed_and_type_set_from_route():
    event = enrich(
        {"userId": "u", "writeKey": "secret-key"}, facts=FACTS, ip_policy="keep", route_type="page"
    )
    assert "writeKey" not in event
    assert event["type"] == "page"


def test_ip_and_user_agent_come_from_the_request():
    event = enrich({"userId": "u"}, facts=FACTS, ip_policy="keep")
    assert event["context"] == {"ip": "203.0.113.7", "userAgent": "agent/1"}


def test_ip_and_user_agent_from_the_event_win():
    event = {"userId": "u", "context": {"ip": "198.51.100.1", "userAgent": "mine", "locale": "fr"}}
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["context"] == {"ip": "198.51.100.1", "userAgent": "mine", "locale": "fr"}


def test_source_ip_in_cidr_form_is_reduced_to_the_bare_address():
    facts = RequestFacts(received_at=RECEIVED, source_ip="203.0.113.7/32")
    assert enrich({"userId": "u"}, facts=facts, ip_policy="keep")["context"]["ip"] == "203.0.113.7"


def test_batch_context_and_integrations_merge_with_item_keys_winning():
    batch = BatchDefaults(
        context={"library": {"name": "analytics-python"}, "locale": "en"},
        integrations={"All": True, "Mixpanel": False},
    )
    event = {"userId": "u", "context": {"locale": "de"}, "integrations": {"Mixpanel": True}}
    enrich(event, facts=FACTS, ip_policy="keep", batch=batch)
    assert event["context"]["library"] == {"name": "analytics-python"}
    assert event["context"]["locale"] == "de"
    assert event["integrations"] == {"All": True, "Mixpanel": True}


@pytest.mark.parametrize(
    ("ip", "policy", "expected"),
    [
        ("203.0.113.7", "keep", "203.0.113.7"),
        ("203.0.113.7", "anonymize", "203.0.113.0"),
        ("2001:db8:abcd:12:34::1", "anonymize", "2001:db8:abcd::"),
        ("203.0.113.7", "drop", None),
        ("not-an-ip", "anonymize", None),
        (None, "keep", None),
    ],
)
def test_ip_policy(ip, policy, expected):
    assert apply_ip_policy(ip, policy) == expected


def test_drop_policy_replaces_even_a_client_supplied_ip_by_the_unknown_address():
    # Absent, MetaRouter would record the address of the request it got: the forwarder's.
    event = {"userId": "u", "context": {"ip": "198.51.100.1"}}
    enrich(event, facts=FACTS, ip_policy="drop")
    assert event["context"]["ip"] == UNKNOWN_IP


def test_an_address_that_cannot_be_anonymized_is_replaced_by_the_unknown_address():
    event = {"userId": "u"}
    enrich(event, facts=RequestFacts(received_at=FACTS.received_at, source_ip=None), ip_policy="anonymize")
    assert event["context"]["ip"] == UNKNOWN_IP


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        ("0001-01-01T00:00:00+05:00", None),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"),
    ],
)
def test_timestamps_at_the_edges_of_the_calendar_fall_back_to_received_at(timestamp, sent_at):
    event = {"userId": "u", "timestamp": timestamp}
    if sent_at:
        event["sentAt"] = sent_at
    enrich(event, facts=FACTS, ip_policy="keep")
    assert event["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert event["originalTimestamp"] == timestamp


@settings(max_examples=300, deadline=None)
@given(
    timestamp=st.datetimes(timezones=st.timezones() | st.none()),
    sent_at=st.none() | st.datetimes(timezones=st.timezones() | st.none()),
)
def test_any_valid_client_clock_is_enriched_without_error(timestamp, sent_at):
    event = {"userId": "u", "timestamp": timestamp.isoformat()}
    if sent_at is not None:
        event["sentAt"] = sent_at.isoformat()
    enrich(event, facts=FACTS, ip_policy="keep")
    assert ISO_MS_Z.fullmatch(event["timestamp"]), event["timestamp"]
    assert parse_timestamp(event["timestamp"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7", True),
        ("2001:db8:85a3::8a2e:370:7334", True),
        ("::ffff:255.255.255.255", True),
        ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", True),  # 45 characters, the longest form
        ("fe80::1%eth0", False),  # a zone index means nothing off the host that wrote it
        ("fe80::1%<script>", False),
        ("203.0.113.7/32", False),
        ("203.0.113.007", False),
        ("localhost", False),
        ("", False),
        (None, False),
        (2130706433, False),
    ],
)
def test_is_ip_address(value, expected):
    assert is_ip_address(value) is expected


def test_a_client_ip_that_is_not_an_address_never_travels_whoever_calls_enrich():
    event = {"userId": "u", "context": {"ip": "<script>"}}
    assert enrich(event, facts=FACTS, ip_policy="keep")["context"]["ip"] == "203.0.113.7"


def _parses(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value


@given(
    value=st.ip_addresses().map(str)
    | st.ip_addresses().map(lambda a: a.exploded)
    | st.text(alphabet="0123456789abcdefABCDEF:.% /x\x00", max_size=46)
)
def test_is_ip_address_agrees_with_the_standard_library(value):
    assert is_ip_address(value) is _parses(value)
