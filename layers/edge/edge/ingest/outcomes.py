"""One compact outcome line per request: what ``make tail`` streams from a deployed stack.

Route, status, how many events were accepted and rejected, and the rejection reasons; the events
a privacy control dropped, by reason, and what the consent control did (consent from the
cookie, GPC's opt-outs, events forwarded opting out, an unreadable cookie); the tracking plan's
violations by kind, and how many events it blocked, as codes and counts:
never an event, a key or a Source ID. Successes without a rejection are sampled at
``OUTCOME_LOG_SAMPLE_RATE``; a request with any rejection, a 4xx or a 5xx is always logged.
(The forwarder's line, ``messages forwarded``, is one per invocation: not sampled.)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from edge.core.observability import logger

if TYPE_CHECKING:
    from edge.ingest.ingestion import Outcome

__all__ = ["REQUEST_OUTCOME", "OutcomeLog", "RequestTally"]

#: The message of the ingest outcome line (``make tail`` filters on it).
REQUEST_OUTCOME: Final = "request outcome"
_ROUTE_CHARS: Final = 64
_NOTHING: Final[Mapping[str, int]] = MappingProxyType({})


@dataclass(slots=True)
class RequestTally:
    """What one request came to, filled in by whichever route answered it."""

    accepted: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    #: Events answered as accepted but not forwarded, by reason (``edge.ingest.privacy.Filtered``).
    filtered: Mapping[str, int] = _NOTHING
    #: What the consent control did (``edge.ingest.ingestion.Outcome.consent``).
    consent: Mapping[str, int] = _NOTHING
    #: The tracking plan's violations by kind, and ``blocked``: the events it blocked.
    plan: Mapping[str, int] = _NOTHING

    def reset(self) -> None:
        self.accepted = 0
        self.reasons.clear()
        self.filtered = self.consent = self.plan = _NOTHING

    def take(self, outcome: Outcome) -> None:
        """What ingest did with the request's events."""
        self.accepted = outcome.accepted
        self.filtered, self.consent = outcome.filtered, outcome.consent
        if outcome.violations or outcome.blocked:
            self.plan = {**outcome.violations, "blocked": outcome.blocked}

    def reject(self, reason: str, count: int = 1) -> None:
        self.reasons[reason] += count


class OutcomeLog:
    """Writes the outcome line, sampling clean successes."""

    def __init__(self, sample_rate: float, draw: Callable[[], float] = random.random) -> None:
        self.sample_rate = sample_rate
        self._draw = draw

    def request(self, route: str, status: int, tally: RequestTally) -> None:
        if status < 400 and not tally.reasons and self._draw() >= self.sample_rate:
            return
        figures = {
            "route": route[:_ROUTE_CHARS],
            "status": status,
            "accepted": tally.accepted,
            "rejected": sum(tally.reasons.values()),
            "reasons": dict(tally.reasons),
            "sample_rate": self.sample_rate,
        }
        if tally.filtered:
            figures["filtered"] = dict(tally.filtered)
        if tally.consent:
            figures["consent"] = dict(tally.consent)
        if tally.plan:
            figures["plan"] = dict(tally.plan)
        logger.info(REQUEST_OUTCOME, extra=figures)
