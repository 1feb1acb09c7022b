"""Backoff and the invocation deadline (edge.retrying)."""

from __future__ import annotations

import pytest

from edge.retrying import Deadline, RetryPolicy
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
