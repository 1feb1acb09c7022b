"""Live events: what the local stack saw, on a page that updates itself (server-sent events).

The gateway, the upstream stand-in, the poller and a watch on the dead-letter queue publish
entries to a ``LiveFeed``: every request with its route, status and events (and the field
errors of what was rejected), every request the stand-in answered with the events as forwarded,
every forwarder invocation with what was left for redelivery, and every parked event with its
reason. ``LiveServer`` serves one static page and the stream on its own loopback port.

Entries never hold a write key, an Authorization header or a Source ID: they are built from
chosen fields only, and the feed scrubs any secret it was told about from each entry as well.
Nothing is recorded while nobody watches (a viewer connected now, or within ``linger`` seconds):
each hook is then one attribute check. Memory is bounded by a count and a byte budget. The
server answers only requests to a loopback ``Host`` (``edge_local.guard``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from edge_local.clients import REGION
from edge_local.guard import refusal
from edge_local.live_entries import dead_letter_entry

__all__ = ["DeadLetterWatch", "LiveFeed", "LiveServer"]

STATIC: Final = Path(__file__).resolve().parent / "static"
_REDACTED: Final = "[redacted]"


class LiveFeed:
    """A bounded ring of JSON entries and the viewers waiting for the next one."""

    def __init__(
        self,
        *,
        capacity: int = 500,
        max_bytes: int = 8 * 1024 * 1024,
        secrets: Iterable[str] = (),
        linger: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ring: deque[tuple[int, str]] = deque(maxlen=capacity)
        self._bytes = 0
        self._max_bytes = max_bytes
        self._last_id = 0
        self._changed = threading.Condition()
        self._viewers = 0
        self._left_at = float("-inf")
        self._linger = linger
        self._clock = clock
        # As JSON writes them too, so a secret with quotes or backslashes is still found.
        forms = {form for s in secrets if s for form in (s, json.dumps(s)[1:-1])}
        self._secrets = sorted(forms, key=len, reverse=True)
        self.watching = False
        """Whether hooks should build and publish entries: read without a lock, by design."""

    def active(self) -> bool:
        """Whether a page is connected, or was within ``linger`` seconds; ``watching`` follows."""
        if self.watching and self._viewers == 0 and self._clock() - self._left_at > self._linger:
            self.watching = False
        return self.watching

    def publish(self, entry: Mapping[str, Any]) -> None:
        """Append ``entry`` (with an id and a time) and wake the viewers; nothing if none watch."""
        if not self.active():
            return
        with self._changed:
            self._last_id += 1
            text = self._scrub(json.dumps({"id": self._last_id, "time": time.time(), **entry}))
            if self._ring.maxlen is not None and len(self._ring) == self._ring.maxlen:
                self._bytes -= len(self._ring[0][1])
            self._ring.append((self._last_id, text))
            self._bytes += len(text)
            while self._bytes > self._max_bytes and len(self._ring) > 1:
                self._bytes -= len(self._ring.popleft()[1])
            self._changed.notify_all()

    def after(self, last_id: int, timeout: float) -> list[tuple[int, str]]:
        """Entries newer than ``last_id``, waiting up to ``timeout`` seconds for one."""
        with self._changed:
            self._changed.wait_for(lambda: self._last_id > last_id, timeout=timeout)
            return [(i, text) for i, text in self._ring if i > last_id]

    @contextlib.contextmanager
    def viewer(self) -> Iterator[None]:
        """While a page is connected: recording is on."""
        with self._changed:
            self._viewers += 1
            self.watching = True
        try:
            yield
        finally:
            with self._changed:
                self._viewers -= 1
                self._left_at = self._clock()

    def __len__(self) -> int:
        return len(self._ring)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


class LiveServer(ThreadingHTTPServer):
    """The page (``/``), its script and style, and the stream (``/events``), on loopback."""

    daemon_threads = True

    def __init__(
        self, port: int, feed: LiveFeed, watch: DeadLetterWatch | None = None, *, keepalive: float = 15.0
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.feed = feed
        self.watch = watch
        self.keepalive = keepalive
        self.stopping = threading.Event()

    def start(self) -> None:
        """Serve on a thread of its own, and start the dead-letter watch."""
        threading.Thread(target=self.serve_forever, name="live", daemon=True).start()
        if self.watch is not None:
            self.watch.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def shutdown(self) -> None:
        self.stopping.set()
        if self.watch is not None:
            self.watch.stop()
        super().shutdown()


_FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/live.js": ("live.js", "text/javascript; charset=utf-8"),
    "/live.css": ("live.css", "text/css; charset=utf-8"),
}


class _Handler(BaseHTTPRequestHandler):
    server: LiveServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        why = refusal(self.headers, self.server.server_address[1], control=False, body=False)
        if why is not None:
            self._send(why[0], "text/plain", why[1].encode())
            return
        path = self.path.partition("?")[0]
        if path == "/events":
            self._stream()
            return
        if path not in _FILES:
            self._send(404, "text/plain", b"not found")
            return
        name, content_type = _FILES[path]
        self._send(200, content_type, (STATIC / name).read_bytes())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        """Server-sent events: every entry in the ring after ``Last-Event-ID``, then each new one."""
        resume = self.headers.get("Last-Event-ID") or ""
        last = int(resume) if resume.isdigit() else 0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        feed, server = self.server.feed, self.server
        with feed.viewer():
            try:
                self.wfile.write(b"retry: 1000\n: connected\n\n")
                self.wfile.flush()
                while not server.stopping.is_set():
                    entries = feed.after(last, timeout=server.keepalive)
                    chunk = "".join(f"id: {i}\ndata: {text}\n\n" for i, text in entries) or ": keepalive\n\n"
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                    if entries:
                        last = entries[-1][0]
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass  # the page was closed


class DeadLetterWatch:
    """Publishes each message that reaches the dead-letter queue while someone watches.

    It reads the embedded SQS's queue in place (moto runs in this process) rather than receiving
    from it, so it never hides a message from ``make redrive-local`` or a test; the first look
    after watching starts only notes what is already parked.
    """

    def __init__(self, feed: LiveFeed, queue_url: str, *, interval: float = 0.5) -> None:
        self._feed = feed
        account, name = queue_url.rstrip("/").rsplit("/", 2)[-2:]
        self._account, self._name = account, name
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-dead-letters", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        known: set[str] | None = None
        while not self._stopping.wait(self._interval):
            if not self._feed.active():
                known = None
                continue
            messages = self._messages()
            if known is not None:
                for message in messages:
                    if message[0] not in known:
                        self._feed.publish(dead_letter_entry(message[1], message[2]))
            known = {message[0] for message in messages}

    def _messages(self) -> list[tuple[str, str, dict[str, str]]]:
        """(id, body, string attributes) of every message in the queue, in or out of flight."""
        from moto.sqs.models import sqs_backends  # moto's in-process backend, at run time only

        try:
            queue = sqs_backends[self._account][REGION].get_queue(self._name)
            parked = list(queue._messages)  # in place: receiving would hide them
        except Exception:  # noqa: BLE001 - a moto that keeps its queues otherwise: no entries
            return []
        return [(m.id, m.body, _string_attributes(m.message_attributes)) for m in parked]


def _string_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    found = {}
    for name, value in attributes.items():
        if isinstance(value, dict):
            text = value.get("StringValue", value.get("string_value"))
            if isinstance(text, str):
                found[name] = text
    return found
