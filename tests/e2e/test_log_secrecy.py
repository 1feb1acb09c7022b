"""No write key and no Source ID in any log of a full run, raw or base64-encoded.

One stack in closed mode, its handler logs in a fresh directory, driven through every path that
logs something: every place a key can come from (Basic auth, body, query, pixel data), unknown
keys (401), invalid events (quarantine), an SQS outage (503), upstream outages, a 401 from the
upstream (the secret is read again), a poison event (dead-lettered with the upstream's answer)
and a forwarder killed mid-invocation. Then everything the stack printed and every log file is
searched for each secret in every form a log line could carry it.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from segment.analytics import Client

from support.local_stack import LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

SOURCES = {"pk_live_Wq8s3kZ7nXa": "SRC_Secret_9f2JqLm", "pk_ios_Hh4pQ2v8RtY": "SRC_Other_Kp7Zx3Nw"}
WEB, IOS = SOURCES
UNKNOWN = "pk_unknown_Zr5Tb8Qe"
SECRETS = (*SOURCES, *SOURCES.values(), UNKNOWN)


def test_no_write_key_or_source_id_in_any_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    stack = start_stack(
        {"EDGE_SOURCES": json.dumps(SOURCES), "LOCAL_LOG_DIR": str(logs), "LOCAL_FAULTS": "1"}
    )
    try:
        _exercise(stack)
    finally:
        stop_stack(stack)
    texts = {"stack output": "\n".join(stack.output)} | {
        p.name: p.read_text() for p in sorted(logs.glob("*.log"))
    }
    assert {"ingest.log", "forward.log"} <= set(texts)
    for name in ("ingest.log", "forward.log"):  # the run did log, so the search means something
        assert texts[name].count("\n") > 20, name
    # ...and went through the paths that log most (metric names: edge/core/observability.py).
    assert '"RequestsUnauthorized"' in texts["ingest.log"]
    assert '"RequestsUnavailable"' in texts["ingest.log"]
    assert '"EventsQuarantined"' in texts["ingest.log"]
    assert '"UpstreamAuthFailures"' in texts["forward.log"]
    assert '"EventsDeadLettered"' in texts["forward.log"]
    leaks = [
        f"{secret!r} as {form} in {name}"
        for secret in SECRETS
        for form, needle in encodings(secret).items()
        for name, text in texts.items()
        if needle in text
    ]
    assert not leaks, leaks


def encodings(secret: str) -> dict[str, str]:
    """The secret as text, and as base64 (standard and URL-safe) of ``key`` and ``key:``, alone or
    anywhere inside a longer base64 text (at each of the three byte alignments)."""
    raw = secret.encode()
    forms = {"raw": secret}
    for alphabet, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        forms[f"{alphabet} of 'key:'"] = encode(raw + b":").decode()
        forms[f"{alphabet} of 'key'"] = encode(raw).decode()
        for offset in range(3):
            text = encode(b"\0" * offset + raw).decode()
            first, last = -(-offset // 3), (offset + len(raw)) // 3  # the groups made of the key alone
            forms[f"{alphabet} of 'key' at offset {offset}"] = text[4 * first : 4 * last]
    assert all(len(needle) >= 12 for needle in forms.values())
    return forms


def test_the_encodings_find_a_key_inside_a_longer_base64_text() -> None:
    for prefix in (b"", b"x", b"xy", b'{"writeKey":"'):
        text = base64.b64encode(prefix + WEB.encode() + b'","event":"x"}').decode()
        assert any(needle in text for needle in encodings(WEB).values()), prefix


def _exercise(stack: LocalStack) -> None:
    control = stack.fault_control
    assert control is not None, "the stack runs without LOCAL_FAULTS"
    delivered: set[str] = set()

    def mid(tag: str) -> str:
        return f"secrecy-{tag}-{uuid.uuid4()}"

    # Real client: Basic auth and the key in the body, plain and gzip.
    for gzip in (False, True):
        client = Client(WEB, host=stack.api, gzip=gzip, sync_mode=True, max_retries=1)
        for call in ("track", "identify"):
            message_id = mid(call)
            if call == "track":
                ok, _ = client.track("u-1", "Secret Kept", message_id=message_id)
            else:
                ok, _ = client.identify("u-1", {"plan": "pro"}, message_id=message_id)
            assert ok
            delivered.add(message_id)
    # The key in a text/plain body only, in the query only, in a pixel's data and its query.
    delivered.add(
        _post(stack, "/v1/t", {"userId": "u", "event": "Body Key", "writeKey": IOS}, mid("body"), 200)
    )
    delivered.add(
        _post(stack, f"/v1/track?writeKey={WEB}", {"userId": "u", "event": "Query Key"}, mid("query"), 200)
    )
    pixel = mid("pixel")
    data = base64.urlsafe_b64encode(
        json.dumps({"userId": "u", "event": "Opened", "writeKey": IOS, "messageId": pixel}).encode()
    )
    assert _get(stack, f"/v1/pixel/track?data={data.decode().rstrip('=')}") == 200
    assert _get(stack, f"/v1/pixel/track?userId=u&event=Opened&messageId={mid('px')}&writeKey={WEB}") == 200
    delivered.add(pixel)
    # Unknown keys everywhere: 401 (the pixel still answers its image).
    _post(stack, "/v1/track", {"userId": "u", "event": "x"}, mid("unknown"), 401, key=UNKNOWN)
    _post(
        stack, "/v1/track", {"userId": "u", "event": "x", "writeKey": UNKNOWN}, mid("unknown"), 401, key=None
    )
    assert _get(stack, f"/v1/pixel/track?userId=u&event=x&writeKey={UNKNOWN}") == 200
    # Invalid events carrying a key: refused and quarantined.
    _post(stack, "/v1/track", {"event": "No Identity", "writeKey": WEB}, mid("invalid"), 400, key=None)
    batch = {"batch": [{"type": "track", "event": "x", "writeKey": WEB}, {"type": "track", "userId": "u"}]}
    _post(stack, "/v1/batch", batch, mid("batch"), 400, key=WEB)
    _send(stack, "/v1/track", b'{"writeKey": "' + WEB.encode() + b'", "userId": ', WEB, 400)
    # SQS unreachable from ingest: 503, then the retry succeeds.
    _control(f"{control}/sqs/pause", {"seconds": 2})
    during = mid("sqs-outage")
    _post(stack, "/v1/track", {"userId": "u", "event": "During Outage"}, during, 503)
    time.sleep(2.5)
    delivered.add(_post(stack, "/v1/track", {"userId": "u", "event": "During Outage"}, during, 200))
    # The upstream: down, refusing the Source ID (the secret is read again), refusing a poison event.
    poison = mid("poison")
    stack.faults({"poison": [poison]})
    stack.faults({"status": 503, "seconds": 1.5, "retry_after": 1})
    delivered.add(_post(stack, "/v1/track", {"userId": "u", "event": "Upstream Down"}, mid("503"), 200))
    time.sleep(2)
    delivered.add(_refused_source(stack, mid("401")))
    _post(stack, "/v1/track", {"userId": "u", "event": "Poison"}, poison, 200)
    time.sleep(2)
    # The forwarder killed while it works.
    killed = mid("killed")
    _post(stack, "/v1/track", {"userId": "u", "event": "Killed"}, killed, 200)
    _control(f"{control}/forward/kill", {"wait": 5})
    stack.wait_for(delivered | {killed}, timeout=90)
    assert stack.dead_letter(poison) is not None
    stack.faults(None)


def _refused_source(stack: LocalStack, message_id: str) -> str:
    """An event the upstream refuses with 401 until the forwarder has read the secret again and
    been refused again (then the Source ID counts as refused); then the refusals stop."""
    refused_before = _answered(stack, 401)
    stack.faults({"status": 401, "seconds": 60})
    _post(stack, "/v1/track", {"userId": "u", "event": "Source Refused"}, message_id, 200)
    deadline = time.monotonic() + 60
    while _answered(stack, 401) < refused_before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    stack.faults({"status": 401, "seconds": 0})  # over
    return message_id


def _answered(stack: LocalStack, status: int) -> int:
    """Requests the stand-in has answered with ``status`` so far."""
    return sum(1 for request in stack.received()["requests"] if request["status"] == status)


def _post(
    stack: LocalStack,
    path: str,
    event: dict[str, object],
    message_id: str,
    status: int,
    *,
    key: str | None = IOS,
) -> str:
    if "batch" in event:
        body = {
            **event,
            "batch": [{**item, "messageId": f"{message_id}-{i}"} for i, item in enumerate(event["batch"])],
        }  # type: ignore[attr-defined]
    else:
        body = {**event, "messageId": message_id}
    _send(stack, path, json.dumps(body).encode(), key, status)
    return message_id


def _send(stack: LocalStack, path: str, body: bytes, key: str | None, status: int) -> None:
    headers = {
        "Content-Type": "text/plain" if path.startswith("/v1/t") and "?" not in path else "application/json"
    }
    if key:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    request = urllib.request.Request(f"{stack.api}{path}", data=body, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            answer = response.status
    except urllib.error.HTTPError as error:
        error.close()
        answer = error.code
    assert answer == status, (path, answer)


def _get(stack: LocalStack, path: str) -> int:
    with urllib.request.urlopen(f"{stack.api}{path}", timeout=20) as response:  # noqa: S310 - loopback
        return int(response.status)


def _control(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310 - loopback
