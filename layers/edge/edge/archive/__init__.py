"""The archive function's domain: archive-queue messages written to the archive bucket as gzip
JSON Lines, one object per Source, hour and invocation (``writing``), built by the composition
root (``wiring``). Imports ``edge.core``, never ``edge.ingest`` or ``edge.forward``."""
