"""Failure patterns no scenario test names: random upstream answers over many deliveries.

An in-memory events queue drives the forwarder the way the event source mapping does (redeliver
what is reported failed, delete the rest, take the remainders sent back as new messages). Whatever
the upstream answers, call after call, these hold:

- nothing is lost: every event ends confirmed upstream or parked in the dead-letter queue;
- an event the upstream confirmed is never sent again;
- an event parked for failing was in exactly ``MAX_RECEIVE_COUNT`` deliveries.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.forward.batching import BatchLimits
from edge.forward.deadletter import Reason
from edge.forward.forwarding import QueuedMessage
from edge.forward.requeue import Requeue
from support.forwarding import ScriptedUpstream, answer, forward_rig, queued, track

MAX_RECEIVE_COUNT = 4
MINUTE_MS = 60_000


@dataclass
class Message:
    id: str
    body: str
    carried: int = 0
    received: int = 0


@dataclass
class MemoryQueue:
    """The events queue: what the forwarder reports failed comes back, remainders are new messages."""

    messages: list[Message] = field(default_factory=list)
    serial: int = 0

    def send(self, remainders: list[Requeue], *, time_left: object = None) -> set[str]:
        for remainder in remainders:
            for body in remainder.bodies:
                self.serial += 1
                self.messages.append(Message(f"r{self.serial}", body.decode(), carried=remainder.attempts))
        return set()

    def receive(self, most: int) -> list[Message]:
        batch = self.messages[:most]
        for message in batch:
            message.received += 1
        return batch


# Answers drawn call by call: from a healthy mix, or from an upstream that is mostly down (so
# that some events use up their deliveries).
MIXES = st.sampled_from(
    [
        ("accept", "refuse", "partial", "timeout"),
        ("refuse", "refuse", "refuse", "timeout", "partial", "accept"),
        ("refuse", "timeout"),
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    batch_events=st.integers(1, 5),
)
def test_whatever_the_upstream_answers_nothing_is_lost_and_nothing_confirmed_is_resent(
    data, sizes, batch_events
):
    poison = {"m-0-0"} if data.draw(st.booleans(), label="poison") else set()
    outcomes = st.sampled_from(data.draw(MIXES, label="upstream"))
    confirmed: Counter[str] = Counter()
    sent_after_confirmation: list[str] = []

    def respond(call: Any) -> Any:
        ids = call.ids
        sent_after_confirmation.extend(m for m in ids if confirmed[m])
        outcome = data.draw(outcomes, label="answer")
        if poison & set(ids):
            return answer(400, {"error": "invalid"})
        if outcome == "accept":
            confirmed.update(ids)
            return answer(200)
        if outcome == "partial" and call.path == "/v1/batch":
            failed = data.draw(st.sets(st.sampled_from(ids)), label="failed")
            confirmed.update(m for m in ids if m not in failed)
            return answer(207, {"errors": [{"messageId": m, "status": 503} for m in sorted(failed)]})
        return answer(None if outcome == "timeout" else 503)  # a timeout here: nothing was taken

    queue = MemoryQueue()
    rig = forward_rig(
        ScriptedUpstream(respond),
        limits=BatchLimits(max_events=batch_events),
        max_attempts=2,
        requeuer=None,
        max_deliveries=MAX_RECEIVE_COUNT,
    )
    rig.forwarder.requeuer = queue  # type: ignore[assignment] - the in-memory queue's send
    events = {f"m-{i}-{j}" for i, n in enumerate(sizes) for j in range(n)}
    for i, n in enumerate(sizes):
        message = queued(f"q{i}", [track(0, messageId=f"m-{i}-{j}") for j in range(n)])
        queue.messages.append(Message(message.message_id, message.body))

    deliveries: Counter[str] = Counter()
    for _ in range(200):
        batch = queue.receive(data.draw(st.integers(1, 10), label="batch size"))
        if not batch:
            break
        for message in batch:
            deliveries.update(e["messageId"] for e in json.loads(message.body)["events"])
        result = rig.forwarder.forward(
            [QueuedMessage(m.id, m.body, m.carried + m.received) for m in batch], MINUTE_MS
        )
        failed = set(result.failed)
        queue.messages = [m for m in queue.messages if m not in batch or m.id in failed]
        assert all(m.carried + m.received < MAX_RECEIVE_COUNT for m in queue.messages if m.id in failed)
    assert not queue.messages, "the queue never drained"

    parked: dict[str, str] = {}
    for letter in rig.dead_letters.letters:
        for event in json.loads(letter.body)["events"]:
            parked[event["messageId"]] = letter.reason
    assert set(confirmed) | set(parked) == events  # nothing lost
    assert not set(confirmed) & set(parked)
    assert sent_after_confirmation == []  # nothing confirmed sent again
    for message_id, reason in parked.items():
        if reason == Reason.ATTEMPTS_EXHAUSTED:
            assert deliveries[message_id] == MAX_RECEIVE_COUNT
        else:
            assert (reason, message_id in poison) == (Reason.UPSTREAM_REJECTED, True)
