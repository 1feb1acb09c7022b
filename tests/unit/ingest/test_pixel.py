import base64
import json

import pytest

from edge.core.errors import RequestError
from edge.ingest.pixel import TRANSPARENT_GIF, event_from_query

EVENT = {"userId": "u1", "event": "Email Opened", "properties": {"subject": "Hi ✓"}, "writeKey": "k"}


def test_the_gif_is_a_1x1_gif():
    assert TRANSPARENT_GIF.startswith(b"GIF89a")
    assert TRANSPARENT_GIF[6:10] == b"\x01\x00\x01\x00"


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
        lambda raw: base64.b64encode(raw).replace(b"+", b" "),
    ],
)
def test_data_parameter_in_any_base64_form(encode):
    raw = json.dumps(EVENT).encode() + b" " * 2  # padding varies with length
    assert event_from_query({"data": encode(raw).decode()}) == EVENT


def test_dotted_query_parameters_build_nested_objects():
    query = {
        "userId": "u1",
        "event": "Email Opened",
        "properties.subject": "Hi",
        "context.campaign.name": "c",
    }
    assert event_from_query(query) == {
        "userId": "u1",
        "event": "Email Opened",
        "properties": {"subject": "Hi"},
        "context": {"campaign": {"name": "c"}},
    }


def test_conflicting_dotted_parameters_do_not_crash():
    assert event_from_query({"a": "1", "a.b": "2", "..": "x"}) == {"a": "1"}


def test_invalid_base64_is_a_client_error():
    with pytest.raises(RequestError):
        event_from_query({"data": "%%%"})


def test_data_must_encode_an_object():
    with pytest.raises(RequestError):
        event_from_query({"data": base64.b64encode(b"[1]").decode()})
