"""The forwarding policy (README) on fakes: grouping, splitting, every answer class, deadlines."""

from __future__ import annotations

import json

import pytest

from edge.core.errors import TransientError
from edge.core.observability import MetricName, MetricUnit, metrics
from edge.core.secret import EdgeSecret, fingerprint
from edge.forward.batching import BatchLimits
from edge.forward.deadletter import Reason
from edge.forward.forwarding import ForwardResult, QueuedMessage
from edge.forward.upstream import batch_overhead
from support.forwarding import ScriptedUpstream, answer, forward_rig, queued, track

OPEN = EdgeSecret(writeKey="ILoveData123")
CLOSED = EdgeSecret(sources={"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"})
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")
MINUTE_MS = 60_000


def _letters(rig):
    return [
        (
            letter.reason,
            letter.origin,
            letter.status,
            [e["messageId"] for e in json.loads(letter.body)["events"]],
        )
        for letter in rig.dead_letters.letters
    ]


def test_a_message_becomes_one_batch_request_for_its_source():
    rig = forward_rig()
    result = rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    [call] = rig.upstream.calls
    assert (call.path, call.source_id, call.ids) == ("/v1/batch", "ILoveData123", ["m-1", "m-2"])
    assert call.body["batch"] == [track(1), track(2)]
    assert set(call.body) == {"batch", "sentAt"}
    assert result == ForwardResult(frozenset(), forwarded=2, dead_lettered=0)


def test_events_of_several_messages_are_grouped_by_source_id():
    rig = forward_rig(None, CLOSED)
    messages = [
        queued("q1", [track(1)], WEB),
        queued("q2", [track(2)], IOS),
        queued("q3", [track(3), track(4)], WEB),
    ]
    result = rig.forwarder.forward(messages, MINUTE_MS)
    assert [(c.source_id, c.ids) for c in rig.upstream.calls] == [
        ("ILoveData123", ["m-1", "m-3", "m-4"]),
        ("OtherSource", ["m-2"]),
    ]
    assert result.failed == frozenset()


def test_requests_are_split_at_the_event_count_limit():
    rig = forward_rig(limits=BatchLimits(max_events=3))
    rig.forwarder.forward([queued("q1", [track(i) for i in range(7)])], MINUTE_MS)
    assert [len(c.ids) for c in rig.upstream.calls] == [3, 3, 1]


def test_requests_are_split_at_the_byte_limit():
    events = [track(i, properties={"pad": "x" * 1000}) for i in range(10)]
    one = len(json.dumps(events[0], separators=(",", ":")))
    limit = batch_overhead() + 3 * one + 2  # three events and their two commas
    rig = forward_rig(limits=BatchLimits(max_events=100, max_bytes=limit))
    rig.forwarder.forward([queued("q1", events)], MINUTE_MS)
    assert [len(c.ids) for c in rig.upstream.calls] == [3, 3, 3, 1]
    assert [i for c in rig.upstream.calls for i in c.ids] == [f"m-{i}" for i in range(10)]


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"index": 1}, {"messageId": "m-3"}]},
        {"failed": [1, "m-3"]},
        [{"index": 1, "messageId": "m-1"}, {"messageId": "m-3", "status": 500}],
    ],
)
def test_207_resends_only_the_items_it_names(body):
    rig = forward_rig(ScriptedUpstream([answer(207, body)]))
    result = rig.forwarder.forward([queued("q1", [track(i) for i in range(5)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [[f"m-{i}" for i in range(5)], ["m-1", "m-3"]]
    assert result == ForwardResult(frozenset(), forwarded=5, dead_lettered=0)


def test_207_item_refused_for_good_is_parked_not_resent():
    body = {"errors": [{"index": 0, "status": 422}, {"index": 2, "status": 503}]}
    rig = forward_rig(ScriptedUpstream([answer(207, body)]))
    result = rig.forwarder.forward([queued("q1", [track(0), track(1), track(2)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [["m-0", "m-1", "m-2"], ["m-2"]]
    assert _letters(rig) == [(Reason.UPSTREAM_REJECTED, "q1", 422, ["m-0"])]
    assert result == ForwardResult(frozenset(), forwarded=2, dead_lettered=1)


@pytest.mark.parametrize(
    "body", [b"", b"not json", {"ok": False}, {"errors": [{"index": 9}]}, {"errors": [{}]}]
)
def test_207_that_names_nothing_recognisable_resends_the_whole_request(body):
    rig = forward_rig(ScriptedUpstream([answer(207, body)]))
    rig.forwarder.forward([queued("q1", [track(0), track(1)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [["m-0", "m-1"], ["m-0", "m-1"]]


def test_207_with_an_empty_error_list_accepts_everything():
    rig = forward_rig(ScriptedUpstream([answer(207, {"errors": []})]))
    result = rig.forwarder.forward([queued("q1", [track(0), track(1)])], MINUTE_MS)
    assert len(rig.upstream.calls) == 1
    assert result.forwarded == 2


def test_413_splits_the_request_in_halves_until_accepted():
    rig = forward_rig(ScriptedUpstream(lambda call: answer(413 if len(call.ids) > 2 else 200)))
    result = rig.forwarder.forward([queued("q1", [track(i) for i in range(6)])], MINUTE_MS)
    assert [c.ids for c in rig.upstream.calls] == [
        ["m-0", "m-1", "m-2", "m-3", "m-4", "m-5"],
        ["m-0", "m-1", "m-2"],
        ["m-3", "m-4", "m-5"],
        ["m-0"],
        ["m-1", "m-2"],
        ["m-3"],
        ["m-4", "m-5"],
    ]
    assert result == ForwardResult(frozenset(), forwarded=6, dead_lettered=0)
    assert rig.clock.sleeps == []


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_poison_event_is_isolated_and_parked_and_the_rest_forwarded(status):
    def respond(call):
        return answer(status, {"error": "bad event ILoveData123"}) if "m-2" in call.ids else answer(200)

    rig = forward_rig(ScriptedUpstream(respond))
    result = rig.forwarder.forward(
        [queued("q1", [track(0), track(1)]), queued("q2", [track(2), track(3)])], MINUTE_MS
    )
    accepted = [c.ids for c in rig.upstream.calls if "m-2" not in c.ids]
    assert sorted(i for ids in accepted for i in ids) == ["m-0", "m-1", "m-3"]
    assert _letters(rig) == [(Reason.UPSTREAM_REJECTED, "q2", status, ["m-2"])]
    detail = rig.dead_letters.letters[0].detail
    assert detail.startswith(f"The upstream answered {status}")
    assert "ILoveData123" not in detail
    assert result == ForwardResult(frozenset(), forwarded=3, dead_lettered=1)
    assert rig.clock.sleeps == []


def test_a_rotated_secret_is_read_again_after_401_and_the_request_resent():
    rotated = EdgeSecret(writeKey="RotatedSource")
    rig = forward_rig(
        ScriptedUpstream(lambda call: answer(200 if call.source_id == "RotatedSource" else 401)),
        OPEN,
        rotated,
    )
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert [c.source_id for c in rig.upstream.calls] == ["ILoveData123", "RotatedSource"]
    assert rig.secrets.forced == 1
    assert rig.clock.sleeps == []
    assert result.failed == frozenset()


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_after_the_secret_was_read_again_is_retried_with_backoff_then_left_to_sqs(status):
    rig = forward_rig(ScriptedUpstream(lambda _: answer(status)), max_attempts=3)
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert rig.secrets.forced == 1
    assert len(rig.upstream.calls) == 4  # first, after the refresh, two retries
    assert rig.clock.sleeps == pytest.approx([0.075, 0.15])
    assert result.failed == frozenset({"q1"})


def test_refresh_that_drops_a_source_parks_its_events_as_unmapped():
    trimmed = EdgeSecret(sources={"pk_ios_91bc": "OtherSource"})
    rig = forward_rig(ScriptedUpstream(lambda call: answer(401)), CLOSED, trimmed)
    result = rig.forwarder.forward([queued("q1", [track(1)], WEB)], MINUTE_MS)
    assert _letters(rig) == [(Reason.UNMAPPED_SOURCE, "q1", None, ["m-1"])]
    assert rig.dead_letters.letters[0].detail == "The source maps to no Source ID in the secret."
    assert result.failed == frozenset()


@pytest.mark.parametrize("status", [404, 405])
def test_404_or_405_to_batch_switches_to_per_call_for_a_while_then_batch_is_tried_again(status):
    rig = forward_rig(ScriptedUpstream(lambda call: answer(status if call.path == "/v1/batch" else 200)))
    events = [track(1), {"type": "identify", "userId": "u-1", "messageId": "m-2"}]
    result = rig.forwarder.forward([queued("q1", events)], MINUTE_MS)
    assert [(c.path, c.body) for c in rig.upstream.calls] == [
        ("/v1/batch", {"batch": events, "sentAt": rig.upstream.calls[0].body["sentAt"]}),
        ("/v1/track", events[0]),
        ("/v1/identify", events[1]),
    ]
    assert result == ForwardResult(frozenset(), forwarded=2, dead_lettered=0)
    assert rig.forwarder.mode == "per-call"

    rig.clock.sleep(rig.forwarder.reprobe_after - 1)
    rig.forwarder.forward([queued("q2", [track(3)])], MINUTE_MS)
    assert rig.upstream.calls[-1].path == "/v1/track"

    rig.clock.sleep(1)
    assert rig.forwarder.mode == "batch"
    rig.forwarder.forward([queued("q3", [track(4), track(5)])], MINUTE_MS)
    assert [c.path for c in rig.upstream.calls[-3:]] == ["/v1/batch", "/v1/track", "/v1/track"]
    assert rig.forwarder.mode == "per-call"


def _switches(monkeypatch):
    """The per-call switches the forwarder counts, as (unit, value) per count."""
    counted = []

    def add_metric(name, unit, value):
        if name == MetricName.UPSTREAM_PER_CALL_SWITCHES:
            counted.append((unit, value))

    monkeypatch.setattr(metrics, "add_metric", add_metric)
    return counted


def test_the_switch_to_per_call_mode_is_counted(monkeypatch):
    counted = _switches(monkeypatch)
    rig = forward_rig(ScriptedUpstream(lambda call: answer(404 if call.path == "/v1/batch" else 200)))
    rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert counted == [(MetricUnit.Count, 1)]


def test_two_sources_refused_batch_in_one_invocation_count_one_switch(monkeypatch):
    counted = _switches(monkeypatch)
    upstream = ScriptedUpstream(lambda call: answer(404 if call.path == "/v1/batch" else 200))
    rig = forward_rig(upstream, CLOSED)
    messages = [queued("q1", [track(1), track(2)], WEB), queued("q2", [track(3), track(4)], IOS)]
    result = rig.forwarder.forward(messages, MINUTE_MS)
    assert [c.path for c in upstream.calls].count("/v1/batch") == 2
    assert (result.forwarded, counted) == (4, [(MetricUnit.Count, 1)])


def test_batch_answered_again_after_the_reprobe_ends_per_call_mode():
    rig = forward_rig(ScriptedUpstream([answer(404)]))
    rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert rig.forwarder.mode == "per-call"
    rig.clock.sleep(rig.forwarder.reprobe_after)
    result = rig.forwarder.forward([queued("q2", [track(2), track(3)])], MINUTE_MS)
    assert [c.path for c in rig.upstream.calls] == ["/v1/batch", "/v1/track", "/v1/batch"]
    assert (result.forwarded, rig.forwarder.mode) == (2, "batch")


def test_configured_per_call_mode_never_probes_batch():
    rig = forward_rig(per_call=True)
    rig.clock.sleep(10 * rig.forwarder.reprobe_after)
    rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert [c.path for c in rig.upstream.calls] == ["/v1/track", "/v1/track"]


def test_per_call_mode_sends_each_event_alone_and_parks_types_without_a_path():
    rig = forward_rig(per_call=True)
    events = [
        {"type": t, "userId": "u", "messageId": t} for t in ("page", "screen", "group", "alias", "bogus")
    ]
    result = rig.forwarder.forward([queued("q1", events)], MINUTE_MS)
    assert [(c.path, c.body) for c in rig.upstream.calls] == [(f"/v1/{e['type']}", e) for e in events[:4]]
    assert _letters(rig) == [(Reason.UNROUTABLE_EVENT, "q1", None, ["bogus"])]
    assert result == ForwardResult(frozenset(), forwarded=4, dead_lettered=1)


def test_per_call_answers_are_handled_one_event_at_a_time():
    rig = forward_rig(
        ScriptedUpstream(lambda call: answer({"m-1": 400, "m-2": 503}.get(call.ids[0], 200))),
        per_call=True,
        max_attempts=2,
    )
    messages = [queued("q0", [track(0)]), queued("q1", [track(1)]), queued("q2", [track(2)])]
    result = rig.forwarder.forward(messages, MINUTE_MS)
    assert [c.ids[0] for c in rig.upstream.calls] == ["m-0", "m-1", "m-2", "m-2"]
    assert _letters(rig) == [(Reason.UPSTREAM_REJECTED, "q1", 400, ["m-1"])]
    assert result == ForwardResult(frozenset({"q2"}), forwarded=1, dead_lettered=1)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, None, 302, 409])
def test_retryable_answers_are_retried_with_backoff(status):
    rig = forward_rig(ScriptedUpstream([answer(status), answer(status)]))
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert len(rig.upstream.calls) == 3
    assert rig.clock.sleeps == pytest.approx([0.075, 0.15])  # 0.1 then 0.2, each half plus half the jitter
    assert result.failed == frozenset()


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    rig = forward_rig(ScriptedUpstream([answer(429, retry_after=7)]))
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert rig.clock.sleeps == [7]
    assert result.failed == frozenset()


def _first_answers(by_id):
    """An upstream answering each single-event request by its messageId the first time, 200 after."""
    seen = set()

    def respond(call):
        [message_id] = call.ids
        first = message_id not in seen
        seen.add(message_id)
        return by_id[message_id] if first else answer(200)

    return ScriptedUpstream(respond)


def test_a_round_waits_for_the_longest_retry_after_any_of_its_answers_asked_for():
    asked = {"m-1": 3, "m-2": 7, "m-3": 5}  # the longest not last: the round takes the longest
    upstream = _first_answers({m: answer(429, retry_after=s) for m, s in asked.items()})
    rig = forward_rig(upstream, limits=BatchLimits(max_events=1))
    result = rig.forwarder.forward([queued("q1", [track(1), track(2), track(3)])], MINUTE_MS)
    assert rig.clock.sleeps == [7]
    assert result.forwarded == 3


def test_an_answer_without_retry_after_does_not_lengthen_the_wait():
    upstream = _first_answers({"m-1": answer(429, retry_after=0.5), "m-2": answer(503)})
    rig = forward_rig(upstream, limits=BatchLimits(max_events=1))
    rig.forwarder.forward([queued("q1", [track(1), track(2)])], MINUTE_MS)
    assert rig.clock.sleeps == [0.5]


def test_retry_after_beyond_the_time_left_leaves_the_message_to_sqs_at_once():
    rig = forward_rig(ScriptedUpstream([answer(503, retry_after=120)]))
    result = rig.forwarder.forward([queued("q1", [track(1)])], MINUTE_MS)
    assert rig.clock.sleeps == []
    assert len(rig.upstream.calls) == 1
    assert result == ForwardResult(frozenset({"q1"}), forwarded=0, dead_lettered=0)


def test_retries_stop_after_the_configured_attempts():
    rig = forward_rig(ScriptedUpstream(lambda _: answer(500)), max_attempts=3)
    result = rig.forwarder.forward([queued("q1", [track(1)]), queued("q2", [track(2)])], MINUTE_MS)
    assert len(rig.upstream.calls) == 3
    assert result.failed == frozenset({"q1", "q2"})


def test_requests_get_the_time_left_as_budget_and_none_starts_after_the_deadline():
    rig = forward_rig(ScriptedUpstream(lambda _: answer(None)), margin=1.0, max_attempts=100)
    result = rig.forwarder.forward([queued("q1", [track(1)])], 3_000)
    budgets = [c.budget for c in rig.upstream.calls]
    assert budgets[0] == 2.0
    assert budgets == sorted(budgets, reverse=True)
    assert all(b >= rig.forwarder.retrier.policy.min_request_seconds for b in budgets)
    assert result.failed == frozenset({"q1"})


def test_nothing_is_sent_when_the_invocation_has_no_time_left():
    rig = forward_rig(margin=1.0)
    result = rig.forwarder.forward([queued("q1", [track(1)])], 1_100)
    assert rig.upstream.calls == []
    assert result.failed == frozenset({"q1"})


def test_a_message_is_acknowledged_only_when_all_its_events_are():
    def respond(call):
        return answer(207, {"errors": ["m-2"]}) if "m-2" in call.ids else answer(200)

    rig = forward_rig(ScriptedUpstream(respond), limits=BatchLimits(max_events=2), max_attempts=2)
    messages = [queued("q1", [track(1), track(2), track(3)]), queued("q2", [track(4)])]
    result = rig.forwarder.forward(messages, MINUTE_MS)
    # m-1, m-2 | m-3, m-4; m-2 fails twice: q1 is redelivered, q2 (all accepted) is not.
    assert result == ForwardResult(frozenset({"q1"}), forwarded=3, dead_lettered=0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", Reason.INVALID_MESSAGE),
        ("[1, 2]", Reason.INVALID_MESSAGE),
        ('{"events": []}', Reason.INVALID_MESSAGE),
        ('{"v": 2, "source": null, "events": []}', Reason.UNSUPPORTED_VERSION),
        ('{"v": true, "source": null, "events": []}', Reason.UNSUPPORTED_VERSION),
        ('{"v": 1, "source": 7, "events": []}', Reason.INVALID_MESSAGE),
        ('{"v": 1, "source": null, "events": {}}', Reason.INVALID_MESSAGE),
        ('{"v": 1, "source": null, "events": ["x"]}', Reason.INVALID_MESSAGE),
    ],
)
def test_undecodable_messages_are_parked_as_they_are_with_the_reason(body, reason):
    rig = forward_rig()
    result = rig.forwarder.forward([QueuedMessage("bad", body), queued("ok", [track(1)])], MINUTE_MS)
    [letter] = rig.dead_letters.letters
    assert (letter.body, letter.reason, letter.origin) == (body, reason, "bad")
    assert letter.detail
    assert [c.ids for c in rig.upstream.calls] == [["m-1"]]
    assert result == ForwardResult(frozenset(), forwarded=1, dead_lettered=1)


def test_a_message_whose_source_maps_to_no_source_id_is_parked_as_unmapped():
    rig = forward_rig(None, CLOSED)
    gone = fingerprint("pk_removed")
    result = rig.forwarder.forward(
        [queued("q1", [track(1), track(2)], gone), queued("q2", [track(3)], WEB)], MINUTE_MS
    )
    assert _letters(rig) == [(Reason.UNMAPPED_SOURCE, "q1", None, ["m-1", "m-2"])]
    assert json.loads(rig.dead_letters.letters[0].body)["source"] == gone
    assert [c.ids for c in rig.upstream.calls] == [["m-3"]]
    assert result == ForwardResult(frozenset(), forwarded=1, dead_lettered=2)


def test_closed_mode_message_without_source_is_unmapped():
    rig = forward_rig(None, CLOSED)
    rig.forwarder.forward([queued("q1", [track(1)], None)], MINUTE_MS)
    assert _letters(rig) == [(Reason.UNMAPPED_SOURCE, "q1", None, ["m-1"])]


def test_a_message_is_redelivered_when_its_dead_letter_cannot_be_sent():
    rig = forward_rig(ScriptedUpstream(lambda call: answer(400 if "m-1" in call.ids else 200)))
    rig.dead_letters.available = False
    result = rig.forwarder.forward(
        [queued("q1", [track(1)]), queued("q2", [track(2)]), QueuedMessage("q3", "{")], MINUTE_MS
    )
    assert result == ForwardResult(frozenset({"q1", "q3"}), forwarded=1, dead_lettered=0)


def test_an_unreadable_secret_leaves_every_message_to_sqs_but_still_parks_undecodable_ones():
    rig = forward_rig(None, TransientError("The edge's secret could not be read."))
    result = rig.forwarder.forward([queued("q1", [track(1)]), QueuedMessage("q2", "nope")], MINUTE_MS)
    assert rig.upstream.calls == []
    assert [letter.origin for letter in rig.dead_letters.letters] == ["q2"]
    assert result == ForwardResult(frozenset({"q1"}), forwarded=0, dead_lettered=1)


def test_a_write_key_left_in_an_event_is_not_forwarded():
    rig = forward_rig()
    rig.forwarder.forward([queued("q1", [track(1, writeKey="pk_web_7f3a")])], MINUTE_MS)
    assert "writeKey" not in rig.upstream.calls[0].events[0]


def test_a_message_without_events_is_acknowledged_without_a_request():
    rig = forward_rig()
    result = rig.forwarder.forward([queued("q1", [])], MINUTE_MS)
    assert rig.upstream.calls == []
    assert result == ForwardResult(frozenset(), forwarded=0, dead_lettered=0)
