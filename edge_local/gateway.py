"""An HTTP gateway that behaves like API Gateway's HTTP API in front of the ingest function.

It matches the template's routes (anything else is API Gateway's own 404), answers CORS
preflights and adds the allowance to every response as the API's CorsConfiguration does,
turns each request into a payload v2 event, and writes the function's response back. Bodies
over API Gateway's 10 MB payload limit, and events over Lambda's 6 MB invocation payload, get
the platform's own ``413 {"message":"Request Entity Too Large"}`` without reaching the function.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import time
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from edge_local.functions import LocalFunction
from edge_local.live import LiveFeed
from edge_local.live_entries import request_entry
from edge_local.template import TemplateSettings

if TYPE_CHECKING:
    from edge.ingest.plan import PlanPolicy
    from edge.ingest.privacy import PrivacyPolicy

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit
# Lambda's synchronous invocation payload limit: the whole event, the body base64-encoded when
# it is binary or compressed (4/3 larger), so a 4.5 MB gzip body is already too much.
MAX_INVOCATION_PAYLOAD = 6 * 1024 * 1024
# Both limits are answered the same way by API Gateway: 413 with this body.
_TOO_LARGE = b'{"message":"Request Entity Too Large"}'
_NOT_FOUND = b'{"message":"Not Found"}'
_CRASHED = b'{"message":"Internal Server Error"}'


class Cors:
    """The HTTP API's CorsConfiguration, applied the way API Gateway applies it."""

    def __init__(self, settings: TemplateSettings, origins: tuple[str, ...] | None = None) -> None:
        self.origins = origins if origins is not None else settings.allow_origins
        self.methods = settings.allow_methods
        self.headers = settings.allow_headers
        self.expose = settings.expose_headers
        self.max_age = settings.cors_max_age

    def allow_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    def preflight(self, origin: str | None, method: str | None, headers: str | None) -> dict[str, str]:
        allowed = self.allow_origin(origin)
        if allowed is None or (method or "").upper() not in self.methods:
            return {}
        asked = [h.strip().lower() for h in (headers or "").split(",") if h.strip()]
        if any(h not in self.headers for h in asked):
            return {}
        return {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ",".join(self.methods),
            "Access-Control-Allow-Headers": ",".join(self.headers),
            "Access-Control-Max-Age": str(self.max_age),
            "Vary": "Origin",
        }

    def response(self, origin: str | None) -> dict[str, str]:
        allowed = self.allow_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}
        if self.expose:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose)
        return headers


def strip_prefix(path: str, prefix: str) -> str | None:
    """The path the API sees for ``path`` under ``prefix``, as the template's CloudFront Function
    makes it (``/mr/v1/t`` → ``/v1/t``); None outside the prefix."""
    if not path.startswith(prefix + "/"):
        return None
    return path[len(prefix) :]


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog of 5 resets connections when many clients connect at once.
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        function: LocalFunction,
        settings: TemplateSettings,
        cors: Cors,
        live: LiveFeed | None = None,
        *,
        path_prefix: str = "",
        origin_verify: str | None = None,
        static_dir: Path | None = None,
        privacy: PrivacyPolicy | None = None,
        plan: PlanPolicy | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.function = function
        self.settings = settings
        self.cors = cors
        self.live = live
        # The API under PATH_PREFIX too, as the CloudFront front door serves it: the prefix
        # stripped, and CloudFront's x-origin-verify and CloudFront-Viewer-Address headers set.
        self.path_prefix = path_prefix
        self.origin_verify = origin_verify
        # Tests only: files served for GET on paths no route takes (a page on the API's origin).
        self.static_dir = static_dir
        # Ingest's privacy controls: the live page shows what they decided for each event.
        self.privacy = privacy
        # Ingest's tracking plan: the live page shows what each event breaks, and what was blocked.
        self.plan = plan

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_OPTIONS(self) -> None:
        self._drain()
        headers = self.server.cors.preflight(
            self.headers.get("Origin"),
            self.headers.get("Access-Control-Request-Method"),
            self.headers.get("Access-Control-Request-Headers"),
        )
        self._send(204, headers, b"")

    def do_POST(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Any other method (do_PUT, do_TRACE, ...) matches no route: API Gateway's JSON 404,
        # not http.server's HTML 501.
        if name.startswith("do_"):
            return self._route
        raise AttributeError(name)

    def _route(self) -> None:
        url = urlsplit(self.path)
        stripped = strip_prefix(url.path, self.server.path_prefix) if self.server.path_prefix else None
        path = stripped or url.path
        cors = self.server.cors.response(self.headers.get("Origin"))
        if not any(r.method == self.command and r.pattern.match(path) for r in self.server.settings.routes):
            self._drain()
            if not self._static(url.path):
                self._send(404, {**cors, "Content-Type": "application/json"}, _NOT_FOUND)
                self._observe(url.path, url.query, b"", 404, _NOT_FOUND)
            return
        body = self._read_body()
        event = None if body is None else self._event(path, url.query, body, front_door=stripped is not None)
        if event is None or _invocation_too_large(event):
            self._send(413, {**cors, "Content-Type": "application/json"}, _TOO_LARGE)
            self._observe(url.path, url.query, b"", 413, _TOO_LARGE, api_path=path)
            return
        try:
            response = self.server.function.invoke(event)
        except Exception:  # noqa: BLE001 - a crashed function is API Gateway's 500
            self._send(500, {**cors, "Content-Type": "application/json"}, _CRASHED)
            self._observe(url.path, url.query, body or b"", 500, _CRASHED, api_path=path)
            return
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        status = int(response.get("statusCode", 200))
        # Payload v2: API Gateway turns the function's cookies into Set-Cookie headers, one each.
        cookies = [str(c) for c in response.get("cookies") or []]
        self._send(status, {**headers, **cors}, data, cookies)
        self._observe(url.path, url.query, body or b"", status, data, api_path=path)

    def _observe(
        self, path: str, query: str, body: bytes, status: int, answer: bytes, *, api_path: str | None = None
    ) -> None:
        """Tell the live events page, after the client has its answer (only while someone watches).
        ``api_path``: the path the API saw, once a front door's prefix is stripped from ``path``."""
        live = self.server.live
        if live is not None and live.watching:
            encoding = self.headers.get("Content-Encoding")
            policy, privacy = self.server.privacy, None
            if policy is not None and status < 300:
                headers = {name.lower(): value for name, value in self.headers.items()}
                cookies = [c.strip() for h in self.headers.get_all("Cookie") or () for c in h.split(";")]
                privacy = policy.for_request(headers, "keep", cookies)
            entry = request_entry(
                self.command,
                api_path or path,
                shown_path=path,
                query=query,
                body=body,
                encoding=encoding,
                status=status,
                answer=answer,
                privacy=privacy,
                plan=self.server.plan,
            )
            live.publish(entry)

    def _static(self, path: str) -> bool:
        """Serve a file of ``static_dir`` for a GET no route takes; False when there is none."""
        root = self.server.static_dir
        if root is None or self.command != "GET":
            return False
        relative = unquote(path).lstrip("/") or "index.html"
        target = (root / relative).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            return False
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self._send(200, {"Content-Type": kind, "Cache-Control": "no-store"}, target.read_bytes())
        return True

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            # Read what a client reasonably sends before answering, so it sees the 413 rather
            # than a connection reset in the middle of its upload.
            while 0 < length <= 4 * MAX_PAYLOAD and (chunk := self.rfile.read(min(length, 1 << 20))):
                length -= len(chunk)
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD:
                self.close_connection = True
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_PAYLOAD:
            self.rfile.read(length)

    def _event(self, path: str, query: str, body: bytes, *, front_door: bool = False) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        if front_door and self.server.origin_verify:
            # CloudFront's own headers replace whatever the viewer sent under those names.
            host, port = self.client_address[:2]
            headers["cloudfront-viewer-address"] = f"{host}:{port}"
            headers["x-origin-verify"] = self.server.origin_verify
        params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": f"{self.command} {path}",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": headers.get("host", "127.0.0.1"),
                "domainPrefix": "local",
                "http": {
                    "method": self.command,
                    "path": path,
                    "protocol": self.request_version,
                    "sourceIp": self.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{self.command} {path}",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": False,
        }
        if params:
            event["queryStringParameters"] = params
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers.pop("cookie").split(";")]
        if body:
            # Like API Gateway: text stays text, anything encoded or not UTF-8 travels as base64.
            text = None if headers.get("content-encoding") else _utf8(body)
            if text is None:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    def _send(self, status: int, headers: dict[str, str], body: bytes, cookies: Sequence[str] = ()) -> None:
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        )
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)


def _invocation_too_large(event: dict[str, Any]) -> bool:
    """Whether Lambda would refuse ``event`` as an invocation payload (measured only near the limit)."""
    if len(event.get("body") or "") < MAX_INVOCATION_PAYLOAD - 256 * 1024:
        return False
    return len(json.dumps(event).encode()) > MAX_INVOCATION_PAYLOAD


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
