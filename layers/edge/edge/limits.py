"""Size and shape limits of the ingestion API (SPEC §2 "Limits")."""

from typing import Final

__all__ = ["MAX_BATCH_EVENTS", "MAX_BODY_BYTES", "MAX_DEPTH", "MAX_EVENT_BYTES"]

#: One event, serialized (Segment's 32 KB per call).
MAX_EVENT_BYTES: Final = 32 * 1024
#: One request body after decompression (Segment's 500 KB per batch).
MAX_BODY_BYTES: Final = 500 * 1024
#: Events in one batch request.
MAX_BATCH_EVENTS: Final = 2500
#: Nesting depth of the request's JSON (objects and arrays).
MAX_DEPTH: Final = 64
