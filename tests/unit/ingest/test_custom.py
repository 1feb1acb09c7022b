"""MetaRouter's event metadata read from its three places, merged field by field, and its 400s."""

from __future__ import annotations

from typing import Any

import pytest

from edge.core.errors import RequestError
from edge.ingest.custom import MAX_METADATA_HEADER_BYTES, read_metadata, without_write_key


def _refusal(body: Any, header: str | None = None, query: dict[str, str] | None = None) -> tuple[str, str]:
    with pytest.raises(RequestError) as raised:
        read_metadata(body, header, query or {})
    assert (raised.value.status, raised.value.code) == (400, "invalid_metadata")
    detail = raised.value.details[0]
    return detail["field"], detail["message"]


@pytest.mark.parametrize(
    ("body", "header", "query"),
    [
        ({"_metarouter": {"eventName": "a"}}, None, {}),
        ({"_mrSchema": {"eventName": "a"}}, None, {}),
        ({}, '{"eventName": "a"}', {}),
        ({}, None, {"eventName": "a"}),
    ],
    ids=["_metarouter", "_mrSchema", "header", "query"],
)
def test_the_metadata_is_read_from_each_of_its_places(
    body: Any, header: str | None, query: dict[str, str]
) -> None:
    assert read_metadata(body, header, query) == {"eventName": "a"}


def test_each_field_comes_from_the_first_place_that_has_it() -> None:
    body = {
        "_metarouter": {"eventName": "body", "userID": "u-body"},
        "_mrSchema": {"eventName": "legacy", "userID": "u-legacy", "anonymousID": "a-legacy"},
    }
    header = '{"eventName": "header", "anonymousID": "a-header", "eventID": "e-header"}'
    query = {"eventName": "query", "eventID": "e-query", "writeKey": "pk", "ip": "203.0.113.9", "other": "x"}
    assert read_metadata(body, header, query) == {
        "eventName": "body",
        "userID": "u-body",
        "anonymousID": "a-legacy",
        "eventID": "e-header",
        "writeKey": "pk",
        "ip": "203.0.113.9",
    }


def test_empty_values_count_as_absent_and_jsonpath_values_pass_through() -> None:
    body = {"_metarouter": {"eventName": "", "userID": "$.user.id", "timestamp": None}}
    assert read_metadata(body, None, {"eventName": "hook", "timestamp": "$.at"}) == {
        "eventName": "hook",
        "userID": "$.user.id",
        "timestamp": "$.at",
    }


def test_unknown_metadata_fields_of_the_body_and_header_are_kept_but_not_the_query_s() -> None:
    body = {"_metarouter": {"eventName": "a", "schemaVersion": 2}}
    assert read_metadata(body, '{"custom": "x"}', {"utm_source": "mail"}) == {
        "eventName": "a",
        "schemaVersion": 2,
        "custom": "x",
    }


@pytest.mark.parametrize(
    ("body", "header", "query", "field"),
    [
        ({}, None, {}, "_metarouter.eventName"),
        ({"_metarouter": {"userID": "u"}}, None, {}, "_metarouter.eventName"),
        ({"_metarouter": "order_paid"}, None, {}, "_metarouter"),
        ({"_mrSchema": ["a"]}, None, {}, "_mrSchema"),
        ({}, "{not json", {"eventName": "a"}, "X-Event-Metadata"),
        ({}, '["eventName"]', {"eventName": "a"}, "X-Event-Metadata"),
        ({}, "x" * (MAX_METADATA_HEADER_BYTES + 1), {"eventName": "a"}, "X-Event-Metadata"),
        ({"_metarouter": {"eventName": 7}}, None, {}, "_metarouter.eventName"),
        ({"_metarouter": {"eventName": "a", "userID": 42}}, None, {}, "_metarouter.userID"),
        ({}, '{"eventName": "a", "ip": ["x"]}', {}, "X-Event-Metadata.ip"),
        ({"_metarouter": {"eventName": "a", "eventID": "e" * 101}}, None, {}, "_metarouter.eventID"),
    ],
)
def test_missing_or_unreadable_metadata_is_a_400_naming_the_field(
    body: Any, header: str | None, query: dict[str, str], field: str
) -> None:
    assert _refusal(body, header, query)[0] == field


@pytest.mark.parametrize("body", [[{"eventName": "a"}], "event", 3, None])
def test_a_body_that_is_not_an_object_is_a_400(body: Any) -> None:
    with pytest.raises(RequestError) as raised:
        read_metadata(body, None, {"eventName": "a"})
    assert (raised.value.status, raised.value.code) == (400, "invalid_json")


def test_the_quarantined_form_carries_no_write_key_anywhere() -> None:
    body = {
        "writeKey": "k",
        "_metarouter": {"writeKey": "k", "eventName": "a"},
        "_mrSchema": {"writeKey": "k"},
    }
    assert without_write_key(body) == {"_metarouter": {"eventName": "a"}, "_mrSchema": {}}
