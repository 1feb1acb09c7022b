"""A fast HTTP/1.1 keep-alive server on 127.0.0.1 that answers every request 200 at once.

It runs in its own process (its own interpreter lock and CPU), parses no more of a request than
it must (request line, headers, a ``Content-Length`` or chunked body), and counts requests,
bytes and the ``"messageId"`` keys it saw (one per event) so a run can check nothing was lost.
``GET /_stats`` answers those counts (and resets them); nothing else is looked at.

It also stands in for SQS's ``SendMessageBatch`` (the AWS JSON protocol, ``X-Amz-Target``), as
the archive queue: every entry is taken, with the MD5 of its body that botocore checks, and the
events an archive message says it holds are counted as events.
"""

from __future__ import annotations

import hashlib
import json
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from io import BufferedIOBase
from typing import Final

__all__ = ["LoopbackServer", "Stats"]

_ANSWER: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n" + b'{"success":true}'
)
_LINE: Final = 65536


@dataclass(frozen=True, slots=True)
class Stats:
    requests: int
    bytes: int
    events: int
    busy: float
    """Seconds spent handling requests (from the request line to the answer)."""


class LoopbackServer:
    """The server as a child process, for as long as the ``with`` block lasts."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> LoopbackServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.loopback"], stdout=subprocess.PIPE, text=True
        )
        port = self._process.stdout.readline() if self._process.stdout else ""
        if not port.strip().isdigit():
            raise RuntimeError("the loopback server did not start")
        self.url = f"http://127.0.0.1:{int(port)}"
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def stats(self) -> Stats:
        """What the server saw since the last call."""
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=10) as response:  # noqa: S310 - loopback
            return Stats(**json.loads(response.read()))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._counts = [0, 0, 0, 0.0]

    def record(self, body: bytes, took: float) -> None:
        events = body.count(b'"messageId"')
        with self._lock:
            self._counts[0] += 1
            self._counts[1] += len(body)
            self._counts[2] += events
            self._counts[3] += took

    def take(self) -> bytes:
        with self._lock:
            requests, size, events, busy = self._counts
            self._counts = [0, 0, 0, 0.0]
        return json.dumps({"requests": requests, "bytes": size, "events": events, "busy": busy}).encode()


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        rfile, wfile = self.rfile, self.wfile
        while True:
            line = rfile.readline(_LINE)
            if not line:
                return
            if not line.strip():
                continue
            started = time.perf_counter()
            length, chunked, target = 0, False, b""
            while True:
                header = rfile.readline(_LINE)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"x-amz-target":
                    target = value.strip()
            body = _chunked(rfile) if chunked else rfile.read(length) if length else b""
            if line.startswith(b"GET /_stats"):
                stats = self.server.take()
                wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(stats), stats))
                continue
            if target == b"AmazonSQS.SendMessageBatch":
                answer, events = _send_message_batch(body)
                wfile.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                self.server.record(b'"messageId"' * events, time.perf_counter() - started)
                continue
            wfile.write(_ANSWER)
            self.server.record(body, time.perf_counter() - started)


def _send_message_batch(body: bytes) -> tuple[bytes, int]:
    """SQS's answer to a ``SendMessageBatch`` (every entry sent), and the events the entries hold
    by their own count (archive messages: ``"events": <n>``)."""
    entries = json.loads(body)["Entries"]
    successful = [
        {
            "Id": entry["Id"],
            "MessageId": f"loopback-{entry['Id']}",
            "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        }
        for entry in entries
    ]
    events = 0
    for entry in entries:
        head = entry["MessageBody"][:200]
        if '"events":' in head:
            count = head.split('"events":', 1)[1].split(",", 1)[0]
            events += int(count) if count.isdigit() else 0
    return json.dumps({"Successful": successful, "Failed": []}).encode(), events


def _chunked(rfile: BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int(rfile.readline(_LINE).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            rfile.readline(_LINE)
            return b"".join(chunks)
        chunks.append(rfile.read(size))
        rfile.readline(_LINE)


if __name__ == "__main__":
    server = _Server()
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()
