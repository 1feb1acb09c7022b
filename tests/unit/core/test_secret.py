import pytest
from pydantic import ValidationError

from edge.core.errors import RequestError
from edge.core.secret import EdgeSecret, fingerprint

CLOSED = EdgeSecret(sources={"pk_web": "SRC_WEB", "pk_ios": "SRC_IOS"})


def test_open_mode_accepts_any_key_or_none():
    secret = EdgeSecret(writeKey="SRC")
    assert secret.authorize(None) is None
    assert secret.authorize("anything") is None
    assert secret.source_id_for(None) == "SRC"


def test_closed_mode_maps_each_listed_key_to_its_source():
    assert CLOSED.source_id_for(CLOSED.authorize("pk_web")) == "SRC_WEB"
    assert CLOSED.source_id_for(CLOSED.authorize("pk_ios")) == "SRC_IOS"


@pytest.mark.parametrize("key", [None, "", "pk_unknown", "pk_web "])
def test_closed_mode_refuses_missing_or_unknown_keys_with_401(key):
    with pytest.raises(RequestError) as exc_info:
        CLOSED.authorize(key)
    assert (exc_info.value.status, exc_info.value.code) == (401, "invalid_write_key")


def test_fingerprints_do_not_contain_the_key():
    assert "pk_web" not in fingerprint("pk_web")
    assert fingerprint("pk_web") != fingerprint("pk_ios")


def test_unmapped_fingerprint_has_no_source():
    assert CLOSED.source_id_for(fingerprint("pk_removed")) is None
    assert CLOSED.source_id_for(None) is None


@pytest.mark.parametrize(
    "value",
    [{}, {"writeKey": ""}, {"sources": {}}, {"writeKey": "a", "sources": {"k": "s"}}, {"sources": {"k": ""}}],
)
def test_malformed_secrets_are_refused(value):
    with pytest.raises(ValidationError):
        EdgeSecret.parse(value)
