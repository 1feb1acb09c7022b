"""What a local stand-in for MetaRouter (pytest-httpserver) received, and scripted answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug import Request, Response

#: ``sentAt`` as the forwarder writes it: ISO-8601, UTC, milliseconds, ``Z``.
ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass(frozen=True)
class Received:
    path: str
    authorization: str | None
    content_type: str | None
    raw: bytes
    body: Any

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of a batch request, or the one event of a per-call request."""
        return list(self.body["batch"]) if self.path == "/v1/batch" else [self.body]

    @property
    def ids(self) -> list[str]:
        return [event["messageId"] for event in self.events]


def received(httpserver: Any) -> list[Received]:
    """Every request the stand-in answered, in order."""
    return [
        Received(
            request.path,
            request.headers.get("Authorization"),
            request.headers.get("Content-Type"),
            request.get_data(),
            json.loads(request.get_data()),
        )
        for request, _ in httpserver.log
    ]


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    data = "" if body is None else json.dumps(body)
    return Response(data, status=status, headers=headers, content_type="application/json")


def scripted(*answers: Response) -> Callable[[Request], Response]:
    """A handler answering with ``answers`` in turn, then 200."""
    script = list(answers)

    def handler(_: Request) -> Response:
        return script.pop(0) if script else respond(200, {"success": True})

    return handler


def by_batch(decide: Callable[[list[dict[str, Any]]], Response]) -> Callable[[Request], Response]:
    """A handler that answers from the events of each request."""

    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        return decide(body["batch"] if request.path == "/v1/batch" else [body])

    return handler
