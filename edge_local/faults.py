"""Opt-in fault injection for the local stack (``LOCAL_FAULTS=1``), for load and failure tests.

- ``PausableProxy``: a TCP proxy the ingest workers reach the embedded AWS endpoint through, so
  that SQS can become unreachable from the ingest path alone (the poller and the forwarder keep
  talking to it directly).
- ``FaultControl``: a small HTTP endpoint on loopback that pauses that proxy and kills the
  forwarder's worker processes in the middle of an invocation.

  ``POST /sqs/pause {"seconds": 5}``: for that long, connections from ingest to SQS and Secrets
  Manager are refused and the open ones are cut; ingest answers 503 with ``Retry-After``.
  ``POST /forward/kill {"wait": 10}``: waits up to ``wait`` seconds for a forward invocation to
  be in flight, then kills every forward worker process (``SIGKILL``). Their invocations fail, so
  the poller leaves the messages to SQS's visibility timeout, and the next invocation starts new
  workers, as Lambda starts new execution environments. Answers ``{"killed", "inFlight",
  "messageIds"}``: the last lists the events of the invocations cut short (their duplicates
  upstream are this fault's).
  ``POST /s3/pause {"seconds": 20}``: for that long, the archive function cannot reach S3 (its
  connections refused and cut): the archive queue keeps what it could not write, retried.
  ``GET /forward/overlaps``: ``{"messageIds": [...]}``, the events of messages SQS handed out
  again while an invocation was still working on them or after one had finished with them
  (their duplicates are SQS's).

  Like the stack's other servers it answers only requests to a loopback ``Host``, and its POSTs
  take only JSON, from no other origin (``edge_local.guard``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_local.functions import LocalFunction
from edge_local.guard import content_length, refusal
from edge_local.poller import Poller, event_message_ids

_CHUNK = 64 * 1024


class PausableProxy:
    """Forwards TCP connections from a loopback port to ``target``; ``pause`` cuts them for a while."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = listener.getsockname()[1]
        self._listener: socket.socket | None = listener
        self._closed = False

    @classmethod
    def start_if_enabled(cls, env: Mapping[str, str], aws_endpoint: str) -> PausableProxy | None:
        """A running proxy to ``aws_endpoint`` when ``LOCAL_FAULTS`` is set, else None."""
        if env.get("LOCAL_FAULTS", "").lower() not in ("1", "true", "yes"):
            return None
        host, _, port = aws_endpoint.removeprefix("http://").partition(":")
        proxy = cls(host, int(port))
        proxy.start()
        return proxy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), name="proxy", daemon=True).start()

    def pause(self, seconds: float) -> None:
        """Refuse new connections and cut the open ones; listen again after ``seconds``."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            _close(listener)
        for connection in connections:
            _close(connection)
        threading.Thread(target=self._resume, args=(seconds,), name="proxy-resume", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)

    def _resume(self, seconds: float) -> None:
        time.sleep(seconds)
        with self._lock:
            if self._closed or self._listener is not None:
                return
            listener = socket.create_server(("127.0.0.1", self.port))
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy", daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by pause() or stop()
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # paused in the meantime
                    _close(client)
                    _close(upstream)
                    continue
                self._connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections -= {source, sink}
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
    sock.close()


class FaultControl(ThreadingHTTPServer):
    """``POST /sqs/pause`` and ``POST /forward/kill`` on loopback."""

    daemon_threads = True

    def __init__(
        self,
        port: int,
        proxy: PausableProxy,
        forward: LocalFunction,
        poller: Poller,
        archive_proxy: PausableProxy | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", port), _ControlHandler)
        self.proxy = proxy
        self.forward = forward
        self.poller = poller
        self.archive_proxy = archive_proxy

    @classmethod
    def start_if_enabled(
        cls,
        env: Mapping[str, str],
        proxy: PausableProxy | None,
        forward: LocalFunction,
        poller: Poller,
        archive_proxy: PausableProxy | None = None,
    ) -> FaultControl | None:
        """The control endpoint, serving, when fault injection is on (there is a proxy), else None."""
        if proxy is None:
            return None
        control = cls(int(env.get("FAULTS_PORT") or 0), proxy, forward, poller, archive_proxy)
        threading.Thread(target=control.serve_forever, name="faults", daemon=True).start()
        return control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def shutdown(self) -> None:
        super().shutdown()
        self.proxy.stop()
        if self.archive_proxy is not None:
            self.archive_proxy.stop()


class _ControlHandler(BaseHTTPRequestHandler):
    server: FaultControl
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self._refused(body=False):
            return
        if self.path == "/forward/overlaps":
            self._json(200, {"messageIds": sorted(self.server.poller.overlapping_events())})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self._refused(body=True):
            return
        try:
            body = json.loads(self.rfile.read(content_length(self.headers)) or b"{}")
            if self.path == "/sqs/pause":
                self.server.proxy.pause(float(body.get("seconds", 5)))
                self._json(200, {"ok": True})
            elif self.path == "/s3/pause":
                if self.server.archive_proxy is None:
                    self._json(409, {"error": "no archive (ARCHIVE_RETENTION_DAYS=0)"})
                    return
                self.server.archive_proxy.pause(float(body.get("seconds", 5)))
                self._json(200, {"ok": True})
            elif self.path == "/forward/kill":
                in_flight = self.server.forward.wait_busy(float(body.get("wait", 10)))
                killed, events = self.server.forward.kill()
                ids = sorted({m for event in events for m in event_message_ids(event)})
                self._json(200, {"killed": killed, "inFlight": in_flight, "messageIds": ids})
            else:
                self._json(404, {"error": "not found"})
        except (ValueError, AttributeError) as exc:
            self._json(400, {"error": str(exc)})

    def _refused(self, *, body: bool) -> bool:
        """Answer a request this endpoint does not take (``edge_local.guard``); whether it did."""
        why = refusal(self.headers, self.server.server_address[1], control=True, body=body)
        if why is None:
            return False
        self.close_connection = True  # any body is left unread
        self._json(why[0], {"error": why[1]})
        return True

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
