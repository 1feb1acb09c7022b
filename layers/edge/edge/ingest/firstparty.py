"""First-party collection: the viewer's address behind CloudFront, and the server-set anonymousId cookie.

Behind the CloudFront front door the API sees CloudFront's address, not the browser's. CloudFront
sends the viewer's in ``CloudFront-Viewer-Address``, and proves it is CloudFront by adding the
``x-origin-verify`` header with a secret value; only then is that header believed. Anyone can
send ``CloudFront-Viewer-Address`` or ``X-Forwarded-For`` straight to the API.

analytics.js 2.0 keeps its anonymousId in the ``ajs_anonymous_id`` cookie. Written by script,
Safari keeps it 7 days; set by a first-party server response, the browser keeps it as long as
the response asks, so the edge sets it on every answer to a page of the cookie's domain.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, unquote, urlsplit

from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from pydantic_core import from_json

from edge.core.errors import RequestError, TransientError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

__all__ = [
    "ANONYMOUS_ID_COOKIE",
    "COOKIE_MAX_ID_CHARS",
    "ORIGIN_VERIFY_HEADER",
    "VIEWER_ADDRESS_HEADER",
    "AnonymousIdCookie",
    "FirstParty",
    "OriginVerifier",
    "anonymous_id_of",
    "client_ip",
    "cookie_anonymous_id",
    "cookie_value",
    "origin_in_domain",
    "viewer_ip",
]

ANONYMOUS_ID_COOKIE: Final = "ajs_anonymous_id"
ORIGIN_VERIFY_HEADER: Final = "x-origin-verify"
VIEWER_ADDRESS_HEADER: Final = "cloudfront-viewer-address"
#: Longer anonymousIds get no cookie: browsers keep cookies of 4 KB at most, and a real one is a UUID.
COOKIE_MAX_ID_CHARS: Final = 200
#: What js-cookie (analytics.js 2.0's cookie library) leaves unencoded in a value, besides
#: ``encodeURIComponent``'s own unreserved characters; everything else is percent-encoded.
_COOKIE_SAFE: Final = "!#$&'()*+/:<=>?@[]^`{|}~"


def viewer_ip(header: str | None) -> str | None:
    """The address in a ``CloudFront-Viewer-Address`` value (``203.0.113.7:46532``, ``2001:db8::1:46532``)."""
    if not header:
        return None
    address, _, port = header.strip().rpartition(":")
    if not port.isdigit():
        return None
    try:
        return str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        return None


def client_ip(headers: Mapping[str, str], source_ip: str | None, *, verified: bool) -> str | None:
    """The request's client address: the viewer's only when CloudFront is proven, else the source."""
    if verified:
        viewer = viewer_ip(headers.get(VIEWER_ADDRESS_HEADER))
        if viewer:
            return viewer
    return source_ip


def origin_in_domain(origin: str | None, domain: str) -> bool:
    """Whether an ``Origin`` header names ``domain`` or one of its subdomains (not a lookalike)."""
    domain = domain.strip().lstrip(".").lower()
    if not origin or not domain:
        return False
    try:
        host = (urlsplit(origin.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    return host == domain or host.endswith("." + domain)


def cookie_value(anonymous_id: str) -> str:
    """``anonymous_id`` as analytics.js 2.0 writes ``ajs_anonymous_id`` and reads it back unchanged.

    It writes a string as is (js-cookie percent-encodes it) and reads with ``JSON.parse``, keeping
    the raw text when that fails. A value that would parse as JSON (``123``, ``null``) is
    therefore written as a JSON string, as analytics.js 1.0 wrote every value.
    """
    try:
        from_json(anonymous_id)
    except ValueError:
        text = anonymous_id
    else:
        text = '"' + anonymous_id.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return quote(text, safe=_COOKIE_SAFE)


def cookie_anonymous_id(cookies: Iterable[str]) -> str | None:
    """The anonymousId in a request's ``ajs_anonymous_id`` cookie, read as analytics.js 2.0 reads it."""
    for cookie in cookies:
        name, sep, raw = cookie.strip().partition("=")
        if sep and name.strip() == ANONYMOUS_ID_COOKIE and raw:
            text = unquote(raw.strip())
            try:
                value: Any = from_json(text)
            except ValueError:
                return text
            return value if isinstance(value, str) and value else None
    return None


def anonymous_id_of(body: Any) -> str | None:
    """The anonymousId a request carries: its event's, or a batch's last one (the newest)."""
    items: list[Any] = [body]
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        items = body["batch"]
    for item in reversed(items):
        if isinstance(item, dict) and isinstance(item.get("anonymousId"), str) and item["anonymousId"]:
            return str(item["anonymousId"])
    return None


@dataclass(frozen=True, slots=True)
class AnonymousIdCookie:
    """The ``ajs_anonymous_id`` cookie the edge sets for pages of ``domain``."""

    domain: str
    max_age: int

    def set_cookie(self, origin: str | None, anonymous_id: str | None) -> Cookie | None:
        """The cookie to set in an answer to ``origin``, or None when none is due."""
        if not anonymous_id or len(anonymous_id) > COOKIE_MAX_ID_CHARS:
            return None
        if not origin_in_domain(origin, self.domain):
            return None
        # Readable by analytics.js (not HttpOnly), sent on top-level navigations to the site (Lax).
        return Cookie(
            ANONYMOUS_ID_COOKIE,
            cookie_value(anonymous_id),
            path="/",
            domain=self.domain.lstrip("."),
            secure=True,
            http_only=False,
            max_age=self.max_age,
            same_site=SameSite.LAX_MODE,
        )


class OriginVerifier:
    """Checks ``x-origin-verify`` against the secret CloudFront sends (read through Powertools, cached)."""

    def __init__(self, provider: SecretsProvider, secret_id: str, max_age: int, *, required: bool) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self._max_age = max_age
        self.required = required

    def verified(self, presented: str | None) -> bool:
        """Whether the request came through CloudFront; 403 if it must and did not, 503 if unreadable."""
        if presented:
            expected = self._expected()
            if hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
                return True
        if self.required:
            raise RequestError(403, "forbidden", "Send requests through the site's own address.")
        return False

    def _expected(self) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._provider.get(self._secret_id, max_age=self._max_age)
        except GetParameterError as exc:
            raise TransientError("The origin-verify secret could not be read.") from exc
        if not isinstance(value, str) or not value:
            raise TransientError("The origin-verify secret is not a non-empty string.")
        return value


@dataclass(frozen=True, slots=True)
class FirstParty:
    """What a deployment does for first-party collection; both parts off by default."""

    verifier: OriginVerifier | None = None
    cookie: AnonymousIdCookie | None = None

    def verified(self, headers: Mapping[str, str]) -> bool:
        """Whether the request came through CloudFront, checked before anything else about it:
        403 when the deployment requires it and it did not, 503 when the secret is unreadable."""
        if self.verifier is None:
            return False
        return self.verifier.verified(headers.get(ORIGIN_VERIFY_HEADER))

    def cookies(self, headers: Mapping[str, str], body: Any, request_cookies: Iterable[str]) -> list[Cookie]:
        """The cookies to set for an accepted request: the event's anonymousId, else the cookie's own."""
        if self.cookie is None:
            return []
        anonymous_id = anonymous_id_of(body) or cookie_anonymous_id(request_cookies)
        cookie = self.cookie.set_cookie(headers.get("origin"), anonymous_id)
        return [cookie] if cookie else []
