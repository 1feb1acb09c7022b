"""Why an event reached the upstream more than once: each extra delivery is put down to one cause.

A delivery the upstream answered after the forwarder's read timeout explains the next delivery
of its event (``answered_late``); so does one whose answer no forwarder read (``answer_unread``:
the invocation was killed with the request in flight — the forwarder logs, at DEBUG, the
``messageId``s of each confirmation it reads, and a delivery without one is such a request).
Neither can any edge tell from a request the upstream never took. The other extra deliveries of
an event follow a delivery the forwarder saw confirmed, and go to the first of these causes that
explains the event:

- ``client_retry``: a client sent the request again after an answer it did not get or could not
  use (a 503 after part of the request was queued, a dropped connection): ingest queued it twice;
- ``sqs_redelivered``: SQS handed its message out again while an invocation still had it, or
  after one had finished with it (the load test's 20 s visibility timeout ran out before the
  invocation was settled, or two receives raced in moto): two invocations had the event at once;
- ``record_in_flight`` (delivery log on): killed after it had read the confirmation, while the
  write of its delivery record had not completed (the forwarder logs each write at DEBUG): the
  window between the upstream's 2xx and a durable record that any log has, as long as a write;
- ``forwarder_killed``: the event was in an invocation killed mid-way after it had read the
  upstream's confirmation, before it had recorded it (the delivery log) or deleted its message;
- ``confirmed``: none of these: the upstream had confirmed the event (2xx, or not named failed in
  a 207) and the edge sent it again anyway. The forwarder's promise is that this stays 0.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import Any, Final

#: Why an event is in the archive more than once (``archive_by_cause``).
ARCHIVE_CAUSES: Final = ("confirmed_again", "archive_rewritten")
CAUSES: Final = (
    "client_retry",
    "answered_late",
    "answer_unread",
    "record_in_flight",
    "forwarder_killed",
    "sqs_redelivered",
    "confirmed",
)
_AFTER_CONFIRMED: Final = ("client_retry", "sqs_redelivered", "forwarder_killed")


def by_cause(
    duplicates: Mapping[str, int],
    late: Mapping[str, int],
    explained: Mapping[str, Set[str]],
    ids: dict[str, list[str]] | None = None,
    *,
    read: Mapping[str, int] | None = None,
    recorded: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Extra deliveries per cause.

    ``duplicates`` maps a ``messageId`` to the times it was received, ``late`` to the times it
    was received in an answer after the read timeout, and ``explained`` maps the causes between
    ``client_retry`` and ``sqs_redelivered`` to the ``messageId``s they can explain. ``ids``, if
    given, gets the ``messageId``s put down to each cause. ``read``, if given, maps a
    ``messageId`` to the confirmations of it the forwarder read (None: not traced, no
    ``answer_unread``); ``recorded``, the delivery records of it written (None: no log).
    """
    counts = dict.fromkeys(CAUSES, 0)
    for message_id, times in duplicates.items():
        after_late = min(late.get(message_id, 0), times - 1)
        counts["answered_late"] += after_late
        if after_late and ids is not None:
            ids.setdefault("answered_late", []).append(message_id)
        unread = 0
        if read is not None:
            unanswered = times - late.get(message_id, 0) - read.get(message_id, 0)
            unread = max(0, min(unanswered, times - 1 - after_late))
            counts["answer_unread"] += unread
            if unread and ids is not None:
                ids.setdefault("answer_unread", []).append(message_id)
        after_late += unread
        if times - 1 > after_late:
            cause = next((c for c in _AFTER_CONFIRMED if message_id in explained.get(c, ())), "confirmed")
            unrecorded = read is not None and recorded is not None
            if unrecorded and recorded.get(message_id, 0) < read.get(message_id, 0):  # type: ignore[union-attr]
                cause = "record_in_flight" if cause == "forwarder_killed" else cause
            counts[cause] += times - 1 - after_late
            if ids is not None:
                ids.setdefault(cause, []).append(message_id)
    return counts


_SUMMED: Final = (
    "events_forwarded",
    "events_requeued",
    "events_skipped",
    "messages_checkpointed",
    "log_claims",
    "log_reads",
    "log_writes",
    "log_errors",
    "events_held",
)


def confirmations_read(log: Path, message: str = "upstream confirmed") -> Counter[str]:
    """How often the forwarder read a confirmation of each ``messageId`` (its DEBUG lines; with
    ``message="deliveries recorded"``, how often it wrote a delivery record of it)."""
    read: Counter[str] = Counter()
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for line in lines:
        if f'"{message}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a line cut by a kill
            continue
        read.update(str(m) for m in record.get("messageIds") or ())
    return read


def _records(log: Path, message: str) -> Iterator[dict[str, Any]]:
    """The JSON log lines of ``log`` whose ``message`` is ``message``."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == message:
            yield record


def forwarder_figures(log: Path) -> dict[str, Any]:
    """Totals over the forwarder's ``messages forwarded`` log lines, and the delivery log's time
    per invocation (p50, p99, max in ms) when it was on."""
    totals = dict.fromkeys(("invocations", *_SUMMED), 0)
    log_ms: list[float] = []
    for record in _records(log, "messages forwarded"):
        totals["invocations"] += 1
        for name in _SUMMED:
            totals[name] += int(record.get(name) or 0)
        if "log_ms" in record:
            log_ms.append(float(record["log_ms"]))
    figures: dict[str, Any] = dict(totals)
    if log_ms:
        log_ms.sort()
        figures["log_ms"] = {
            "p50": log_ms[len(log_ms) // 2],
            "p99": log_ms[min(len(log_ms) - 1, int(len(log_ms) * 0.99))],
            "max": log_ms[-1],
        }
    return figures


def archive_by_cause(
    archived: Mapping[str, int],
    confirmed: Mapping[str, int],
    delivery_causes: Mapping[str, list[str]],
) -> dict[str, int]:
    """Extra archive copies per cause.

    The forwarder archives an event each time MetaRouter confirms it, so an event confirmed twice
    is archived twice: ``confirmed_again``, split by the cause of its extra delivery
    (``confirmed_again:client_retry``, ``…:forwarder_killed``; ``by_cause``'s ``ids``). Copies
    beyond the confirmations are the archive's own: ``archive_rewritten`` — the archive function
    wrote a batch again (an S3 outage cut its answer short, or SQS handed the batch out twice).
    ``confirmed`` maps a ``messageId`` to the confirmations the forwarder read (its DEBUG lines), or,
    when those were not written, to the times the upstream received it.
    """
    cause_of = {m: cause for cause, ids in delivery_causes.items() for m in ids}
    counts: dict[str, int] = {}
    for message_id, copies in archived.items():
        extra = copies - 1
        if extra <= 0:
            continue
        again = min(extra, max(0, confirmed.get(message_id, 1) - 1))
        if again:
            name = f"confirmed_again:{cause_of.get(message_id, 'unknown')}"
            counts[name] = counts.get(name, 0) + again
        if extra > again:
            counts["archive_rewritten"] = counts.get("archive_rewritten", 0) + extra - again
    return counts


def archive_figures(log: Path) -> dict[str, int]:
    """Totals over the archive function's ``events archived`` log lines."""
    totals = dict.fromkeys(
        ("invocations", "objects", "events_archived", "archive_errors", "messages_failed"), 0
    )
    for record in _records(log, "events archived"):
        totals["invocations"] += 1
        for name in ("objects", "events_archived", "archive_errors", "messages_failed"):
            totals[name] += int(record.get(name) or 0)
    return totals
