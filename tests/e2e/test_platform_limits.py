"""The local gateway answers the platform's size limits as API Gateway does, and the upstream
stand-in parses as strictly as a real server, so a non-JSON number could not hide end to end."""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request

import pytest

from edge_local.gateway import MAX_INVOCATION_PAYLOAD, MAX_PAYLOAD
from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

PLATFORM_413 = {"message": "Request Entity Too Large"}


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_body_over_api_gateway_s_payload_limit_is_the_platform_s_413(stack: LocalStack):
    body = b'{"batch": ["' + b"x" * MAX_PAYLOAD + b'"]}'
    assert _post(f"{stack.api}/v1/batch", body) == (413, PLATFORM_413)


def test_a_compressed_body_whose_base64_event_is_over_lambda_s_limit_is_the_platform_s_413(stack: LocalStack):
    body = gzip.compress(os.urandom(MAX_INVOCATION_PAYLOAD * 3 // 4 + 1024))  # incompressible
    assert len(body) < MAX_PAYLOAD
    status, answer = _post(f"{stack.api}/v1/batch", body, {"Content-Encoding": "gzip"})
    assert (status, answer) == (413, PLATFORM_413)


def test_a_body_within_the_platform_s_limits_but_over_the_edge_s_gets_the_edge_s_413(stack: LocalStack):
    body = b'{"batch": ["' + b"x" * 1_000_000 + b'"]}'
    status, answer = _post(f"{stack.api}/v1/batch", body)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("number", [b"1e400", b"-Infinity", b"NaN", b"9" * 400])
def test_the_upstream_stand_in_refuses_numbers_no_double_holds(stack: LocalStack, number):
    body = (
        b'{"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"n": ' + number + b"}}]}"
    )
    auth = {"Authorization": "Basic TE9DQUxfU09VUkNFX0lEOg=="}  # LOCAL_SOURCE_ID:
    status, _ = _post(f"{stack.upstream}/v1/batch", body, auth)
    assert status == 400


def test_a_non_json_number_sent_to_the_edge_never_reaches_the_upstream(stack: LocalStack):
    item = b'{"type": "track", "userId": "u", "event": "E", "messageId": "%s", "properties": {"n": %s}}'
    raw = b'{"batch": [' + item % (b"inf-1", b"1e400") + b", " + item % (b"fine-1", b"1") + b"]}"
    status, answer = _post(f"{stack.api}/v1/batch", raw)
    assert status == 200
    assert [r["messageId"] for r in answer["rejected"]] == ["inf-1"]
    [event] = stack.wait_for({"fine-1"})
    assert event["messageId"] == "fine-1"
    assert "inf-1" not in {e.get("messageId") for e in stack.received()["events"]}
