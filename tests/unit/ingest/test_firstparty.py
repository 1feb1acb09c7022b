import json
from typing import Any
from urllib.parse import unquote

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from edge.core.errors import RequestError, TransientError
from edge.ingest.firstparty import (
    AnonymousIdCookie,
    FirstParty,
    OriginVerifier,
    anonymous_id_of,
    client_ip,
    cookie_anonymous_id,
    cookie_value,
    origin_in_domain,
    viewer_ip,
)

SECRET = "s3cr3t-origin-verify-value"
VIEWER = {"cloudfront-viewer-address": "198.51.100.23:46532"}


@pytest.mark.parametrize(
    ("header", "ip"),
    [
        ("198.51.100.23:46532", "198.51.100.23"),
        ("2001:db8:85a3::8a2e:370:7334:46532", "2001:db8:85a3::8a2e:370:7334"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001:443", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("198.51.100.23", None),  # no port: not CloudFront's form
        ("not-an-ip:443", None),
        ("", None),
        (None, None),
    ],
)
def test_viewer_address_is_read_in_both_ip_forms(header, ip):
    assert viewer_ip(header) == ip


def test_viewer_address_is_taken_only_when_cloudfront_is_verified():
    headers = {**VIEWER, "x-forwarded-for": "192.0.2.9"}
    assert client_ip(headers, "10.1.2.3", verified=True) == "198.51.100.23"
    assert client_ip(headers, "10.1.2.3", verified=False) == "10.1.2.3"
    assert client_ip({"cloudfront-viewer-address": "junk"}, "10.1.2.3", verified=True) == "10.1.2.3"


@pytest.mark.parametrize(
    ("origin", "matches"),
    [
        ("https://example.com", True),
        ("https://www.example.com", True),
        ("https://a.b.example.com:8443", True),
        ("https://WWW.Example.COM", True),
        ("https://notexample.com", False),
        ("https://example.com.evil.net", False),
        ("https://wwwexample.com", False),
        ("null", False),
        ("", False),
        (None, False),
    ],
)
def test_origin_matches_the_domain_or_a_subdomain_never_a_lookalike(origin, matches):
    assert origin_in_domain(origin, "example.com") is matches
    assert origin_in_domain(origin, ".example.com") is matches


def test_no_domain_matches_nothing():
    assert origin_in_domain("https://example.com", "") is False


def _analytics_js_reads(raw: str) -> Any:
    """What analytics.js 2.0's cookie store returns: js-cookie decodes, then JSON.parse or the raw text."""
    text = unquote(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.mark.parametrize(
    "anonymous_id",
    ["6c0cb5d4-1b4f-4a4e-9d77-1b5e5ec5d0b1", "123", "null", "true", '"quoted"', "a b;c,d", "ü-ñ", "{x}"],
)
def test_cookie_value_reads_back_as_the_same_anonymous_id(anonymous_id):
    value = cookie_value(anonymous_id)
    assert not set(value) & set(' ;,"\\')
    assert _analytics_js_reads(value) == anonymous_id
    assert cookie_anonymous_id(["other=1", f"ajs_anonymous_id={value}"]) == anonymous_id


def test_a_uuid_is_written_as_analytics_js_2_writes_it():
    assert cookie_value("6c0cb5d4-1b4f-4a4e-9d77-1b5e5ec5d0b1") == "6c0cb5d4-1b4f-4a4e-9d77-1b5e5ec5d0b1"


def test_analytics_js_1_quoted_cookie_is_read():
    assert cookie_anonymous_id(["ajs_anonymous_id=%22abc-123%22"]) == "abc-123"
    assert cookie_anonymous_id(["ajs_anonymous_id=null"]) is None
    assert cookie_anonymous_id(["ajs_user_id=u1"]) is None


COOKIE = AnonymousIdCookie("example.com", 31_536_000)


def test_cookie_for_a_page_of_the_domain_has_every_attribute():
    assert str(COOKIE.set_cookie("https://www.example.com", "anon-1")) == (
        "ajs_anonymous_id=anon-1; Path=/; Domain=example.com; Max-Age=31536000; Secure; SameSite=Lax"
    )


def test_no_cookie_for_another_origin_or_without_an_id():
    assert COOKIE.set_cookie("https://notexample.com", "anon-1") is None
    assert COOKIE.set_cookie(None, "anon-1") is None
    assert COOKIE.set_cookie("https://example.com", None) is None
    assert COOKIE.set_cookie("https://example.com", "x" * 201) is None


@pytest.mark.parametrize(
    ("body", "anonymous_id"),
    [
        ({"anonymousId": "a1", "event": "E"}, "a1"),
        (
            {"batch": [{"anonymousId": "a1"}, {"userId": "u"}, {"anonymousId": "a2"}, {"anonymousId": 5}]},
            "a2",
        ),
        ({"userId": "u"}, None),
        ({"anonymousId": ""}, None),
        ([], None),
        ("text", None),
    ],
)
def test_anonymous_id_of_a_request_is_its_newest(body, anonymous_id):
    assert anonymous_id_of(body) == anonymous_id


def test_first_party_refreshes_the_request_cookie_when_the_event_has_no_anonymous_id():
    party = FirstParty(cookie=COOKIE)
    headers = {"origin": "https://shop.example.com"}
    [cookie] = party.cookies(headers, {"userId": "u"}, ["ajs_anonymous_id=from-cookie"])
    assert str(cookie).startswith("ajs_anonymous_id=from-cookie;")
    [cookie] = party.cookies(headers, {"anonymousId": "from-event"}, ["ajs_anonymous_id=from-cookie"])
    assert str(cookie).startswith("ajs_anonymous_id=from-event;")
    assert FirstParty().cookies(headers, {"anonymousId": "a"}, []) == []


class FakeProvider:
    def __init__(self, value: Any = SECRET, error: bool = False) -> None:
        self.value = value
        self.error = error
        self.reads = 0

    def get(self, name: str, max_age: int = 0, **_: Any) -> Any:
        self.reads += 1
        if self.error:
            raise GetParameterError("unreachable")
        return self.value


def _party(provider: FakeProvider, *, required: bool = False) -> FirstParty:
    return FirstParty(verifier=OriginVerifier(provider, "origin-verify", 300, required=required))  # type: ignore[arg-type]


def _ip(party: FirstParty, headers: dict[str, str], source_ip: str) -> str | None:
    """The address events are enriched with: the front door checked first, as the handler does."""
    return client_ip(headers, source_ip, verified=party.verified(headers))


def test_matching_origin_verify_header_lets_the_viewer_address_through():
    party = _party(FakeProvider())
    assert _ip(party, {**VIEWER, "x-origin-verify": SECRET}, "10.1.2.3") == "198.51.100.23"


@pytest.mark.parametrize("presented", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_without_the_right_header_the_source_ip_stands(presented):
    headers = {**VIEWER, "x-forwarded-for": "192.0.2.9"}
    if presented is not None:
        headers["x-origin-verify"] = presented
    assert _ip(_party(FakeProvider()), headers, "10.1.2.3") == "10.1.2.3"


def test_without_a_header_the_secret_is_not_read():
    provider = FakeProvider()
    assert _ip(_party(provider), VIEWER, "10.1.2.3") == "10.1.2.3"
    assert provider.reads == 0


@pytest.mark.parametrize("presented", [None, "wrong"])
def test_required_front_door_refuses_a_request_that_bypasses_it(presented):
    headers = {**VIEWER} if presented is None else {**VIEWER, "x-origin-verify": presented}
    with pytest.raises(RequestError) as exc_info:
        _ip(_party(FakeProvider(), required=True), headers, "10.1.2.3")
    assert exc_info.value.status == 403


@pytest.mark.parametrize(
    "provider", [FakeProvider(error=True), FakeProvider(value=""), FakeProvider(value={})]
)
def test_an_unreadable_secret_is_transient_never_a_refusal(provider):
    with pytest.raises(TransientError) as exc_info:
        _ip(_party(provider, required=True), {"x-origin-verify": "anything"}, "10.1.2.3")
    assert SECRET not in str(exc_info.value)


def test_no_verifier_keeps_the_source_ip_whatever_the_headers_say():
    assert _ip(FirstParty(), {**VIEWER, "x-origin-verify": SECRET}, "10.1.2.3") == "10.1.2.3"
