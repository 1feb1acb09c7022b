"""How long the forwarder may keep trying, and how long it waits between tries.

Retries happen inside one invocation: the deadline is the invocation's remaining time minus a
margin kept for dead-lettering and answering. What is still failing then is left to SQS.

``Retrier.run`` is the loop: a round of requests, then — while some wait for a retry, attempts
remain, and the backoff still leaves time for a request — a wait and another round.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.core.observability import logger

__all__ = ["Deadline", "Retrier", "RetryPolicy", "Round", "Rounds"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point on the monotonic clock after which no upstream request is started."""

    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def within(
        cls, remaining_ms: int, *, margin: float, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """The deadline of an invocation with ``remaining_ms`` left, keeping ``margin`` seconds back."""
        return cls(clock() + remaining_ms / 1000 - margin, clock)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - self.clock())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, honouring the upstream's ``Retry-After``."""

    max_attempts: int = 5
    """Sends of one event within an invocation, the first included."""
    base: float = 0.2
    cap: float = 5.0
    min_request_seconds: float = 0.25
    """No request is started with less time than this left: it could only time out."""
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1``: half the exponential step plus up to half again.

        ``Retry-After`` wins when it asks for longer; it is not capped, because sending earlier
        than the upstream asked only earns another 429.
        """
        step = min(self.cap, self.base * 2.0 ** (attempt - 1))
        backoff = step / 2 + step / 2 * self.jitter()
        return max(backoff, retry_after) if retry_after is not None else backoff

    def can_wait(self, delay: float, deadline: Deadline) -> bool:
        """Whether a retry after ``delay`` still leaves time for a request."""
        return delay + self.min_request_seconds <= deadline.remaining()

    def can_send(self, deadline: Deadline) -> bool:
        """Whether enough time is left to start a request."""
        return deadline.remaining() >= self.min_request_seconds


@dataclass(frozen=True, slots=True)
class Round[R]:
    """What a round of requests leaves for a retry, and the longest ``Retry-After`` it was given."""

    later: list[R]
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Rounds[R]:
    """What is still failing when the retrying stops, and how many requests were sent again."""

    left: list[R]
    retried: int


class Retrier:
    """Sends rounds of requests with a backoff between them, while attempts and time remain."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._sleep = sleep

    def run[R](
        self,
        requests: list[R],
        send: Callable[[list[R]], Round[R]],
        deadline: Deadline,
    ) -> Rounds[R]:
        """``send`` rounds of ``requests`` (a round may drop what no longer needs sending)."""
        policy = self.policy
        attempt, retried = 1, 0
        while True:
            result = send(requests)
            if not result.later:
                return Rounds([], retried)
            if attempt >= policy.max_attempts:
                logger.warning(
                    "upstream retries exhausted", extra={"requests": len(result.later), "attempts": attempt}
                )
                return Rounds(result.later, retried)
            delay = policy.delay(attempt, result.retry_after)
            if not policy.can_wait(delay, deadline):
                logger.warning(
                    "no time left to retry the upstream",
                    extra={"requests": len(result.later), "delay": round(delay, 3)},
                )
                return Rounds(result.later, retried)
            self._sleep(delay)
            requests = result.later
            retried += len(requests)
            attempt += 1
