"""A message partly delivered: only what the upstream did not confirm goes back, with its attempts."""

from __future__ import annotations

import json

from edge.core.observability import metrics
from edge.core.secret import EdgeSecret, fingerprint
from edge.forward.batching import BatchLimits
from edge.forward.deadletter import Reason
from edge.forward.dedupe import CLAIM_MARGIN
from support.forwarding import (
    FakeDeliveryLog,
    FakeRequeuer,
    ScriptedUpstream,
    answer,
    forward_rig,
    queued,
    track,
)

MINUTE_MS = 60_000
CLOSED = EdgeSecret(sources={"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"})
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")


def failing(*ids: str, status: int = 503):
    """An upstream that refuses (``status``) every request carrying one of ``ids``, accepts the rest."""

    def respond(call):
        return answer(status) if set(call.ids) & set(ids) else answer(200)

    return ScriptedUpstream(respond)


def rig_with(upstream, *secrets, **options):
    requeuer = FakeRequeuer()
    rig = forward_rig(upstream, *secrets, requeuer=requeuer, max_attempts=2, **options)
    return rig, requeuer


def sent_ids(rig) -> list[str]:
    return [m for call in rig.upstream.calls for m in call.ids]


def test_only_the_unconfirmed_request_of_a_message_goes_back_and_the_message_is_acknowledged():
    events = [track(i) for i in range(6)]
    rig, requeuer = rig_with(failing("m-4"), limits=BatchLimits(max_events=2), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", events, attempts=2)], MINUTE_MS)
    assert result.failed == frozenset()  # acknowledged: its remainder is on the queue
    assert result.forwarded == 4
    assert result.requeued == 2
    [remainder] = requeuer.sent
    assert (remainder.origin, remainder.attempts) == ("q1", 2)
    assert requeuer.ids() == ["m-4", "m-5"]
    assert json.loads(remainder.bodies[0])["source"] is None


def test_a_207_sends_back_only_the_items_it_named_failed():
    named = answer(207, {"errors": [{"messageId": "m-2", "status": 503}]})
    rig, requeuer = rig_with(ScriptedUpstream(lambda call: named), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2), track(3)])], MINUTE_MS)
    assert result.failed == frozenset()
    assert requeuer.ids() == ["m-2"]


def test_a_message_none_of_whose_events_got_through_is_left_to_sqs_whole():
    rig, requeuer = rig_with(failing("m-1"), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert result.failed == frozenset({"q1"})
    assert requeuer.sent == []


def test_a_remainder_that_cannot_be_sent_back_leaves_the_whole_message_to_sqs():
    rig, requeuer = rig_with(failing("m-2"), max_deliveries=5)
    requeuer.refuse = {"q1"}
    rig.forwarder.limits = BatchLimits(max_events=1)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)]), queued("q2", [track(3)])], MINUTE_MS)
    assert result.failed == frozenset({"q1"})  # today's behaviour: nothing is lost
    assert result.requeued == 0


def test_without_a_requeuer_a_partly_delivered_message_is_redelivered_whole():
    rig = forward_rig(failing("m-2"), limits=BatchLimits(max_events=1), max_attempts=2)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert result.failed == frozenset({"q1"})


def test_events_still_failing_at_the_last_delivery_are_parked_with_the_last_answer():
    rig, requeuer = rig_with(failing("m-2", status=503), limits=BatchLimits(max_events=1), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)], attempts=5)], MINUTE_MS)
    assert result.failed == frozenset()
    assert requeuer.sent == []
    [letter] = rig.dead_letters.letters
    assert (letter.reason, letter.origin, letter.status) == (Reason.ATTEMPTS_EXHAUSTED, "q1", 503)
    assert [e["messageId"] for e in json.loads(letter.body)["events"]] == ["m-2"]  # not the confirmed m-1
    assert letter.detail == "Not delivered after 5 deliveries; the upstream last answered 503."


def test_a_timeout_on_the_last_delivery_is_named_in_the_letter():
    rig, _ = rig_with(ScriptedUpstream(lambda call: answer(None)), max_deliveries=3)
    rig.forwarder.forward([queued("q1", [track(1)], attempts=4)], MINUTE_MS)
    [letter] = rig.dead_letters.letters
    assert letter.status is None
    assert letter.detail == "Not delivered after 4 deliveries; the upstream last failed (timeout)."


def test_a_last_delivery_with_no_time_left_to_send_parks_its_events_saying_so():
    rig, _ = rig_with(failing("m-1"), max_deliveries=3)
    result = rig.forwarder.forward([queued("q1", [track(1)], attempts=3)], 0)
    assert rig.upstream.calls == []
    [letter] = rig.dead_letters.letters
    assert (letter.reason, letter.status) == (Reason.ATTEMPTS_EXHAUSTED, None)
    assert letter.detail == "Not delivered after 3 deliveries; no request was answered in the last."
    assert result.failed == frozenset()


def test_before_the_last_delivery_nothing_is_parked_for_failing():
    rig, _ = rig_with(failing("m-1"), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1)], attempts=4)], MINUTE_MS)
    assert rig.dead_letters.letters == []
    assert result.failed == frozenset({"q1"})


def test_when_the_exhausted_letter_cannot_be_parked_sqs_keeps_the_message():
    rig, requeuer = rig_with(failing("m-1"), max_deliveries=2)
    rig.dead_letters.available = False
    result = rig.forwarder.forward([queued("q1", [track(1)], attempts=2)], MINUTE_MS)
    assert result.failed == frozenset({"q1"})
    assert requeuer.sent == []


def test_a_poison_event_is_parked_and_its_confirmed_batch_mates_are_not_sent_again():
    def respond(call):
        if "m-1" in call.ids:
            return answer(400, {"error": "invalid"})
        return answer(503) if "m-3" in call.ids else answer(200)

    rig, requeuer = rig_with(ScriptedUpstream(respond), limits=BatchLimits(max_events=2), max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(i) for i in range(4)])], MINUTE_MS)
    assert result.failed == frozenset()
    parked = [json.loads(letter.body)["events"][0]["messageId"] for letter in rig.dead_letters.letters]
    assert parked == ["m-1"]
    assert requeuer.ids() == ["m-2", "m-3"]  # the request with m-3 failed whole: both go back


# ---------------------------------------------------------------- the delivery log


def test_events_in_the_delivery_log_are_skipped_and_only_confirmed_ones_are_recorded():
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#m-1"})
    rig, requeuer = rig_with(failing("m-3"), delivery_log=log, max_deliveries=5)
    rig.forwarder.limits = BatchLimits(max_events=1)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2), track(3)])], MINUTE_MS)
    assert sorted(set(sent_ids(rig))) == ["m-2", "m-3"]
    # One claim of every key; the retry follows within the claim's fresh time: no second one.
    assert log.claims == [["ILoveData123#m-1", "ILoveData123#m-2", "ILoveData123#m-3"]]
    assert log.reads == []
    assert [k for write in log.writes for k in write] == ["ILoveData123#m-2"]
    assert (result.skipped, result.forwarded, result.failed) == (1, 1, frozenset())
    assert requeuer.ids() == ["m-3"]


def test_the_delivery_log_keys_events_per_source_id():
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#m-1"})
    rig, _ = rig_with(None, CLOSED, delivery_log=log)
    rig.forwarder.forward([queued("q1", [track(1)], WEB), queued("q2", [track(1)], IOS)], MINUTE_MS)
    assert [(c.source_id, c.ids) for c in rig.upstream.calls] == [("OtherSource", ["m-1"])]


def test_an_event_queued_twice_in_one_invocation_is_sent_once():
    log = FakeDeliveryLog()
    rig, _ = rig_with(None, delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)]), queued("q2", [track(1)])], MINUTE_MS)
    assert sent_ids(rig) == ["m-1", "m-2"]
    assert (result.forwarded, result.skipped, result.failed) == (2, 1, frozenset())


def test_a_twin_of_an_event_that_failed_goes_back_with_its_own_message():
    log = FakeDeliveryLog()
    rig, requeuer = rig_with(failing("m-1"), delivery_log=log, max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1)]), queued("q2", [track(1), track(2)])], MINUTE_MS)
    # m-1 and m-2 travel in one request: it failed, so neither message made progress.
    assert result.failed == frozenset({"q1", "q2"})
    assert requeuer.sent == []


def test_an_unreachable_delivery_log_never_holds_events_up():
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#m-1"}, down=True)
    rig, _ = rig_with(None, delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert sent_ids(rig) == ["m-1", "m-2"]  # at least once, as without it
    assert result.failed == frozenset()


def test_without_a_delivery_log_nothing_is_read_or_skipped():
    rig, _ = rig_with(None)
    result = rig.forwarder.forward([queued("q1", [track(1)]), queued("q2", [track(1)])], MINUTE_MS)
    assert sent_ids(rig) == ["m-1", "m-1"]
    assert result.skipped == 0


def test_confirmed_events_are_recorded_request_by_request_not_at_the_end():
    log = FakeDeliveryLog()
    rig, _ = rig_with(None, delivery_log=log, limits=BatchLimits(max_events=30))
    rig.forwarder.forward([queued("q1", [track(i) for i in range(70)])], MINUTE_MS)
    assert [len(write) for write in log.writes] == [30, 30, 10]  # 25 or more waiting: written at once


def test_a_retry_after_the_claim_went_stale_claims_again_and_skips_what_another_invocation_delivered():
    log = FakeDeliveryLog()

    def respond(call):
        if len(rig.upstream.calls) == 1:
            # A long Retry-After: the claims expire meanwhile, and a copy of m-2 goes out elsewhere.
            log.claimed.clear()
            log.delivered_keys.add("ILoveData123#m-2")
            return answer(503, retry_after=CLAIM_MARGIN)
        return answer(200)

    rig, _ = rig_with(ScriptedUpstream(respond), delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [["m-1", "m-2"], ["m-1"]]
    assert (result.forwarded, result.skipped, result.failed) == (1, 1, frozenset())
    assert len(log.claims) == 2


def test_a_retry_is_not_sent_when_everything_in_it_was_delivered_meanwhile():
    log = FakeDeliveryLog()

    def respond(call):
        log.claimed.clear()
        log.delivered_keys.update({"ILoveData123#m-1", "ILoveData123#m-2"})
        return answer(503, retry_after=CLAIM_MARGIN)

    rig, _ = rig_with(ScriptedUpstream(respond), delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert len(rig.upstream.calls) == 1
    assert (result.skipped, result.failed) == (2, frozenset())


def _forwarded_line(log_output) -> dict:
    [line] = [
        json.loads(text) for text in log_output.getvalue().splitlines() if '"messages forwarded"' in text
    ]
    return line


def test_the_invocation_s_line_counts_the_messages_left_to_sqs_and_the_delivery_log_s_work(log_output):
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#m-0"})
    rig, _ = rig_with(failing("m-2"), limits=BatchLimits(max_events=1), delivery_log=log)
    rig.forwarder.forward(
        [queued("q0", [track(0)]), queued("q1", [track(1)]), queued("q2", [track(2)])], MINUTE_MS
    )
    line = _forwarded_line(log_output)
    assert (line["messages"], line["failed_messages"], line["events_forwarded"], line["events_skipped"]) == (
        3,
        1,
        1,
        1,
    )
    # 3 claimed before sending (m-2's retry follows at once: its claim is fresh), 1 written.
    assert (line["log_claims"], line["log_reads"], line["log_writes"]) == (3, 0, 1)


def test_an_event_another_invocation_holds_is_not_sent_and_goes_back_unless_delivered_meanwhile():
    log = FakeDeliveryLog(held_keys={"ILoveData123#m-2", "ILoveData123#m-3"})

    def respond(call):
        log.delivered_keys.add("ILoveData123#m-3")  # the other invocation confirms m-3 meanwhile
        return answer(200)

    rig, requeuer = rig_with(ScriptedUpstream(respond), delivery_log=log, max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2), track(3)])], MINUTE_MS)
    assert sent_ids(rig) == ["m-1"]
    # Read once at the end: m-3 is done, m-2 goes back with the rest of its message.
    assert [sorted(keys) for keys in log.reads] == [["ILoveData123#m-2", "ILoveData123#m-3"]]
    assert requeuer.ids() == ["m-2"]
    assert (result.forwarded, result.skipped, result.failed) == (1, 1, frozenset())


def test_a_message_all_of_whose_events_another_invocation_holds_is_redelivered_by_sqs():
    log = FakeDeliveryLog(held_keys={"ILoveData123#m-1"})
    rig, requeuer = rig_with(ScriptedUpstream(), delivery_log=log, max_deliveries=5)
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert rig.upstream.calls == []
    assert result.failed == frozenset({"q1"})
    assert requeuer.sent == []


def test_claims_that_cannot_be_written_send_the_events_anyway_counted_and_logged(log_output):
    metrics.clear_metrics()
    log = FakeDeliveryLog(down=True)
    rig, _ = rig_with(ScriptedUpstream(), delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert sent_ids(rig) == ["m-1", "m-2"]
    assert result.failed == frozenset()  # delivered: acknowledged, though nothing was recorded
    text = log_output.getvalue()
    assert "delivery log claims failed: sending without them" in text
    assert "could not record deliveries" in text
    line = _forwarded_line(log_output)
    assert line["log_errors"] == 2 + 1  # two events unclaimed, one write failed
    assert metrics.metric_set["DeliveryLogErrors"]["Value"] == [3.0]
    metrics.clear_metrics()


def test_a_request_split_after_its_claim_is_not_claimed_again():
    log = FakeDeliveryLog()

    def respond(call):
        return answer(413) if len(call.ids) > 1 else answer(200)

    rig, _ = rig_with(ScriptedUpstream(respond), delivery_log=log)
    rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [["m-1", "m-2"], ["m-1"], ["m-2"]]
    assert log.claims == [["ILoveData123#m-1", "ILoveData123#m-2"]]


def test_without_a_delivery_log_the_line_has_no_log_figures(log_output):
    rig, _ = rig_with(ScriptedUpstream())
    rig.forwarder.forward([queued("q0", [track(0)])], MINUTE_MS)
    assert "log_reads" not in _forwarded_line(log_output)


# ---------------------------------------------------------------- checkpoints


def test_a_long_invocation_deletes_each_finished_message_as_it_goes_off_the_main_thread():
    def respond(call):
        rig.clock.now += 0.6  # slow answers: a kill late in this invocation would cost much
        return answer(503) if "m-3" in call.ids else answer(200)

    rig, requeuer = rig_with(ScriptedUpstream(respond), limits=BatchLimits(max_events=1), max_deliveries=5)
    messages = [queued(f"q{i}", [track(i)]) for i in range(4)] + [queued("q9", [track(9), track(3)])]
    result = rig.forwarder.forward(messages, MINUTE_MS)
    # At 1.2 s q0 and q1 were done, at 2.4 s q2 (its answer came at 1.8 s) and q3 failed: kept.
    # q9 is partly delivered: it is settled at the end, its m-3 sent back to the queue.
    assert requeuer.acknowledged == ["rh-q0", "rh-q1", "rh-q2"]
    assert result.failed == frozenset({"q3"})
    assert requeuer.ids() == ["m-3"]


def test_a_short_invocation_deletes_nothing_before_its_end():
    rig, requeuer = rig_with(ScriptedUpstream(), limits=BatchLimits(max_events=1))
    result = rig.forwarder.forward([queued(f"q{i}", [track(i)]) for i in range(50)], MINUTE_MS)
    assert requeuer.acknowledged == []
    assert result.failed == frozenset()


def test_a_message_whose_events_were_parked_is_not_deleted_before_its_letter_is_sent():
    def respond(call):
        rig.clock.now += 2
        return answer(400, {"error": "invalid"})

    rig, requeuer = rig_with(ScriptedUpstream(respond), limits=BatchLimits(max_events=1))
    rig.forwarder.forward([queued("q0", [track(0)]), queued("q1", [track(1)])], MINUTE_MS)
    assert requeuer.acknowledged == []
    assert len(rig.dead_letters.letters) == 2
