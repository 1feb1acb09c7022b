"""metarouter-edge shared domain code: decoding, validation, enrichment, queueing, forwarding."""
