"""Builds API Gateway HTTP API (payload v2) events the way API Gateway sends them."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
FIXED_EPOCH_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z


def basic_auth(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: bytes | str | None = None,
    gzip_body: bool = False,
    source_ip: str = "203.0.113.7",
    time_epoch: int = FIXED_EPOCH_MS,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event; a dict/list body is JSON-encoded, bytes are sent base64 as API GW does."""
    all_headers = {"content-type": "application/json", "user-agent": "test-agent/1.0"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    payload: bytes | str | None
    if raw_body is not None:
        payload = raw_body
    elif body is not None:
        payload = json.dumps(body)
    else:
        payload = None
    if gzip_body and payload is not None:
        payload = gzip.compress(payload.encode() if isinstance(payload, str) else payload)
        all_headers["content-encoding"] = "gzip"
    is_base64 = isinstance(payload, bytes)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "edge.example.com",
            "domainPrefix": "edge",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers.get("user-agent", ""),
            },
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "14/Nov/2023:22:13:20 +0000",
            "timeEpoch": time_epoch,
        },
        "isBase64Encoded": is_base64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if cookies is not None:  # payload 2.0 carries the Cookie header split, in its own list
        event["cookies"] = list(cookies)
    if payload is not None:
        event["body"] = base64.b64encode(payload).decode() if isinstance(payload, bytes) else payload
    return event


def load_event(name: str) -> dict[str, Any]:
    """A sample event from ``events/`` (the files ``sam local invoke -e`` takes)."""
    return json.loads((EVENTS_DIR / name).read_text())
