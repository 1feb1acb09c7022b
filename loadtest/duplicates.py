"""Why an event reached the upstream more than once: each duplicate is put down to one cause.

The causes, in the order they are tried (the first that explains an event takes all its extra
deliveries):

- ``client_retry``: a client sent the request again after an answer it did not get or could not
  use (a 503 after part of the request was queued, a dropped connection): ingest queued it twice;
- ``answered_late``: the upstream took a request but answered after the forwarder's read timeout,
  so the forwarder could not know and sent it again (genuinely ambiguous);
- ``forwarder_killed``: the event was in an invocation killed mid-way (genuinely ambiguous: what
  the upstream confirmed before the crash is not known to the next invocation);
- ``sqs_redelivered``: SQS handed its message out again while an invocation still had it (the
  visibility timeout ran out mid-invocation, or two receives raced in moto);
- ``confirmed``: none of these: the upstream had confirmed the event (2xx, or not named failed in
  a 207) and the edge sent it again anyway. The forwarder's promise is that this stays 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Final

CAUSES: Final = ("client_retry", "answered_late", "forwarder_killed", "sqs_redelivered", "confirmed")


def by_cause(duplicates: Mapping[str, int], explained: Mapping[str, Set[str]]) -> dict[str, int]:
    """Extra deliveries per cause: ``duplicates`` maps a ``messageId`` to the times it was received,
    ``explained`` maps a cause (all but ``confirmed``) to the ``messageId``s it can explain."""
    counts = dict.fromkeys(CAUSES, 0)
    for message_id, times in duplicates.items():
        cause = next((c for c in CAUSES[:-1] if message_id in explained.get(c, ())), CAUSES[-1])
        counts[cause] += times - 1
    return counts
