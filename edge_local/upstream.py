"""A stand-in for MetaRouter's HTTP API: checks Basic Auth, records and prints what it receives.

Routes: ``POST /v1/batch`` and ``POST /v1/{identify,track,page,screen,group,alias}`` as MetaRouter
documents them, and ``POST /v1/custom/event`` (one custom event, its metadata in ``_metarouter``:
``writeKey`` must be the Basic auth's Source ID and ``eventName`` given, else 400; its ``eventID``
stands for the ``messageId`` below, and ``/_received`` lists its ``writeKey`` as the Source's
fingerprint). Bodies are parsed strictly, as a real server would: ``Infinity``, ``NaN`` or a
number no double can hold is a 400. For tests and demos it also answers:

- ``GET /_received``: ``{"events": [...], "requests": [{"path", "source", "events", "status"}]}``,
  ``source`` naming the Source a request was for by its fingerprint (``edge.core.secret``), never
  the Source ID itself;
  ``GET /_received?summary=1`` only counts (``events``, ``unique``, ``duplicates``, ``statuses``),
  which stays cheap after a load test; ``&ids=1`` adds ``messageIds`` (unique) and
  ``duplicateIds`` (``{messageId: times received}`` for those received more than once) and
  ``lateIds`` (``{messageId: times}`` received in a request answered only after a ``delay``).
- ``POST /_faults``: ``{"status": 503, "seconds": 5, "retry_after": 1}`` answers every request
  with that status for a while; ``{"poison": ["<messageId>", ...]}`` answers 400 to any request
  carrying one of those events. ``DELETE /_faults`` clears them all. Each of these, for
  ``seconds`` (default an hour), can be given too, alone or together:
  ``{"delay": 3}`` answers (and records) only after that many seconds, past the forwarder's
  read timeout, so the forwarder resends what was in fact received; ``{"partial": 0.2}``
  answers 207 naming about that share of a request's events as failed (status 503, in the
  ``errors`` list the forwarder reads) and records the rest; ``{"max_bytes": 16384}`` answers
  413 to any request body larger than that; ``{"refuse": true}`` stops listening (connections
  are refused, requests on kept-alive connections are dropped unanswered) and listens again
  when the time is up.

It answers only requests to a loopback ``Host``; ``/_faults`` takes only JSON, from no other
origin (``edge_local.guard``). A body is read up to API Gateway's 10 MB, and one larger than
MetaRouter's 500 KB (a gzip body once inflated, the inflating stopped there) is a 413.
"""

from __future__ import annotations

import base64
import json
import math
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.core.errors import RequestError
from edge.core.secret import fingerprint
from edge.forward.batching import MAX_BATCH_BYTES
from edge.ingest.decoding import inflate
from edge_local.guard import content_length, refusal
from edge_local.live import LiveFeed
from edge_local.live_entries import upstream_entry

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
CUSTOM = "custom/event"
#: Bodies larger than API Gateway takes are refused unread.
MAX_READ_BYTES = 10 * 1024 * 1024


class Recorder:
    """What the stand-in has received, and the faults it is told to answer with."""

    def __init__(
        self,
        source_ids: set[str],
        report: Callable[[str], None] | None = print,
        live: LiveFeed | None = None,
        read_timeout: float = 10.0,
    ) -> None:
        #: The forwarder's read timeout: an answer written later than this never reached it, so
        #: the events of that request count as received late (the forwarder sends them again).
        self.read_timeout = read_timeout
        self.source_ids = source_ids
        self.report = report
        self.live = live
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.fault_status = 0
        self.fault_until = 0.0
        self.retry_after: int | None = None
        self.poison: set[str] = set()
        self.seen: Counter[str] = Counter()  # messageId -> times received
        self.late: Counter[str] = Counter()  # messageId -> times received in a late answer
        self.delay = 0.0
        self.delay_until = 0.0
        self.partial = 0.0
        self.partial_until = 0.0
        self.max_bytes = 0
        self.max_bytes_until = 0.0
        self.refuse_until = 0.0
        self.lock = threading.Lock()

    def clear(self) -> None:
        """Stop every fault (the caller holds the lock)."""
        self.fault_status, self.fault_until, self.retry_after, self.poison = 0, 0.0, None, set()
        self.delay_until = self.partial_until = self.max_bytes_until = 0.0

    def summary(self, *, ids: bool) -> dict[str, Any]:
        """Counts of what was received (the caller holds the lock)."""
        statuses = Counter(str(r["status"]) for r in self.requests)
        answer: dict[str, Any] = {
            "events": len(self.events),
            "unique": len(self.seen),
            "duplicates": len(self.events) - len(self.seen),
            "requests": len(self.requests),
            "statuses": dict(statuses),
        }
        if ids:
            answer["messageIds"] = list(self.seen)
            answer["duplicateIds"] = {k: n for k, n in self.seen.items() if n > 1}
            answer["lateIds"] = dict(self.late)
        return answer

    def refusing(self) -> bool:
        return time.monotonic() < self.refuse_until


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, recorder: Recorder) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.recorder = recorder

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def refuse(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (an upstream that is down), then listen again."""
        until = time.monotonic() + seconds
        with self.recorder.lock:
            self.recorder.refuse_until = until
        threading.Thread(target=self._down_until, args=(until,), daemon=True).start()

    def _down_until(self, until: float) -> None:
        time.sleep(0.1)  # let the control request be answered first
        self.shutdown()
        self.socket.close()
        time.sleep(max(0.0, until - time.monotonic()))
        self.socket = socket.socket(self.address_family, self.socket_type)
        self.server_bind()
        self.server_activate()
        self.serve_forever()


class _Handler(BaseHTTPRequestHandler):
    server: Upstream
    _arrived = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self._refused(control=False, body=False):
            return
        rec = self.server.recorder
        url = urlsplit(self.path)
        if url.path != "/_received":
            self._json(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        with rec.lock:
            if query.get("summary") == ["1"]:
                answer = rec.summary(ids=query.get("ids") == ["1"])
            else:
                answer = {"events": list(rec.events), "requests": list(rec.requests)}
        self._json(200, answer)

    def do_DELETE(self) -> None:
        if self._refused(control=True, body=False):
            return
        if urlsplit(self.path).path != "/_faults":
            self._json(404, {"error": "not found"})
            return
        rec = self.server.recorder
        with rec.lock:
            rec.clear()
        self._json(200, {"ok": True})

    def do_POST(self) -> None:
        self._arrived = time.monotonic()
        control = urlsplit(self.path).path == "/_faults"
        body = self._body(control=control)
        if body is None:
            return
        if control:
            self._control(body)
            return
        kind = self.path.removeprefix("/v1/")
        if kind not in ("batch", CUSTOM) and kind not in EVENT_TYPES:
            self._json(404, {"error": "not found"})
            return
        if self.server.recorder.refusing():  # down: drop the request on a kept-alive connection
            self.close_connection = True
            return
        self._receive(kind, body)

    def _body(self, *, control: bool) -> bytes | None:
        """The request's body, inflated if gzip; None when the request was answered instead."""
        if self._refused(control=control, body=True):
            return None
        length = content_length(self.headers)
        if length > MAX_READ_BYTES:
            self.close_connection = True  # left unread
            self._json(413, {"error": f"request larger than {MAX_READ_BYTES} bytes"})
            return None
        body = self.rfile.read(length)
        try:
            if (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip":  # UPSTREAM_GZIP
                return inflate(body, limit=MAX_BATCH_BYTES, max_ratio=None)
            if len(body) > MAX_BATCH_BYTES:
                raise RequestError(413, "payload_too_large", f"request larger than {MAX_BATCH_BYTES} bytes")
        except RequestError as exc:
            self._json(exc.status, {"error": exc.message})
            return None
        return body

    def _control(self, body: bytes) -> None:
        try:
            faults = json.loads(body or b"{}")
            if not isinstance(faults, dict):
                raise TypeError
            self._set_faults(faults)
        except (ValueError, TypeError):
            self._json(400, {"error": "a JSON object of faults is expected"})

    def _refused(self, *, control: bool, body: bool) -> bool:
        """Answer a request the stand-in does not take (``edge_local.guard``); whether it did."""
        why = refusal(self.headers, self.server.server_address[1], control=control, body=body)
        if why is None:
            return False
        self.close_connection = True  # any body is left unread
        self._json(why[0], {"error": why[1]})
        return True

    def _set_faults(self, faults: dict[str, Any]) -> None:
        rec = self.server.recorder
        until = time.monotonic() + float(faults.get("seconds", 3600))
        with rec.lock:
            if "status" in faults:
                rec.fault_status = int(faults["status"])
                rec.fault_until = until
                rec.retry_after = faults.get("retry_after")
            rec.poison |= set(faults.get("poison", []))
            if "delay" in faults:
                rec.delay, rec.delay_until = float(faults["delay"]), until
            if "partial" in faults:
                rec.partial, rec.partial_until = float(faults["partial"]), until
            if "max_bytes" in faults:
                rec.max_bytes, rec.max_bytes_until = int(faults["max_bytes"]), until
        self._json(200, {"ok": True})
        if faults.get("refuse"):
            self.server.refuse(float(faults.get("seconds", 3600)))

    def _receive(self, kind: str, body: bytes) -> None:
        rec = self.server.recorder
        late = time.monotonic() < rec.delay_until
        time.sleep(rec.delay if late else 0)
        source_id = _basic_user(self.headers.get("Authorization"))
        if source_id not in rec.source_ids:
            self._json(401, {"error": "invalid source id"})
            self._observe(401, [], {})
            return
        events = _events(kind, body, source_id)
        if events is None:
            self._json(400, {"error": "malformed body"})
            self._observe(400, [], {})
            return
        headers: dict[str, str] = {}
        answer: dict[str, Any]
        failed: dict[int, int]
        with rec.lock:
            if rec.fault_status and time.monotonic() < rec.fault_until:
                rec.requests.append(_request(self.path, source_id, events, rec.fault_status))
                headers = {"Retry-After": str(rec.retry_after)} if rec.retry_after is not None else {}
                status, answer, failed = rec.fault_status, {"error": "injected fault"}, {}
            elif rec.max_bytes and len(body) > rec.max_bytes and time.monotonic() < rec.max_bytes_until:
                rec.requests.append(_request(self.path, source_id, events, 413))
                status, answer, failed = 413, {"error": f"request larger than {rec.max_bytes} bytes"}, {}
            elif poisoned := [event_id(e) for e in events if event_id(e) in rec.poison]:
                rec.requests.append(_request(self.path, source_id, events, 400))
                status, answer, failed = 400, {"error": "invalid event", "messageIds": poisoned}, {}
            else:
                status, answer, failed = self._record(kind, source_id, events, late=late)
        if status >= 300:
            self._json(status, answer, headers)
            self._observe(status, events, {})
            return
        if rec.report:
            for index, event in enumerate(events):
                if index not in failed:
                    rec.report(_describe(event))
        self._json(status, answer)
        if not late and time.monotonic() - self._arrived >= rec.read_timeout:
            # Slow without a delay fault (a busy machine): the forwarder gave up waiting all the same.
            with rec.lock:
                rec.late.update(str(event_id(e)) for i, e in enumerate(events) if i not in failed)
        self._observe(status, events, failed)

    def _record(
        self, kind: str, source_id: str | None, events: list[dict[str, Any]], *, late: bool
    ) -> tuple[int, dict[str, Any], dict[int, int]]:
        """Accept ``events`` less those a partial fault fails, which are returned by index with
        their status (the caller holds the lock)."""
        rec = self.server.recorder
        failed: list[dict[str, Any]] = []
        if kind == "batch" and time.monotonic() < rec.partial_until:
            failed = [
                {"index": i, "messageId": event_id(e), "status": 503, "message": "injected"}
                for i, e in enumerate(events)
                if random.random() < rec.partial  # noqa: S311 - a test fault, not cryptography
            ]
        names = {f["index"]: f["status"] for f in failed}
        accepted = [e for i, e in enumerate(events) if i not in names]
        rec.events.extend(_recorded(e, source_id) for e in accepted)
        rec.seen.update(str(event_id(e)) for e in accepted)
        if late:  # answered after the client's read timeout: it will send these again
            rec.late.update(str(event_id(e)) for e in accepted)
        rec.requests.append(_request(self.path, source_id, accepted, 207 if failed else 200))
        if failed:
            return 207, {"success": False, "errors": failed}, names
        return 200, {"success": True}, {}

    def _observe(self, status: int, events: list[dict[str, Any]], failed: dict[int, int]) -> None:
        """Tell the live events page what was answered (only while someone watches; no Source ID)."""
        live = self.server.recorder.live
        if live is not None and live.watching:
            live.publish(upstream_entry(self.path, status, events, failed))

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a delay fault)
            self.close_connection = True


def strict_loads(data: str | bytes) -> Any:
    """JSON as a strict server reads it: RFC 8259, so no ``Infinity`` or ``NaN``, and no number a
    double cannot hold (``1e400``, a 400-digit integer)."""
    return json.loads(data, parse_constant=_not_json, parse_float=_double, parse_int=_integer)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _double(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number outside the range of a double")
    return value


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise ValueError("a number outside the range of a double")
    return value


def _request(path: str, source_id: str | None, events: list[dict[str, Any]], status: int) -> dict[str, Any]:
    """A request as ``/_received`` lists it: its Source by fingerprint, never the Source ID."""
    source = fingerprint(source_id) if source_id is not None else None
    return {"path": path, "source": source, "events": len(events), "status": status}


def _basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[0]
    except ValueError:
        return None


def event_id(event: dict[str, Any]) -> Any:
    """A Segment event's ``messageId``, a custom event's ``_metarouter.eventID``."""
    metadata = event.get("_metarouter")
    if "messageId" not in event and isinstance(metadata, dict):
        return metadata.get("eventID")
    return event.get("messageId")


def _events(kind: str, body: bytes, source_id: str | None) -> list[dict[str, Any]] | None:
    """A request body's events, read strictly; None when it is malformed (a 400)."""
    try:
        payload = strict_loads(body)
        events = payload["batch"] if kind == "batch" else [payload]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return None
    if kind == CUSTOM and not _custom_metadata_valid(payload, source_id):
        return None
    return events


def _recorded(event: dict[str, Any], source_id: str | None) -> dict[str, Any]:
    """An event as ``/_received`` lists it: a custom event's ``writeKey`` (the Source ID) as the
    Source's fingerprint, like ``requests``' ``source``."""
    metadata = event.get("_metarouter")
    if source_id is None or not isinstance(metadata, dict) or "writeKey" not in metadata:
        return event
    return {**event, "_metarouter": {**metadata, "writeKey": fingerprint(source_id)}}


def _custom_metadata_valid(event: dict[str, Any], source_id: str | None) -> bool:
    """MetaRouter reads the Source from the metadata's ``writeKey``; it needs an ``eventName``."""
    metadata = event.get("_metarouter")
    return (
        isinstance(metadata, dict)
        and metadata.get("writeKey") == source_id
        and isinstance(metadata.get("eventName"), str)
        and bool(metadata["eventName"])
    )


def _describe(event: dict[str, Any]) -> str:
    metadata = event.get("_metarouter")
    if isinstance(metadata, dict) and "type" not in event:
        who, what = metadata.get("userID") or metadata.get("anonymousID"), metadata.get("eventName")
        return f"upstream <- {'custom':8} {who} {what!s:.40} ({metadata.get('eventID')})"
    who = event.get("userId") or event.get("anonymousId")
    what = event.get("event") or event.get("name") or event.get("groupId") or event.get("previousId") or ""
    return f"upstream <- {event.get('type', '?'):8} {who} {what!s:.40} ({event.get('messageId')})"
