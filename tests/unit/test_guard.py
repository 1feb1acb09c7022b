"""What the local stack's own servers take: loopback requests; for their controls, JSON from no other site."""

from __future__ import annotations

from typing import Any

import pytest

from edge_local.guard import MAX_CONTROL_BYTES, foreign_origin, guard_wsgi, loopback_host, refusal

PORT = 3001


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:3001", True),
        ("127.0.0.1", True),
        ("127.8.9.10:80", True),
        ("localhost:3001", True),
        ("app.localhost:3001", True),
        ("[::1]:3001", True),
        ("evil.example:3001", False),  # a name rebound to 127.0.0.1
        ("127.0.0.1.nip.io:3001", False),
        ("localhost.evil.example", False),
        ("0.0.0.0:3001", False),
        ("192.168.1.10:3001", False),
        ("", False),
        (None, False),
        ("[not an address", False),
    ],
)
def test_only_a_loopback_host_is_answered(host, loopback):
    assert loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("origin", "foreign"),
    [
        (None, False),
        ("http://127.0.0.1:3001", False),
        ("http://localhost:3001", False),
        ("http://127.0.0.1:3000", True),  # the gateway's pages are another origin
        ("https://127.0.0.1:3001", True),
        ("https://evil.example", True),
        ("null", True),
        ("http://127.0.0.1:99999", True),
    ],
)
def test_an_origin_other_than_the_server_s_own_is_foreign(origin, foreign):
    assert foreign_origin(origin, PORT) is foreign


JSON = {"Host": "127.0.0.1:3001", "Content-Type": "application/json", "Content-Length": "2"}


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        (JSON, None),
        ({**JSON, "Content-Type": "application/json; charset=utf-8"}, None),
        ({**JSON, "Host": "rebound.example:3001"}, 403),
        ({**JSON, "Origin": "https://evil.example"}, 403),
        ({**JSON, "Content-Type": "text/plain"}, 415),  # a cross-site POST needs no preflight
        ({**JSON, "Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({k: v for k, v in JSON.items() if k != "Content-Type"}, 415),
        ({**JSON, "Content-Length": str(MAX_CONTROL_BYTES + 1)}, 413),
        ({**JSON, "Content-Length": "-1"}, 413),
    ],
)
def test_a_control_request_takes_json_from_no_other_origin(headers, answer):
    why = refusal(headers, PORT, control=True, body=True)
    assert (why[0] if why else None) == answer


def test_a_read_only_request_needs_only_a_loopback_host():
    assert (
        refusal({"Host": "localhost:3001", "Origin": "https://evil.example"}, PORT, control=False, body=False)
        is None
    )
    assert refusal({"Host": "evil.example"}, PORT, control=False, body=False) == (
        403,
        "only requests to a loopback Host are answered",
    )


@pytest.mark.parametrize(
    ("fetch_site", "answer"), [("cross-site", 403), ("same-site", 403), ("same-origin", None), ("none", None)]
)
def test_a_control_request_a_browser_marks_as_another_site_s_is_refused(fetch_site, answer):
    why = refusal({**JSON, "Sec-Fetch-Site": fetch_site}, PORT, control=True, body=True)
    assert (why[0] if why else None) == answer


def _wsgi(environ: dict[str, str]) -> tuple[str, bytes]:
    answered: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"served"]

    body = b"".join(guard_wsgi(app)(environ, lambda status, headers: answered.append(status)))
    return answered[0], body


@pytest.mark.parametrize(
    ("environ", "served"),
    [
        ({"HTTP_HOST": "127.0.0.1:4566"}, True),  # boto3
        ({"HTTP_HOST": "localhost:4566", "HTTP_SEC_FETCH_SITE": "none"}, True),
        ({"HTTP_HOST": "rebound.example:4566"}, False),
        ({}, False),
        ({"HTTP_HOST": "127.0.0.1:4566", "HTTP_ORIGIN": "http://127.0.0.1:4566"}, False),  # any browser
        ({"HTTP_HOST": "127.0.0.1:4566", "HTTP_SEC_FETCH_SITE": "cross-site"}, False),
    ],
)
def test_the_embedded_aws_endpoint_serves_the_sdks_on_this_machine_only(environ, served):
    status, body = _wsgi(environ)
    assert (status, body) == (
        ("200 OK", b"served") if served else ("403 Forbidden", b"loopback SDK requests only")
    )
