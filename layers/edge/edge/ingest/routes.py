"""The ingestion API's routes, in one table: what API Gateway serves and the ingest handler answers.

The ingest function's HttpApi events in ``template.yaml`` are exactly these (a template test holds
them equal), and the handler answers a request by looking it up here (``match``). Paths are spelled
as API Gateway spells them: ``{type}`` matches one path segment.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, Literal, NamedTuple

__all__ = ["ROUTES", "Route", "RouteKind", "event_type_of", "match"]


class RouteKind(StrEnum):
    """What a route that does not take one event of a given type is."""

    BATCH = "batch"
    TELEMETRY = "telemetry"
    #: One event from a GET's query string, of the type the path's ``{type}`` names.
    PIXEL = "pixel"
    #: MetaRouter's custom events: any JSON object with MetaRouter's event metadata.
    CUSTOM = "custom"


class Route(NamedTuple):
    """One route of the ingestion API: its method, its path and what it is."""

    method: Literal["GET", "POST"]
    path: str
    #: The event type the route takes, or what else it is.
    target: str | RouteKind


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", "/v1/identify", "identify"),
    Route("POST", "/v1/track", "track"),
    Route("POST", "/v1/page", "page"),
    Route("POST", "/v1/screen", "screen"),
    Route("POST", "/v1/group", "group"),
    Route("POST", "/v1/alias", "alias"),
    # analytics.js short forms: the first letter of the type.
    Route("POST", "/v1/i", "identify"),
    Route("POST", "/v1/t", "track"),
    Route("POST", "/v1/p", "page"),
    Route("POST", "/v1/s", "screen"),
    Route("POST", "/v1/g", "group"),
    Route("POST", "/v1/a", "alias"),
    Route("POST", "/v1/batch", RouteKind.BATCH),
    Route("POST", "/v1/b", RouteKind.BATCH),
    Route("POST", "/v1/import", RouteKind.BATCH),
    # analytics.js telemetry: answered and counted, never forwarded.
    Route("POST", "/v1/m", RouteKind.TELEMETRY),
    Route("GET", "/v1/pixel/{type}", RouteKind.PIXEL),
    Route("POST", "/v1/custom/event", RouteKind.CUSTOM),
)

#: ``/v1/<segment>`` → the event type of a single-event route (the pixel's ``{type}`` takes these too).
_EVENT_TYPES: Final = {
    route.path.removeprefix("/v1/"): route.target
    for route in ROUTES
    if not isinstance(route.target, RouteKind)
}


def event_type_of(segment: str) -> str | None:
    """The event type ``POST /v1/<segment>`` takes, or None when it takes no single event."""
    return _EVENT_TYPES.get(segment)


#: The characters a ``{name}`` segment may hold: RFC 3986's unreserved and sub-delimiters, the
#: unsafe ones clients send anyway, letters and digits (what Powertools' resolver matched).
_SEGMENT: Final = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_STATIC: Final[dict[tuple[str, str], Route]] = {
    (route.method, route.path): route for route in ROUTES if "{" not in route.path
}


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", lambda name: f"(?P<{name[1]}>{_SEGMENT})", path) + "$")


_TEMPLATED: Final = tuple((route, _pattern(route.path)) for route in ROUTES if "{" in route.path)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route a request's method and path (its stage removed) take, with the path's
    ``{name}`` values; None when no route does (404)."""
    method = method.upper()
    route = _STATIC.get((method, path))
    if route is not None:
        return route, {}
    for route, pattern in _TEMPLATED:
        if route.method == method and (found := pattern.match(path)):
            return route, found.groupdict()
    return None
