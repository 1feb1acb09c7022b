"""Load and fault tests through the local stack: ``python -m loadtest [--faults]`` (``make load``).

Concurrent clients send Segment events the way real SDKs do (single events, batches, gzip,
``text/plain``, pixels) to the local gateway, retry what they must, and the run then checks
that every acknowledged event reached the upstream stand-in, and reports how fast and with how
many duplicates. Loopback only, bounded in events and time.
"""
