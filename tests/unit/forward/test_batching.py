"""Upstream requests from queued events: runs within the limits, halves, lazily read fields."""

from __future__ import annotations

import pytest

from edge.forward.batching import BatchLimits, Item, Request, split
from edge.forward.upstream import batch_overhead


@pytest.mark.parametrize("sizes", [[10], [10, 10, 10], [400, 1, 400], [2000, 10], [1] * 50])
def test_split_keeps_order_and_every_chunk_within_the_limits(sizes):
    items = [Item("q", None, b"x" * size) for size in sizes]
    limits = BatchLimits(max_events=4, max_bytes=batch_overhead() + 1000)
    chunks = split(items, limits)
    assert [item for chunk in chunks for item in chunk] == items
    for chunk in chunks:
        body = batch_overhead() + sum(len(i.data) for i in chunk) + len(chunk) - 1
        assert len(chunk) <= 4
        assert len(chunk) == 1 or body <= limits.max_bytes


def test_request_halves_keep_source_and_mode():
    items = [Item("q", None, b'{"messageId":"%d"}' % i) for i in range(5)]
    first, second = Request(items, "S", per_call=False, after_refresh=True).halves()
    assert (len(first.items), len(second.items)) == (2, 3)
    assert (second.source_id, second.per_call, second.after_refresh) == ("S", False, True)


def test_an_items_type_and_message_id_are_read_from_its_bytes_when_asked():
    item = Item("q", None, b'{"type":"track","messageId":"m-1","properties":{"type":"x"}}')
    assert (item.event_type, item.message_id) == ("track", "m-1")
    odd = Item("q", None, b'{"type":7,"messageId":null}')
    assert (odd.event_type, odd.message_id) == (None, None)
    broken = Item("q", None, b"{not json}")
    assert (broken.event_type, broken.message_id) == (None, None)
