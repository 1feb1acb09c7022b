"""The forwarder's archive copies on fakes: what MetaRouter confirmed, exactly as sent, once; replays
not archived again; what the archive queue refuses goes through the events queue, never lost."""

from __future__ import annotations

import json

from edge.core.archive import archive_message, gzip_lines, source_hash
from edge.core.observability import MetricName, MetricUnit, metrics
from edge.core.queueing import REPLAY, REPLAY_UNDELIVERED
from edge.core.secret import EdgeSecret, fingerprint
from edge.forward.batching import BatchLimits
from edge.forward.deadletter import Reason
from edge.forward.forwarding import QueuedMessage
from edge.forward.requeue import Requeue
from support.forwarding import (
    FakeArchiveQueue,
    FakeDeliveryLog,
    FakeRequeuer,
    ScriptedUpstream,
    answer,
    forward_rig,
    queued,
    track,
)

OPEN = EdgeSecret(writeKey="ILoveData123")
CLOSED = EdgeSecret(
    sources={"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}, labels={"ILoveData123": "web"}
)
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")
MINUTE_MS = 60_000


def test_confirmed_events_are_archived_under_the_source_s_hash_exactly_as_sent():
    archive = FakeArchiveQueue()
    rig = forward_rig(archive=archive)
    events = [track(1, properties={"total": 4.20, "name": "caf\u00e9"}), track(2)]
    result = rig.forwarder.forward([queued("q1", events)], MINUTE_MS)
    [batch] = archive.batches()
    assert batch.source == source_hash("ILoveData123")
    assert "ILoveData123" not in archive.bodies[0]
    sent = rig.upstream.calls[0].body["batch"]
    assert [json.loads(line) for line in batch.events] == sent == events
    assert batch.event_count == 2
    assert (result.failed, result.archived) == (frozenset(), 2)


def test_a_configured_label_names_the_source_and_each_source_gets_its_own_messages():
    archive = FakeArchiveQueue()
    rig = forward_rig(None, CLOSED, archive=archive)
    rig.forwarder.forward(
        [queued("q1", [track(1)], WEB), queued("q2", [track(2)], IOS), queued("q3", [track(3)], WEB)],
        MINUTE_MS,
    )
    assert sorted((b.source, b.event_count) for b in archive.batches()) == sorted(
        [("web", 2), (source_hash("OtherSource"), 1)]
    )
    assert [e["messageId"] for e in archive.events("web")] == ["m-1", "m-3"]


def test_only_what_a_207_accepts_is_archived_and_the_retried_rest_once_it_is_confirmed():
    archive = FakeArchiveQueue()
    upstream = ScriptedUpstream([answer(207, {"errors": [1]}), answer(200)])
    rig = forward_rig(upstream, archive=archive)
    rig.forwarder.forward([queued("q1", [track(1), track(2), track(3)])], MINUTE_MS)
    assert sorted(archive.ids()) == ["m-1", "m-2", "m-3"]
    assert len(rig.upstream.calls) == 2


def test_events_parked_or_never_confirmed_are_not_archived():
    archive = FakeArchiveQueue()
    upstream = ScriptedUpstream(lambda call: answer(400) if "m-2" in call.ids else answer(200))
    rig = forward_rig(upstream, archive=archive)
    rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert archive.ids() == ["m-1"]
    assert [letter.reason for letter in rig.dead_letters.letters] == [Reason.UPSTREAM_REJECTED]

    down = FakeArchiveQueue()
    rig = forward_rig(ScriptedUpstream(lambda _: answer(503)), archive=down)
    result = rig.forwarder.forward([queued("q2", [track(3)])], MINUTE_MS)
    assert down.bodies == []
    assert result.failed == {"q2"}


def test_unmapped_events_are_not_archived():
    archive = FakeArchiveQueue()
    rig = forward_rig(None, CLOSED, archive=archive)
    rig.forwarder.forward([queued("q1", [track(1)], "f" * 32)], MINUTE_MS)
    assert archive.bodies == []


def test_replayed_events_go_to_the_source_their_label_names_and_are_not_archived_again():
    archive = FakeArchiveQueue()
    rig = forward_rig(None, CLOSED, archive=archive)
    hashed = source_hash("OtherSource")
    result = rig.forwarder.forward(
        [queued("r1", [track(1)], "web", kind=REPLAY), queued("r2", [track(2)], hashed, kind=REPLAY)],
        MINUTE_MS,
    )
    assert sorted((c.source_id, tuple(c.ids)) for c in rig.upstream.calls) == [
        ("ILoveData123", ("m-1",)),
        ("OtherSource", ("m-2",)),
    ]
    assert archive.bodies == []
    assert result.failed == frozenset()


def test_a_replay_whose_label_names_no_source_is_parked_unmapped():
    rig = forward_rig(None, CLOSED, archive=FakeArchiveQueue())
    rig.forwarder.forward([queued("r1", [track(1)], "gone", kind=REPLAY)], MINUTE_MS)
    assert [letter.reason for letter in rig.dead_letters.letters] == [Reason.UNMAPPED_SOURCE]
    assert json.loads(rig.dead_letters.letters[0].body)["kind"] == REPLAY


def test_a_replay_is_sent_whatever_the_delivery_log_says_unless_only_undelivered_ones_are_asked_for():
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#m-1"})
    rig = forward_rig(None, OPEN, delivery_log=log, archive=FakeArchiveQueue())
    label = source_hash("ILoveData123")
    rig.forwarder.forward([queued("r1", [track(1), track(2)], label, kind=REPLAY)], MINUTE_MS)
    assert rig.upstream.calls[0].ids == ["m-1", "m-2"]
    assert log.claims == []

    rig = forward_rig(None, OPEN, delivery_log=log, archive=FakeArchiveQueue())
    result = rig.forwarder.forward(
        [queued("r2", [track(1), track(2)], label, kind=REPLAY_UNDELIVERED)], MINUTE_MS
    )
    assert [call.ids for call in rig.upstream.calls] == [["m-2"]]
    assert (result.skipped, result.failed) == (1, frozenset())


def test_the_undelivered_rest_of_a_replay_goes_back_as_a_replay():
    requeuer = FakeRequeuer()
    archive = FakeArchiveQueue()
    upstream = ScriptedUpstream(lambda call: answer(503) if "m-2" in call.ids else answer(200))
    rig = forward_rig(upstream, archive=archive, requeuer=requeuer, limits=BatchLimits(1), max_attempts=1)
    label = source_hash("ILoveData123")
    rig.forwarder.forward([queued("r2", [track(1), track(2)], label, kind=REPLAY)], MINUTE_MS)
    [remainder] = requeuer.sent
    assert isinstance(remainder, Requeue)
    [body] = remainder.bodies
    message = json.loads(body)
    assert (message["kind"], message["source"], [e["messageId"] for e in message["events"]]) == (
        REPLAY,
        label,
        ["m-2"],
    )
    assert archive.bodies == []


def test_what_the_archive_queue_refuses_goes_to_the_events_queue_and_the_message_is_done(monkeypatch):
    added: list[tuple[str, float]] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value: added.append((name, value)))
    requeuer = FakeRequeuer()
    rig = forward_rig(archive=FakeArchiveQueue(refuse=True), requeuer=requeuer)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert result.failed == frozenset()
    [body] = requeuer.bodies
    assert body.startswith('{"v":1,"kind":"archive",')
    assert (MetricName.ARCHIVE_ERRORS, 2) in added
    assert MetricUnit.Count  # the unit every count is published with


def test_what_neither_queue_takes_leaves_its_messages_to_sqs():
    requeuer = FakeRequeuer(refuse_bodies=True)
    rig = forward_rig(archive=FakeArchiveQueue(refuse=True), requeuer=requeuer)
    result = rig.forwarder.forward([queued("q1", [track(1)]), queued("q2", [track(2)])], MINUTE_MS)
    assert result.failed == {"q1", "q2"}


def _archive_body(*ids: int) -> str:
    data = gzip_lines([json.dumps(track(n)).encode() for n in ids])
    return archive_message("web", len(ids), [data])


def test_an_archive_message_on_the_events_queue_is_relayed_to_the_archive_queue():
    archive = FakeArchiveQueue()
    rig = forward_rig(archive=archive)
    body = _archive_body(7, 8)
    result = rig.forwarder.forward([QueuedMessage("a1", body), queued("q1", [track(1)])], MINUTE_MS)
    assert body in archive.bodies
    assert sorted(archive.ids()) == ["m-1", "m-7", "m-8"]
    assert [c.ids for c in rig.upstream.calls] == [["m-1"]]
    assert result.failed == frozenset()

    refused = forward_rig(archive=FakeArchiveQueue(refuse=True), requeuer=FakeRequeuer())
    assert refused.forwarder.forward([QueuedMessage("a1", body)], MINUTE_MS).failed == {"a1"}


def test_without_an_archive_an_archive_message_is_parked_not_lost():
    rig = forward_rig()
    body = _archive_body(7)
    rig.forwarder.forward([QueuedMessage("a1", body)], MINUTE_MS)
    [letter] = rig.dead_letters.letters
    assert (letter.reason, letter.body) == (Reason.INVALID_MESSAGE, body)


def test_a_message_of_an_unknown_kind_is_parked():
    rig = forward_rig(archive=FakeArchiveQueue())
    rig.forwarder.forward([queued("q1", [track(1)], kind="quarantine")], MINUTE_MS)
    assert [letter.reason for letter in rig.dead_letters.letters] == [Reason.INVALID_MESSAGE]
    assert rig.upstream.calls == []
