"""Size and shape limits of the ingestion API (the README's "Limits" table)."""

from typing import Final

__all__ = [
    "CONSENT_ALLOWANCE",
    "ENRICHMENT_ALLOWANCE",
    "MAX_BATCH_EVENTS",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_EVENT_BYTES",
    "QUEUED_PER_BODY_BYTE",
]

#: One event, serialized as it will be forwarded: after the batch's context and integrations
#: are merged in and the event is enriched (Segment's 32 KB per call).
MAX_EVENT_BYTES: Final = 32 * 1024
#: What one request's events may total as forwarded: this many times the request body ...
QUEUED_PER_BODY_BYTE: Final = 4
#: ... plus this much per event, for what enrichment adds (ids, clocks, IP, a capped user agent).
ENRICHMENT_ALLOWANCE: Final = 1024
#: ... and this much more per event when the consent control stamps its consent (the consent
#: platform's cookie, GPC's opt-outs): a cookie whose consent would not fit is not read.
CONSENT_ALLOWANCE: Final = 1024
#: One request body after decompression (Segment's 500 KB per batch).
MAX_BODY_BYTES: Final = 500 * 1024
#: Events in one batch request.
MAX_BATCH_EVENTS: Final = 2500
#: Nesting depth of each event (objects and arrays; the event itself is level 1), however it was built.
MAX_DEPTH: Final = 64
