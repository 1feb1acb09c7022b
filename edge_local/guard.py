"""What the local stack's own servers (the upstream stand-in, the live page, the fault control,
the embedded AWS endpoint) take from a client: loopback requests, and for their controls, JSON
from no other site.

They listen on 127.0.0.1 only, but a page the developer visits can still reach them: a name the
page's site controls, rebound to 127.0.0.1 (DNS rebinding), makes their answers readable by that
page, and a form or ``text/plain`` POST goes anywhere without a preflight. So each answers only a
request whose ``Host`` is a loopback name or address; a control endpoint takes only
``application/json`` (which a cross-site page cannot send without a preflight these servers
never allow) and refuses a request with an ``Origin`` other than its own, or that a browser
marks as another site's (``Sec-Fetch-Site``). The embedded AWS endpoint (moto, which allows
every origin by default) takes no browser request at all: the SDKs send neither header.

The gateway is not guarded: it stands in for the public API, which any page may call (CORS).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

__all__ = [
    "MAX_CONTROL_BYTES",
    "Headers",
    "content_length",
    "foreign_origin",
    "guard_wsgi",
    "json_body",
    "loopback_host",
    "refusal",
]


class Headers(Protocol):
    """A request's headers: http.server's message, or a plain mapping."""

    def get(self, name: str, /) -> Any: ...


#: A control request's body is a small JSON object: larger ones are refused unread.
MAX_CONTROL_BYTES: Final = 64 * 1024


def loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine's loopback: ``localhost`` (or a name under it,
    which browsers resolve to loopback themselves), ``127.0.0.0/8`` or ``::1``, any port."""
    if not host:
        return False
    try:
        name = urlsplit("//" + host.strip()).hostname
    except ValueError:
        return False
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def foreign_origin(origin: str | None, port: int) -> bool:
    """Whether an ``Origin`` header names a page other than the server's own (``null`` included);
    no ``Origin`` at all (curl, scripts, the tests) is not foreign."""
    if origin is None:
        return False
    try:
        url = urlsplit(origin.strip())
        return url.scheme != "http" or url.port != port or not loopback_host(url.netloc)
    except ValueError:
        return True


def json_body(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` is JSON's (parameters such as ``charset`` allowed)."""
    return (content_type or "").partition(";")[0].strip().lower() == "application/json"


def refusal(headers: Headers, port: int, *, control: bool, body: bool) -> tuple[int, str] | None:
    """Why one of these servers refuses a request (status, message), or None to answer it.

    ``control``: the request changes the server's state; ``body``: it carries one to read.
    """
    if not loopback_host(headers.get("Host")):
        return 403, "only requests to a loopback Host are answered"
    if not control:
        return None
    if foreign_origin(headers.get("Origin"), port) or _cross_site(headers.get("Sec-Fetch-Site")):
        return 403, "requests from other origins are refused"
    if body and not json_body(headers.get("Content-Type")):
        return 415, "send JSON (Content-Type: application/json)"
    if body and content_length(headers) > MAX_CONTROL_BYTES:
        return 413, f"a control request is at most {MAX_CONTROL_BYTES // 1024} KB"
    return None


def _cross_site(fetch_site: str | None) -> bool:
    """Whether a browser says the request comes from another site's page (or another origin's)."""
    return (fetch_site or "none").strip().lower() not in ("none", "same-origin")


#: A WSGI application: (environ, start_response) → the body's chunks.
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def guard_wsgi(app: Wsgi) -> Wsgi:
    """``app`` answering only what an SDK on this machine sends: a loopback ``Host``, and neither
    an ``Origin`` nor a ``Sec-Fetch-Site`` of another site (a browser's request), else 403."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        browser = environ.get("HTTP_ORIGIN") is not None or _cross_site(environ.get("HTTP_SEC_FETCH_SITE"))
        if not loopback_host(environ.get("HTTP_HOST")) or browser:
            body = b"loopback SDK requests only"
            start_response(
                "403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)

    return guarded


def content_length(headers: Headers) -> int:
    """The declared body size; one that is not a number counts as too large to read."""
    text = (headers.get("Content-Length") or "0").strip()
    return int(text) if text.isdigit() else 1 << 62
