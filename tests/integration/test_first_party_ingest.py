"""First-party collection through the ingest handler: the client IP behind CloudFront, the
origin-verify secret read through Powertools, and the server-set anonymousId cookie."""

from __future__ import annotations

import gzip
import json

import pytest

from edge.core.config import IngestSettings
from edge.ingest.wiring import build_first_party, build_ingestor
from support.apigw import api_event

VERIFY = "generated-origin-verify-value-0123456789"
PAGE = {"anonymousId": "6c0cb5d4-1b4f-4a4e-9d77-1b5e5ec5d0b1", "name": "Home"}
BEHIND_CLOUDFRONT = {"cloudfront-viewer-address": "198.51.100.23:46532", "x-forwarded-for": "192.0.2.9"}


@pytest.fixture
def verify_secret(aws_stack):
    return aws_stack.secrets.create_secret(Name="edge/origin-verify", SecretString=VERIFY)["ARN"]


@pytest.fixture
def configure(ingest, aws_stack, monkeypatch):
    """Rebuild the handler's services with these variables (a new execution environment)."""
    from ingest import app

    def apply(**env: str) -> None:
        settings = IngestSettings.from_env(
            {
                "EVENTS_QUEUE_URL": aws_stack.events_url,
                "QUARANTINE_QUEUE_URL": aws_stack.quarantine_url,
                "EDGE_SECRET_ID": aws_stack.secret_id,
                "SECRET_MAX_AGE_SECONDS": "0",
                **env,
            }
        )
        monkeypatch.setattr(app.api, "ingestor", build_ingestor(settings))
        monkeypatch.setattr(app.api, "first_party", build_first_party(settings))

    return apply


def _queued_ip(aws_stack):
    [event] = aws_stack.queued_events()
    return event["context"].get("ip")


def test_with_every_setting_empty_headers_change_nothing(ingest, aws_stack):
    headers = {**BEHIND_CLOUDFRONT, "x-origin-verify": VERIFY, "origin": "https://www.example.com"}
    response = ingest(api_event("POST", "/v1/page", PAGE, headers=headers))
    assert response["statusCode"] == 200
    assert response.get("cookies", []) == []
    assert "set-cookie" not in {k.lower() for k in response.get("headers", {})}
    assert _queued_ip(aws_stack) == "203.0.113.7"


def test_verified_cloudfront_request_is_enriched_with_the_viewer_address(
    ingest, aws_stack, configure, verify_secret
):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret)
    headers = {**BEHIND_CLOUDFRONT, "x-origin-verify": VERIFY}
    assert (
        ingest(api_event("POST", "/v1/page", PAGE, headers=headers, source_ip="130.176.1.1"))["statusCode"]
        == 200
    )
    assert _queued_ip(aws_stack) == "198.51.100.23"


def test_ip_policy_applies_to_the_viewer_address(ingest, aws_stack, configure, verify_secret):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret, IP_POLICY="anonymize")
    headers = {"cloudfront-viewer-address": "2001:db8:85a3:1:2:3:4:5:443", "x-origin-verify": VERIFY}
    assert ingest(api_event("POST", "/v1/page", PAGE, headers=headers))["statusCode"] == 200
    assert _queued_ip(aws_stack) == "2001:db8:85a3::"


@pytest.mark.parametrize("presented", [None, "forged"])
def test_unverified_viewer_headers_are_ignored(ingest, aws_stack, configure, verify_secret, presented):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret)
    headers = (
        dict(BEHIND_CLOUDFRONT) if presented is None else {**BEHIND_CLOUDFRONT, "x-origin-verify": presented}
    )
    assert ingest(api_event("POST", "/v1/page", PAGE, headers=headers))["statusCode"] == 200
    assert _queued_ip(aws_stack) == "203.0.113.7"


def test_a_request_that_bypasses_a_required_front_door_is_refused(
    ingest, aws_stack, configure, verify_secret
):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret, REQUIRE_ORIGIN_VERIFY="true")
    response = ingest(api_event("POST", "/v1/page", PAGE, headers=BEHIND_CLOUDFRONT))
    assert response["statusCode"] == 403
    assert aws_stack.queued_events() == []
    ok = ingest(api_event("POST", "/v1/page", PAGE, headers={**BEHIND_CLOUDFRONT, "x-origin-verify": VERIFY}))
    assert ok["statusCode"] == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/m", {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1}]}),
        ("/v1/page", PAGE),
        ("/v1/t", "{not json"),
        ("/v1/batch", {"batch": "not a list"}),
        ("/v1/batch", gzip.compress(b"", mtime=0) * 20_000 + gzip.compress(b"\0" * 10_000_000)),
    ],
    ids=["telemetry", "event", "invalid-json", "invalid-batch", "gzip-members-and-bomb"],
)
def test_a_required_front_door_refuses_every_route_before_the_body_is_read(
    ingest, aws_stack, configure, verify_secret, monkeypatch, path, body
):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret, REQUIRE_ORIGIN_VERIFY="true")
    from edge.ingest import http

    monkeypatch.setattr(http, "read_body", lambda *_, **__: pytest.fail("the body was read"))
    event = (
        api_event("POST", path, raw_body=body, headers={"content-encoding": "gzip"})
        if isinstance(body, bytes)
        else api_event("POST", path, body)
        if isinstance(body, dict)
        else api_event("POST", path, raw_body=body)
    )
    response = ingest(event)
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["error"]["code"] == "forbidden"
    assert aws_stack.queued_events() == []
    assert aws_stack.quarantined() == []


def test_a_required_front_door_refuses_a_pixel_with_an_image(ingest, aws_stack, configure, verify_secret):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret, REQUIRE_ORIGIN_VERIFY="true")
    query = {"userId": "u1", "event": "Opened"}
    response = ingest(api_event("GET", "/v1/pixel/track", query=query))
    assert (response["statusCode"], response["headers"]["Content-Type"]) == (403, "image/gif")
    assert aws_stack.queued_events() == []
    through = ingest(api_event("GET", "/v1/pixel/track", query=query, headers={"x-origin-verify": VERIFY}))
    assert (through["statusCode"], through["headers"]["Content-Type"]) == (200, "image/gif")


def test_an_unreadable_origin_verify_secret_is_a_503_and_never_logged(
    ingest, aws_stack, configure, log_output
):
    configure(ORIGIN_VERIFY_SECRET_ID="arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    response = ingest(
        api_event("POST", "/v1/page", PAGE, headers={**BEHIND_CLOUDFRONT, "x-origin-verify": VERIFY})
    )
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert aws_stack.queued_events() == []
    assert VERIFY not in log_output.getvalue()


def test_the_origin_verify_value_is_never_logged(ingest, aws_stack, configure, verify_secret, log_output):
    configure(ORIGIN_VERIFY_SECRET_ID=verify_secret, REQUIRE_ORIGIN_VERIFY="true")
    statuses = [
        ingest(api_event("POST", "/v1/page", PAGE, headers={"x-origin-verify": value}))["statusCode"]
        for value in (VERIFY, "forged")
    ]
    assert statuses == [200, 403]
    assert VERIFY not in log_output.getvalue()
    [queued] = aws_stack.queued_events()
    assert VERIFY not in json.dumps(queued)


@pytest.mark.parametrize("path", ["/v1/page", "/v1/p"])
def test_a_page_of_the_cookie_domain_gets_the_anonymous_id_cookie(ingest, configure, path):
    configure(COOKIE_DOMAIN="example.com")
    response = ingest(api_event("POST", path, PAGE, headers={"origin": "https://www.example.com"}))
    assert response["statusCode"] == 200
    assert response["cookies"] == [
        f"ajs_anonymous_id={PAGE['anonymousId']}; Path=/; Domain=example.com; Max-Age=31536000; Secure;"
        " SameSite=Lax"
    ]


def test_a_batch_sets_its_newest_anonymous_id_with_the_configured_max_age(ingest, configure):
    configure(COOKIE_DOMAIN="example.com", COOKIE_MAX_AGE_SECONDS="86400")
    body = {
        "batch": [
            {"type": "track", "anonymousId": "a-old", "event": "E"},
            {"type": "page", "anonymousId": "a-new"},
        ]
    }
    response = ingest(api_event("POST", "/v1/batch", body, headers={"origin": "https://shop.example.com"}))
    [cookie] = response["cookies"]
    assert cookie.startswith("ajs_anonymous_id=a-new; ")
    assert "Max-Age=86400;" in cookie


@pytest.mark.parametrize("origin", ["https://notexample.com", "https://example.com.evil.net", None])
def test_another_origin_gets_no_cookie(ingest, configure, origin):
    configure(COOKIE_DOMAIN="example.com")
    headers = {"origin": origin} if origin else {}
    response = ingest(api_event("POST", "/v1/page", PAGE, headers=headers))
    assert response["statusCode"] == 200
    assert not response.get("cookies")


def test_a_refused_request_sets_no_cookie(ingest, configure):
    configure(COOKIE_DOMAIN="example.com")
    response = ingest(
        api_event("POST", "/v1/page", raw_body="{not json", headers={"origin": "https://example.com"})
    )
    assert response["statusCode"] == 400
    assert not response.get("cookies")
