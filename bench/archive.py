"""``python -m bench.archive``: what the archive costs per event, measured — the figures behind
its rows in the cost tables and ``make capacity`` (docs/operations.md, "The archive").

On varied ~1.3 KB events (``bench.upstream_gzip``'s: ids, clocks and values differ, as they do in
real traffic): the bytes per event of the forwarder's archive messages (gzip level 1, one member
per 100-event request, base64) and of the bucket's objects (level 6, a full 6 MB batch of the
archive function in one object); the forwarder's CPU per event to compress them; and the archive
function's CPU per event on a full batch (decompress, find each event's hour, compress), with the
bucket in memory so that only the function's own work is timed.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from typing import Any, Final

from bench.lambda_env import Tree

#: Events per forwarder invocation of single-event messages at ForwardBatchSize 100.
PER_INVOCATION: Final = 100
#: The archive function's batch: Lambda hands an SQS event source at most 6 MB.
BATCH_BYTES: Final = 6 * 1024 * 1024


def main() -> int:
    Tree().importable()
    from bench.upstream_gzip import _varied
    from edge.archive.writing import Archiver, Record
    from edge.core.archive import archive_message, gzip_lines
    from edge.forward.archiving import _LEVEL

    rng = random.Random(7)  # noqa: S311 - reproducible sample data
    events = [json.dumps(_varied(i, rng), separators=(",", ":")).encode() for i in range(40_000)]
    raw = sum(len(e) for e in events) / len(events)

    # The forwarder: one member per 100-event request, one message per invocation of them.
    samples, message_bytes = [], []
    for start in range(0, len(events), PER_INVOCATION):
        chunk = events[start : start + PER_INVOCATION]
        began = time.perf_counter()
        member = gzip_lines(chunk, _LEVEL)
        body = archive_message("0123456789abcdef", len(chunk), [member])  # a hash label's length
        samples.append((time.perf_counter() - began) / len(chunk))
        message_bytes.append(len(body.encode()) / len(chunk))
    forward_us = statistics.median(samples) * 1e6

    # The archive function: as many such messages as one 6 MB batch holds, written as one object.
    bodies = [
        archive_message(
            "0123456789abcdef", PER_INVOCATION, [gzip_lines(events[s : s + PER_INVOCATION], _LEVEL)]
        )
        for s in range(0, len(events), PER_INVOCATION)
    ]
    batch, size = [], 0
    for n, body in enumerate(bodies):
        if size + len(body) > BATCH_BYTES:
            break
        batch.append(Record(f"m{n}", body))
        size += len(body)
    bucket = _Bucket()
    archiver = Archiver(bucket, _Inline())  # type: ignore[arg-type]  # submit() is all it uses
    runs = []
    for _ in range(3):
        bucket.objects.clear()
        began = time.perf_counter()
        archiver.write(batch, "bench")
        runs.append(time.perf_counter() - began)
    archived = len(batch) * PER_INVOCATION
    object_bytes = sum(len(v) for v in bucket.objects.values()) / archived
    archive_us = statistics.median(runs) / archived * 1e6

    out = sys.__stdout__ or sys.stdout
    out.write(
        f"events: {len(events):,} varied, {raw:,.0f} B each as sent\n"
        f"forwarder: archive messages {statistics.median(message_bytes):,.0f} B per event (gzip level "
        f"{_LEVEL}, {PER_INVOCATION}-event members, base64); {forward_us:.1f} µs per event to build\n"
        f"archive function: a 6 MB batch is {len(batch):,} messages, {archived:,} events; "
        f"{archive_us:.1f} µs per event; objects {object_bytes:,.0f} B per event "
        f"(gzip level 6, {raw / object_bytes:.1f}x)\n"
    )
    return 0


class _Bucket:
    """The bucket in memory: the archive function's own work, timed without S3."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body


class _Inline:
    def submit(self, fn: Any, *args: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future


if __name__ == "__main__":
    import io
    import os

    sys.stdout = io.TextIOWrapper(open(os.devnull, "wb"))  # noqa: SIM115 - the handlers' log lines
    sys.exit(main())
