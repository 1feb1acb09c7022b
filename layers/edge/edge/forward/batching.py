"""Upstream requests: events grouped per Source ID into batches within the upstream's limits.

An ``Item`` is one event as queued (its bytes are sent as they are); a ``Request`` is the items
one request carries. ``plan`` turns an invocation's items into requests, in first-seen order per
Source ID; ``split`` cuts a Source's items into runs within the event-count and byte limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from pydantic_core import from_json

from edge.core.queueing import chunks
from edge.core.secret import EdgeSecret
from edge.forward.upstream import (
    BATCH_PATH,
    CUSTOM_PATH,
    CUSTOM_TYPE,
    Answer,
    batch_body,
    batch_overhead,
    custom_body,
)

__all__ = ["MAX_BATCH_BYTES", "BatchLimits", "Item", "Request", "memo", "plan", "resolver", "split"]

#: The upstream's request size limit (Segment's 500 KB per batch).
MAX_BATCH_BYTES: Final = 500 * 1024
_BATCH_OVERHEAD: Final = batch_overhead()


@dataclass(slots=True, eq=False)
class Item:
    """One event on its way upstream, as queued: its type and ``messageId`` are read only when
    needed (per-call mode, a 207, the delivery log)."""

    origin: str
    """The SQS ``messageId`` the event arrived in."""
    source: str | None
    """The inbound key's fingerprint (``None`` in open mode)."""
    data: bytes
    done: bool = False
    """Accepted upstream, parked, or already delivered: nothing left to do for it."""
    delivered: bool = False
    """Accepted upstream in this invocation, or found in the delivery log."""
    key: str | None = None
    """Its key in the delivery log, when there is one."""
    last_answer: Answer | None = None
    """The last retryable answer to it."""
    kind: str | None = None
    """Its message's kind: None for live events, ``replay`` or ``replay-undelivered`` for events
    sent again from the archive (``source`` is then the archive's label of the Source)."""
    archived: bool = False
    """Its copy is on the archive queue (or it needs none: it was sent again from the archive)."""
    _fields: tuple[str | None, str | None] | None = None

    @property
    def event_type(self) -> str | None:
        return self._read()[0]

    @property
    def message_id(self) -> str | None:
        return self._read()[1]

    def _read(self) -> tuple[str | None, str | None]:
        if self._fields is None:
            try:
                event = from_json(self.data)
            except ValueError:  # a hand-made message: the upstream's 400 will park it
                event = None
            if not isinstance(event, dict):
                event = {}
            event_type, message_id = event.get("type"), event.get("messageId")
            self._fields = (
                event_type if isinstance(event_type, str) else None,
                message_id if isinstance(message_id, str) else None,
            )
        return self._fields


@dataclass(slots=True, eq=False)
class Request:
    """Events for one Source ID sent together: a batch, or one event per call."""

    items: list[Item]
    source_id: str
    per_call: bool = False
    after_refresh: bool = False
    """Built from a secret fetched again after a 401/403: another refusal is not retried at once."""

    @property
    def custom(self) -> bool:
        """One of MetaRouter's custom events (always alone in its request)."""
        return self.per_call and self.items[0].event_type == CUSTOM_TYPE

    @property
    def path(self) -> str:
        if self.custom:
            return CUSTOM_PATH
        return f"/v1/{self.items[0].event_type}" if self.per_call else BATCH_PATH

    @property
    def message_ids(self) -> list[str | None]:
        return [item.message_id for item in self.items]

    def body(self, sent_at: str) -> bytes:
        if self.custom:
            return custom_body(self.items[0].data, self.source_id)
        data = [item.data for item in self.items]
        return data[0] if self.per_call else batch_body(data, sent_at)

    def halves(self) -> list[Request]:
        middle = len(self.items) // 2
        return [replace(self, items=self.items[:middle]), replace(self, items=self.items[middle:])]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How big one upstream batch request may get."""

    max_events: int = 100
    max_bytes: int = MAX_BATCH_BYTES


def split(items: Sequence[Item], limits: BatchLimits) -> list[list[Item]]:
    """Runs of consecutive items whose batch body stays within the byte and event limits.

    An item too large to share a request still gets one of its own (the upstream decides).
    """
    return list(
        chunks(
            items,
            lambda item: len(item.data),
            max_bytes=limits.max_bytes,
            max_count=limits.max_events,
            base=_BATCH_OVERHEAD,
        )
    )


def plan(items: Iterable[Item], secret: EdgeSecret, limits: BatchLimits) -> tuple[list[Request], list[Item]]:
    """Batch requests per Source ID (first-seen order), and the items whose source maps to none.
    A custom event gets a request of its own: MetaRouter takes them one per call."""
    groups: dict[str, list[Item]] = {}
    unmapped: list[Item] = []
    custom: list[Request] = []
    source_id_for = resolver(secret)
    for item in items:
        source_id = source_id_for(item)
        if source_id is None:
            unmapped.append(item)
        elif _is_custom(item):
            custom.append(Request([item], source_id, per_call=True))
        else:
            groups.setdefault(source_id, []).append(item)
    requests = [
        Request(chunk, source_id) for source_id, group in groups.items() for chunk in split(group, limits)
    ]
    return requests + custom, unmapped


def _is_custom(item: Item) -> bool:
    # Only an event that may be custom is decoded for its type (a Segment event never is until needed).
    return b'"custom"' in item.data and item.event_type == CUSTOM_TYPE


def resolver(secret: EdgeSecret) -> Callable[[Item], str | None]:
    """The Source ID of an item, remembered per source: a live event's source is its inbound key's
    fingerprint, a replayed one's the archive's label of the Source."""
    by_fingerprint = memo(secret.source_id_for)
    by_label = memo(secret.source_id_for_label)

    def source_id_for(item: Item) -> str | None:
        return by_label(item.source) if item.kind else by_fingerprint(item.source)

    return source_id_for


def memo(lookup: Callable[[str | None], str | None]) -> Callable[[str | None], str | None]:
    """``lookup`` remembering its answers: an invocation holds few sources and many events."""
    known: dict[str | None, str | None] = {}

    def cached(source: str | None) -> str | None:
        if source not in known:
            known[source] = lookup(source)
        return known[source]

    return cached
