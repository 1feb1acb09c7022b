"""Backoff, the invocation deadline, and the rounds of retries (edge.forward.retrying)."""

from __future__ import annotations

import pytest

from edge.forward.retrying import Deadline, Retrier, RetryPolicy, Round, Rounds
from support.forwarding import FakeClock


@pytest.mark.parametrize(
    ("jitter", "delays"), [(0.0, [0.1, 0.2, 0.4, 0.8, 1.0]), (1.0, [0.2, 0.4, 0.8, 1.6, 2.0])]
)
def test_backoff_doubles_with_jitter_up_to_the_cap(jitter, delays):
    policy = RetryPolicy(base=0.2, cap=2.0, jitter=lambda: jitter)
    assert [policy.delay(attempt) for attempt in range(1, 6)] == pytest.approx(delays)


def test_retry_after_wins_when_it_asks_for_longer_and_is_not_capped():
    policy = RetryPolicy(base=0.2, cap=2.0, jitter=lambda: 1.0)
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(1, retry_after=0) == pytest.approx(0.2)


def test_the_default_jitter_stays_within_half_and_all_of_the_step():
    policy = RetryPolicy(base=1.0, cap=1.0)
    assert all(0.5 <= policy.delay(3) <= 1.0 for _ in range(200))


def test_deadline_keeps_the_margin_back_from_the_remaining_time():
    clock = FakeClock()
    deadline = Deadline.within(5_000, margin=2.0, clock=clock)
    assert deadline.remaining() == 3.0
    clock.sleep(2.5)
    assert deadline.remaining() == 0.5
    clock.sleep(10)
    assert deadline.remaining() == 0.0


def test_waiting_and_sending_need_time_for_a_request():
    clock = FakeClock()
    deadline = Deadline.within(1_000, margin=0.0, clock=clock)
    policy = RetryPolicy(min_request_seconds=0.25)
    assert policy.can_wait(0.75, deadline)
    assert not policy.can_wait(0.76, deadline)
    assert policy.can_send(deadline)
    clock.sleep(0.8)
    assert not policy.can_send(deadline)


def _retrier(clock, **policy):
    return Retrier(RetryPolicy(base=1.0, cap=1.0, jitter=lambda: 1.0, **policy), clock.sleep)


def test_rounds_go_on_while_requests_wait_and_stop_when_none_does():
    clock = FakeClock()
    rounds = []

    def send(requests):
        rounds.append(list(requests))
        return Round(requests[1:])

    result = _retrier(clock, max_attempts=10).run(
        ["a", "b", "c"], send, Deadline.within(60_000, margin=0, clock=clock)
    )
    assert rounds == [["a", "b", "c"], ["b", "c"], ["c"]]
    assert result == Rounds([], retried=3)
    assert clock.sleeps == [1.0, 1.0]


def test_rounds_stop_at_the_last_attempt_with_what_still_waits():
    clock = FakeClock()
    result = _retrier(clock, max_attempts=3).run(["a"], Round, Deadline.within(60_000, margin=0, clock=clock))
    assert result == Rounds(["a"], retried=2)
    assert len(clock.sleeps) == 2


def test_retry_after_sets_the_wait_and_a_wait_past_the_deadline_stops_the_rounds():
    clock = FakeClock()
    deadline = Deadline.within(10_000, margin=0, clock=clock)
    answers = iter([Round(["a"], retry_after=4.0), Round(["a"], retry_after=9.0)])
    result = _retrier(clock).run(["a"], lambda _: next(answers), deadline)
    assert clock.sleeps == [4.0]
    assert result == Rounds(["a"], retried=1)
