"""The forward function's domain: queued events grouped and packed into upstream requests
(``batching``), sent and their answers decided (``upstream``), retried (``retrying``), the
undelivered sent back (``requeue``) or parked (``deadletter``), duplicates kept out by the
delivery log (``dedupe``), what was confirmed handed to the archive (``archiving``), all driven by
the forwarder (``forwarding``) and built by the composition root (``wiring``). Imports
``edge.core``, never ``edge.ingest``."""
