"""How ingest stores what it rejects: whole when it fits, else its head (pure helpers, no queue)."""

from __future__ import annotations

from edge.ingestion import QUARANTINE_EVENT_BYTES, QUARANTINE_HEAD_BYTES, _quarantinable
from edge.queueing import serialize


def test_a_rejected_event_of_exactly_the_quarantine_size_is_stored_whole():
    event = {"p": "x" * (QUARANTINE_EVENT_BYTES - len(b'{"p":""}'))}
    assert len(serialize(event)) == QUARANTINE_EVENT_BYTES
    assert _quarantinable(event, "m-1") == event


def test_a_larger_one_is_stored_as_its_head_cut_between_characters():
    # Two-byte characters after a 7-byte prefix: the head's last byte would split one of them.
    event = {"pp": "é" * QUARANTINE_EVENT_BYTES}
    stored = _quarantinable(event, "m-1")
    assert stored == {
        "truncated": True,
        "bytes": len(serialize(event)),
        "messageId": "m-1",
        "head": '{"pp":"' + "é" * ((QUARANTINE_HEAD_BYTES - 7) // 2),
    }
