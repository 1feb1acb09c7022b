"""Size and shape limits of the ingestion API (the README's "Limits" table)."""

from typing import Final

__all__ = [
    "CONSENT_ALLOWANCE",
    "ENRICHMENT_ALLOWANCE",
    "INFLATION_FLOOR",
    "INFLATION_PER_EVENT",
    "MAX_BATCH_EVENTS",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_EVENT_BYTES",
    "MAX_INFLATION_RATIO",
    "MAX_REJECTIONS_SHOWN",
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
#: One request body after decompression (Segment's 500 KB per batch); a compressed body larger
#: than this is refused unread, since no JSON body within the limit compresses to more.
MAX_BODY_BYTES: Final = 500 * 1024
#: A compressed body inflates to at most this many times its size, so what a request can queue,
#: quarantine and be answered stays in proportion to what it sent. Measured: batches of
#: segment-analytics-python and rudder-sdk-python compress 5-9x (varied events) to 11-16x
#: (near-identical ones, 100 to 2,500 events); mobile-style batches whose events repeat a 1 KB
#: context compress 15x (20 events) to 28x (300 events). 64 leaves twice that, and more.
MAX_INFLATION_RATIO: Final = 64
#: ... each event in it counting this much more, for what queueing it (ids, clocks, address) or
#: quarantining it (index, reason, errors, route, time) adds: so a thousand ``{}`` compressed
#: into a few bytes cannot fill the quarantine, nor bare events the queue. (The SDK batches above
#: then measure 11-25x, the mobile-style ones 19-34x.)
INFLATION_PER_EVENT: Final = 256
#: ... except that a body inflating to no more than this is never refused for its ratio: a
#: request this small can do no more than a plain body of the same size.
INFLATION_FLOOR: Final = 16 * 1024
#: Events in one batch request.
MAX_BATCH_EVENTS: Final = 2500
#: Rejected events an answer lists (``rejected``, or an ``invalid_batch``'s ``details``); its
#: ``rejectedCount`` says how many there were in all.
MAX_REJECTIONS_SHOWN: Final = 100
#: Nesting depth of each event (objects and arrays; the event itself is level 1), however it was built.
MAX_DEPTH: Final = 64
