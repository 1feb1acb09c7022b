"""The requests clients send, and clients that send them the way real SDKs do.

A client keeps one HTTP/1.1 connection, sends its requests one after another, and retries
what every Segment SDK retries (5xx, 408, 429, a dropped connection) with the same bytes, so
the same ``messageId``s, after ``Retry-After`` or a backoff. A request counts as acknowledged
only when it is answered 200.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

WRITE_KEY: Final = "pk_load_test"
_AUTH: Final = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
_RETRYABLE: Final = frozenset({408, 429})
_SHORT: Final = {"identify": "i", "track": "t", "page": "p", "screen": "s", "group": "g", "alias": "a"}

# Request kinds and their share of requests; batches carry most events.
KINDS: Final = {
    "single-json": 0.25,  # server SDK style: POST /v1/track, application/json
    "single-text": 0.15,  # analytics.js style: POST /v1/t, text/plain, key in the body too
    "pixel": 0.05,  # GET /v1/pixel/track?data=<base64url JSON>
    "batch-json": 0.25,  # segment-analytics-python / analytics-node: POST /v1/batch
    "batch-gzip": 0.15,  # rudder-sdk-python: gzip, Basic auth only
    "batch-text": 0.10,  # analytics.js batching: POST /v1/b, text/plain
    "import": 0.05,  # POST /v1/import
}


@dataclass(frozen=True, slots=True)
class Planned:
    """One request to send, with the ``messageId``s of the events it carries."""

    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    message_ids: tuple[str, ...]


@dataclass(slots=True)
class Attempt:
    """One try of a request: when, and what came back (status 0: no answer)."""

    started: float
    ended: float
    status: int
    retry_after: bool


@dataclass
class ClientResult:
    """What one client saw."""

    acknowledged: list[str] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    given_up: list[str] = field(default_factory=list)
    """Events of requests that never got a 200 (refused for good, or out of time)."""
    unexpected: list[str] = field(default_factory=list)
    """Answers no valid request should get (4xx, a 200 with ``rejected`` items)."""
    kinds: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[float, str]] = field(default_factory=list)
    """When and why an attempt got no answer at all (the SDKs retry those too)."""
    retried: list[str] = field(default_factory=list)
    """Events of requests sent more than once: ingest may have queued them twice."""
    requests: int = 0
    events: int = 0


def plan(client: int, events: int, run: str, seed: int) -> Iterator[Planned]:
    """The requests of one client, ``events`` events in all, deterministic for ``seed``."""
    rng = random.Random(seed * 1000 + client)  # noqa: S311 - traffic shapes, not secrets
    kinds, weights = list(KINDS), list(KINDS.values())
    sent = 0
    while sent < events:
        kind = rng.choices(kinds, weights)[0]
        size = 1
        if kind in ("batch-json", "batch-gzip", "import"):
            size = rng.randint(20, 180)
        elif kind == "batch-text":
            size = rng.randint(5, 50)
        size = min(size, events - sent)
        ids = tuple(message_id(run, client, sent + i) for i in range(size))
        sent += size
        yield _request(kind, ids, rng)


def message_id(run: str, client: int, seq: int) -> str:
    return f"{run}-{client:03d}-{seq:06d}"


def _request(kind: str, ids: tuple[str, ...], rng: random.Random) -> Planned:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "pixel":
        data = json.dumps({**_event("track", ids[0], now, rng), "writeKey": WRITE_KEY}).encode()
        query = base64.urlsafe_b64encode(data).decode().rstrip("=")
        return Planned(kind, "GET", f"/v1/pixel/track?data={query}", {}, None, ids)
    if kind.startswith("single"):
        event_type = rng.choice(list(_SHORT))
        event = _event(event_type, ids[0], now, rng)
        if kind == "single-text":
            body = json.dumps({**event, "writeKey": WRITE_KEY, "sentAt": now}).encode()
            headers = {"Content-Type": "text/plain", "Authorization": _AUTH, "X-Retry-Count": "0"}
            return Planned(kind, "POST", f"/v1/{_SHORT[event_type]}", headers, body, ids)
        event.pop("type")
        headers = {"Content-Type": "application/json", "Authorization": _AUTH}
        return Planned(kind, "POST", f"/v1/{event_type}", headers, json.dumps(event).encode(), ids)
    batch = [
        _event(rng.choice(("track", "track", "track", "page", "identify", "screen")), i, now, rng)
        for i in ids
    ]
    envelope: dict[str, Any] = {"batch": batch, "sentAt": now, "context": {"library": {"name": "loadtest"}}}
    headers = {"Authorization": _AUTH}
    if kind == "batch-gzip":
        headers |= {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return Planned(kind, "POST", "/v1/batch", headers, gzip.compress(json.dumps(envelope).encode()), ids)
    if kind == "batch-text":
        headers["Content-Type"] = "text/plain"
        return Planned(kind, "POST", "/v1/b", headers, json.dumps(envelope).encode(), ids)
    envelope["writeKey"] = WRITE_KEY
    headers["Content-Type"] = "application/json"
    path = "/v1/import" if kind == "import" else "/v1/batch"
    return Planned(kind, "POST", path, headers, json.dumps(envelope).encode(), ids)


def _event(event_type: str, mid: str, now: str, rng: random.Random) -> dict[str, Any]:
    user = f"user-{rng.randint(1, 5000)}"
    event: dict[str, Any] = {
        "type": event_type,
        "messageId": mid,
        "anonymousId": f"anon-{rng.randint(1, 100_000)}",
        "timestamp": now,
        "context": {"locale": "en-US", "page": {"path": "/products/42", "referrer": "https://example.com/"}},
    }
    if event_type != "identify" or rng.random() < 0.8:
        event["userId"] = user
    match event_type:
        case "track":
            event["event"] = rng.choice(("Product Viewed", "Order Completed", "Signed Up"))
            event["properties"] = {"product_id": f"p-{rng.randint(1, 999)}", "price": rng.randint(1, 500)}
        case "page" | "screen":
            event["name"] = "Product"
            event["properties"] = {"title": "A product page", "url": "https://shop.example.com/products/42"}
        case "identify":
            event["traits"] = {"plan": rng.choice(("free", "pro")), "email": f"{user}@example.com"}
        case "group":
            event["groupId"] = f"g-{rng.randint(1, 50)}"
        case "alias":
            event["userId"] = user
            event["previousId"] = f"anon-{rng.randint(1, 100_000)}"
    return event


class Client(threading.Thread):
    """One SDK instance: sends its planned requests in order over one kept-alive connection."""

    def __init__(
        self,
        index: int,
        base_url: str,
        requests: Iterator[Planned],
        *,
        deadline: float,
        max_attempts: int = 12,
    ) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._requests = requests
        self._deadline = deadline
        self._max_attempts = max_attempts
        self._connection: http.client.HTTPConnection | None = None
        self.result = ClientResult()

    def run(self) -> None:
        for request in self._requests:
            if time.monotonic() > self._deadline:
                self.result.given_up.extend(request.message_ids)
                continue
            self.result.requests += 1
            self.result.kinds[request.kind] += 1
            self.result.events += len(request.message_ids)
            self._send(request)
        if self._connection is not None:
            self._connection.close()

    def _send(self, request: Planned) -> None:
        for attempt in range(self._max_attempts):
            if attempt == 1:
                self.result.retried.extend(request.message_ids)
            headers = dict(request.headers)
            if attempt and "X-Retry-Count" in headers:
                headers["X-Retry-Count"] = str(attempt)
            started = time.monotonic()
            status, answer, retry_after = self._exchange(request, headers)
            ended = time.monotonic()
            self.result.attempts.append(Attempt(started, ended, status, retry_after is not None))
            self.result.statuses[status] += 1
            if status == 200:
                self._acknowledge(request, answer, ended - started)
                return
            if status and status < 500 and status not in _RETRYABLE:
                self.result.unexpected.append(
                    f"{request.kind} {request.path[:40]} -> {status}: {answer[:200]!r}"
                )
                self.result.given_up.extend(request.message_ids)
                return
            wait = retry_after if retry_after is not None else min(5.0, 0.25 * 2**attempt)
            if time.monotonic() + wait > self._deadline:
                break
            time.sleep(wait)
        self.result.given_up.extend(request.message_ids)

    def _acknowledge(self, request: Planned, answer: bytes, latency: float) -> None:
        self.result.ack_latencies.append(latency)
        if request.kind != "pixel" and b'"rejected"' in answer:
            rejected = {item["index"] for item in json.loads(answer).get("rejected", [])}
            self.result.unexpected.append(f"{request.kind}: {len(rejected)} events rejected")
            self.result.acknowledged.extend(m for i, m in enumerate(request.message_ids) if i not in rejected)
            return
        self.result.acknowledged.extend(request.message_ids)

    def _exchange(self, request: Planned, headers: dict[str, str]) -> tuple[int, bytes, float | None]:
        """Send once; status 0 when the connection failed (the SDKs retry that too)."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
        try:
            self._connection.request(request.method, request.path, body=request.body, headers=headers)
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.result.errors.append((time.monotonic(), f"{type(exc).__name__}: {exc}"[:120]))
            self._connection.close()
            self._connection = None
            return 0, b"", None
        value = response.getheader("Retry-After")
        retry_after = float(value) if value and value.isdigit() else None
        if response.getheader("Connection", "").lower() == "close":
            self._connection.close()
            self._connection = None
        return response.status, body, retry_after
