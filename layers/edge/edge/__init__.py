"""The edge's domain code, shared by both functions as one Lambda layer.

- ``edge.core``: what both functions share — the settings, the secret, the events-queue message
  format and queues, errors, timestamps, logging and metrics, the runtime hooks.
- ``edge.ingest``: the ingest function's side — decoding, validation and repairs, enrichment,
  privacy, first-party collection, the pixel, and the ingestor that queues what it accepts.
- ``edge.forward``: the forward function's side — batching, upstream answers, retries, events
  sent back or parked, the delivery log, the archive copies, and the forwarder.
- ``edge.archive``: the archive function's side — archive-queue messages written to the bucket.

Imports flow one way: ``ingest``, ``forward`` and ``archive`` import ``core`` and never each
other; ``core`` imports none of them. The package ``__init__`` files import nothing, so a
function loads only its side.
"""
