"""MetaRouter's custom events (``POST /v1/custom/event``): any JSON object with MetaRouter's event
metadata, read from where clients put it and queued in one shape the forwarder knows.

The metadata (``writeKey`` and ``eventName`` required; ``eventID``, ``timestamp``, ``anonymousID``,
``userID``, ``ip`` optional; strings, JSONPath expressions included, which MetaRouter resolves
against the event) is read field by field from, first found wins:

1. the body's ``_metarouter`` object,
2. the body's ``_mrSchema`` object (older integrations),
3. the ``X-Event-Metadata`` header (the metadata as a JSON object),
4. query parameters of the same names.

Field by field, so a webhook's URL can carry what never changes (``?writeKey=…&eventName=…``)
while a body that names its own ``eventName`` still wins.

MetaRouter fills ``eventID``, ``timestamp`` and ``ip`` from *its* request when they are absent:
the edge's address and the forwarder's send time. So the edge fills them itself (a UUIDv4, the
arrival time, the visitor's address under the IP policy, ``0.0.0.0`` when that policy leaves no
address).

Queued, a custom event is wrapped so the forwarder can tell it from a Segment event and the
delivery log, the dead-letter queue and the live page can read its id (``queued``)::

    {"type": "custom", "messageId": "<eventID>", "receivedAt": "…", "body": {…, "_metarouter": {…}}}

``body`` is what MetaRouter receives, but for ``_metarouter.writeKey``: the forwarder puts the
Source ID there at send time (``edge.forward.upstream.custom_body``), so no queue ever holds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from pydantic_core import from_json

from edge.core.config import IpPolicy
from edge.core.errors import RequestError
from edge.core.timestamps import format_timestamp
from edge.ingest.decoding import clean_text
from edge.ingest.enrichment import UNKNOWN_IP, RequestFacts, apply_ip_policy, bare_address, is_ip_address

__all__ = [
    "CUSTOM_TYPE",
    "LEGACY_KEY",
    "MAX_METADATA_HEADER_BYTES",
    "METADATA_FIELDS",
    "METADATA_HEADER",
    "METADATA_KEY",
    "Metadata",
    "queued",
    "read_metadata",
    "without_write_key",
]

#: The ``type`` of a queued custom event; no Segment event has it (ingest validates their types).
CUSTOM_TYPE: Final = "custom"
METADATA_KEY: Final = "_metarouter"
LEGACY_KEY: Final = "_mrSchema"
METADATA_HEADER: Final = "x-event-metadata"
#: The metadata as a header is a handful of short strings; a longer one is refused unread
#: (what an event carries is limited by its body, which this header would otherwise bypass).
MAX_METADATA_HEADER_BYTES: Final = 4096
#: The metadata MetaRouter reads; the query string is read for these names only.
METADATA_FIELDS: Final = ("writeKey", "eventName", "eventID", "timestamp", "anonymousID", "userID", "ip")
#: An ``eventID`` becomes the delivery log's key: as long as a Segment ``messageId`` may be.
MAX_EVENT_ID_CHARS: Final = 100

Metadata = dict[str, Any]


def read_metadata(body: Any, header: str | None, query: Mapping[str, str]) -> Metadata:
    """The request's metadata merged field by field (body ``_metarouter`` > ``_mrSchema`` >
    ``X-Event-Metadata`` > query), ``writeKey`` included; ``RequestError`` (400) naming the field
    when the body is not an object, a location is unreadable, or a value is not a string."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_json", "The request body must be a JSON object.")
    layers: list[tuple[str, Mapping[str, Any]]] = []
    for key in (METADATA_KEY, LEGACY_KEY):
        if key in body:
            value = body[key]
            if not isinstance(value, dict):
                raise _invalid(key, "must be an object")
            layers.append((key, value))
    if header is not None and header.strip():
        layers.append(("X-Event-Metadata", _header_metadata(header)))
    layers.append(("query", {name: query[name] for name in METADATA_FIELDS if name in query}))
    merged: Metadata = {}
    for where, layer in layers:
        for name, value in layer.items():
            if name in merged or value is None or value == "":
                continue
            if name in METADATA_FIELDS and not isinstance(value, str):
                raise _invalid(f"{where}.{name}", "must be a string")
            merged[name] = value
    if not merged.get("eventName"):
        raise _invalid(
            f"{METADATA_KEY}.eventName",
            "is required (in _metarouter, _mrSchema, the X-Event-Metadata header or the query string)",
        )
    event_id = merged.get("eventID")
    if isinstance(event_id, str) and len(event_id) > MAX_EVENT_ID_CHARS:
        raise _invalid(f"{METADATA_KEY}.eventID", f"must be at most {MAX_EVENT_ID_CHARS} characters")
    return merged


def queued(
    body: dict[str, Any],
    metadata: Metadata,
    *,
    facts: RequestFacts,
    ip_policy: IpPolicy,
    bot: bool = False,
) -> dict[str, Any]:
    """The custom event as queued: the client's fields unchanged (but for the metadata's two
    locations and any ``writeKey``), the metadata normalised into ``_metarouter`` without its
    ``writeKey``, ``eventID``, ``timestamp`` and ``ip`` filled in, and the wrapper's ids."""
    meta = {name: value for name, value in metadata.items() if name != "writeKey"}
    received_at = format_timestamp(facts.received_at)
    event_id = meta.get("eventID")
    if not event_id:
        event_id = meta["eventID"] = str(uuid.uuid4())
    meta.setdefault("timestamp", received_at)
    meta["ip"] = _ip(meta.get("ip"), facts, ip_policy)
    if bot:
        meta["isBot"] = True
    event = {k: v for k, v in body.items() if k not in (METADATA_KEY, LEGACY_KEY, "writeKey")}
    event[METADATA_KEY] = meta
    # A JSONPath eventID (``$.id``) is the same text for every event: MetaRouter resolves it, but
    # as the delivery log's key it would make every event after the first a "duplicate".
    message_id = str(uuid.uuid4()) if event_id.startswith("$") else event_id
    return {"type": CUSTOM_TYPE, "messageId": message_id, "receivedAt": received_at, "body": event}


def without_write_key(body: dict[str, Any]) -> dict[str, Any]:
    """The client's event as quarantined: no ``writeKey`` at its root nor in its metadata."""
    kept = {k: v for k, v in body.items() if k != "writeKey"}
    for key in (METADATA_KEY, LEGACY_KEY):
        if isinstance(kept.get(key), dict):
            kept[key] = {k: v for k, v in kept[key].items() if k != "writeKey"}
    return kept


def _ip(given: Any, facts: RequestFacts, policy: IpPolicy) -> str:
    """The address MetaRouter records: the event's own, else the visitor's, under the policy.

    A JSONPath (not an address) is passed through under ``keep`` only: the edge cannot anonymize
    what MetaRouter resolves later. ``0.0.0.0`` when the policy leaves no address, never absent,
    since MetaRouter would then record the forwarder's own address.
    """
    if isinstance(given, str) and given:
        if not is_ip_address(given):
            return given if policy == "keep" else UNKNOWN_IP
        return apply_ip_policy(given, policy) or UNKNOWN_IP
    return apply_ip_policy(bare_address(facts.source_ip), policy) or UNKNOWN_IP


def _header_metadata(header: str) -> Mapping[str, Any]:
    if len(header.encode("utf-8", "replace")) > MAX_METADATA_HEADER_BYTES:
        raise _invalid("X-Event-Metadata", f"is longer than {MAX_METADATA_HEADER_BYTES} bytes")
    try:
        value = from_json(clean_text(header), allow_inf_nan=False)
    except ValueError:
        raise _invalid("X-Event-Metadata", "is not JSON") from None
    if not isinstance(value, dict):
        raise _invalid("X-Event-Metadata", "must be a JSON object")
    return value


def _invalid(field: str, message: str) -> RequestError:
    return RequestError(
        400, "invalid_metadata", "The event's metadata is invalid.", [{"field": field, "message": message}]
    )
