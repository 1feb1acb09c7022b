"""A stand-in for MetaRouter's HTTP API: checks Basic Auth, records and prints what it receives.

Routes: ``POST /v1/batch`` and ``POST /v1/{identify,track,page,screen,group,alias}`` as the seed
documents them. For tests and demos it also answers:

- ``GET /_received``: ``{"events": [...], "requests": [{"path", "sourceId", "events", "status"}]}``
- ``POST /_faults``: ``{"status": 503, "seconds": 5, "retry_after": 1}`` answers every request
  with that status for a while; ``{"poison": ["<messageId>", ...]}`` answers 400 to any request
  carrying one of those events. ``DELETE /_faults`` clears both.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")


class Recorder:
    """What the stand-in has received, and the faults it is told to answer with."""

    def __init__(self, source_ids: set[str], report: Callable[[str], None] | None = print) -> None:
        self.source_ids = source_ids
        self.report = report
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.fault_status = 0
        self.fault_until = 0.0
        self.retry_after: int | None = None
        self.poison: set[str] = set()
        self.lock = threading.Lock()


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, recorder: Recorder) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.recorder = recorder

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        rec = self.server.recorder
        if self.path != "/_received":
            self._json(404, {"error": "not found"})
            return
        with rec.lock:
            self._json(200, {"events": list(rec.events), "requests": list(rec.requests)})

    def do_DELETE(self) -> None:
        rec = self.server.recorder
        with rec.lock:
            rec.fault_status, rec.fault_until, rec.retry_after, rec.poison = 0, 0.0, None, set()
        self._json(200, {"ok": True})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_faults":
            self._set_faults(json.loads(body or b"{}"))
            return
        kind = self.path.removeprefix("/v1/")
        if kind != "batch" and kind not in EVENT_TYPES:
            self._json(404, {"error": "not found"})
            return
        self._receive(kind, body)

    def _set_faults(self, faults: dict[str, Any]) -> None:
        rec = self.server.recorder
        with rec.lock:
            if "status" in faults:
                rec.fault_status = int(faults["status"])
                rec.fault_until = time.monotonic() + float(faults.get("seconds", 3600))
                rec.retry_after = faults.get("retry_after")
            rec.poison |= set(faults.get("poison", []))
        self._json(200, {"ok": True})

    def _receive(self, kind: str, body: bytes) -> None:
        rec = self.server.recorder
        source_id = _basic_user(self.headers.get("Authorization"))
        if source_id not in rec.source_ids:
            self._json(401, {"error": "invalid source id"})
            return
        try:
            payload = json.loads(body)
            events = payload["batch"] if kind == "batch" else [payload]
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": "malformed body"})
            return
        with rec.lock:
            if rec.fault_status and time.monotonic() < rec.fault_until:
                rec.requests.append(_request(self.path, source_id, events, rec.fault_status))
                headers = {"Retry-After": str(rec.retry_after)} if rec.retry_after is not None else {}
                self._json(rec.fault_status, {"error": "injected fault"}, headers)
                return
            poisoned = [e.get("messageId") for e in events if e.get("messageId") in rec.poison]
            if poisoned:
                rec.requests.append(_request(self.path, source_id, events, 400))
                self._json(400, {"error": "invalid event", "messageIds": poisoned})
                return
            rec.events.extend(events)
            rec.requests.append(_request(self.path, source_id, events, 200))
        if rec.report:
            for event in events:
                rec.report(_describe(event))
        self._json(200, {"success": True})

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _request(path: str, source_id: str | None, events: list[dict[str, Any]], status: int) -> dict[str, Any]:
    return {"path": path, "sourceId": source_id, "events": len(events), "status": status}


def _basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[0]
    except ValueError:
        return None


def _describe(event: dict[str, Any]) -> str:
    who = event.get("userId") or event.get("anonymousId")
    what = event.get("event") or event.get("name") or event.get("groupId") or event.get("previousId") or ""
    return f"upstream <- {event.get('type', '?'):8} {who} {what!s:.40} ({event.get('messageId')})"
