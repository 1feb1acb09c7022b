import pytest

from edge.ingest.models import validate_event


def _fields(errors):
    return [e["field"] for e in errors]


@pytest.mark.parametrize(
    ("event_type", "event"),
    [
        ("identify", {"userId": "u1", "traits": {"email": "a@b.c"}}),
        ("track", {"anonymousId": "a1", "event": "Signed Up", "properties": {"plan": "pro"}}),
        ("page", {"userId": "u1", "name": "Home", "properties": {"url": "https://x"}}),
        ("screen", {"userId": "u1", "name": "Home"}),
        ("group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}),
        ("alias", {"userId": "u2", "previousId": "u1"}),
    ],
)
def test_valid_events_of_every_type_pass(event_type, event):
    assert validate_event(event, event_type) == []


def test_every_event_needs_user_id_or_anonymous_id():
    errors = validate_event({"event": "E"}, "track")
    assert errors == [
        {"field": "userId", "message": "userId or anonymousId is required (a non-empty string)"}
    ]


def test_empty_ids_do_not_count_as_identity():
    assert _fields(validate_event({"userId": "", "anonymousId": "", "event": "E"}, "track")) == ["userId"]


def test_boolean_id_is_rejected():
    assert validate_event({"userId": True}, "identify") == [
        {"field": "userId", "message": "must be a string or a number"}
    ]


def test_track_needs_a_non_empty_event_name():
    assert _fields(validate_event({"userId": "u"}, "track")) == ["event"]
    assert _fields(validate_event({"userId": "u", "event": ""}, "track")) == ["event"]


def test_group_needs_group_id():
    assert validate_event({"userId": "u"}, "group") == [{"field": "groupId", "message": "is required"}]


def test_alias_needs_user_id_and_previous_id():
    assert _fields(validate_event({"anonymousId": "a"}, "alias")) == ["userId", "previousId"]


def test_message_id_is_at_most_100_characters():
    assert validate_event({"userId": "u", "messageId": "m" * 100}, "identify") == []
    assert _fields(validate_event({"userId": "u", "messageId": "m" * 101}, "identify")) == ["messageId"]


@pytest.mark.parametrize("field", ["timestamp", "sentAt", "originalTimestamp"])
def test_timestamps_must_be_iso8601(field):
    assert validate_event({"userId": "u", field: "2024-01-02T03:04:05.678Z"}, "identify") == []
    errors = validate_event({"userId": "u", field: "yesterday"}, "identify")
    assert errors == [{"field": field, "message": "must be an ISO-8601 date-time"}]


@pytest.mark.parametrize("field", ["properties", "context", "integrations"])
def test_object_fields_must_be_objects(field):
    assert _fields(validate_event({"userId": "u", "event": "E", field: [1]}, "track")) == [field]


def test_traits_must_be_an_object():
    assert _fields(validate_event({"userId": "u", "traits": "x"}, "identify")) == ["traits"]


def test_unknown_fields_are_kept_untouched():
    event = {"userId": "u", "event": "E", "custom": {"deep": [1, 2]}, "channel": "server"}
    assert validate_event(event, "track") == []
    assert event == {"userId": "u", "event": "E", "custom": {"deep": [1, 2]}, "channel": "server"}
