"""Segment's pixel API: one event from a GET's query string (``/v1/pixel/{type}``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from edge.core.errors import RequestError
from edge.ingest.decoding import parse_json
from edge.ingest.limits import MAX_EVENT_BYTES

__all__ = ["TRANSPARENT_GIF", "event_from_query"]

#: The smallest transparent 1x1 GIF (43 bytes).
TRANSPARENT_GIF: Final = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def event_from_query(query: Mapping[str, str]) -> dict[str, Any]:
    """The event carried by ``?data=<base64 JSON>`` or by dotted query parameters."""
    data = query.get("data")
    if data:
        return _from_base64(data)
    event: dict[str, Any] = {}
    for name, value in query.items():
        parts = name.split(".")
        if not all(parts):
            continue
        node = event
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(parts[-1], value)
    return event


def _from_base64(data: str) -> dict[str, Any]:
    # Standard or URL-safe alphabet, padding optional; '+' may arrive as a space.
    text = data.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    if len(text) > MAX_EVENT_BYTES * 2:
        raise RequestError(413, "event_too_large", f"The event exceeds {MAX_EVENT_BYTES // 1024} KB.")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, "invalid_body", "The data parameter is not valid base64.") from exc
    event = parse_json(raw)
    if not isinstance(event, dict):
        raise RequestError(400, "invalid_json", "The data parameter must encode a JSON object.")
    return event
