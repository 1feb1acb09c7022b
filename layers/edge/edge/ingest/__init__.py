"""The ingest function's domain: a request decoded (``decoding``), its events repaired
(``repairs``) and validated against the Segment contract (``models``), filtered and flagged
(``privacy``), enriched (``enrichment``) and queued by the ingestor (``ingestion``); the route
table (``routes``), the API's limits (``limits``), the pixel (``pixel``), first-party cookies and
origin checks (``firstparty``), the outcome line (``outcomes``), the HTTP request and answers
(``http``) and the composition root (``wiring``). Imports ``edge.core``, never ``edge.forward``."""
