"""Timing on a shared, noisy machine: alternate the contenders, repeat, take medians."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["alternate", "median", "per_iteration", "ratio"]


def per_iteration(fn: Callable[[], object], iterations: int) -> float:
    """Seconds per call of ``fn``, over ``iterations`` calls in a tight loop."""
    started = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - started) / iterations


def alternate(
    contenders: Mapping[str, tuple[Callable[[], object], int]],
    rounds: int,
    *,
    seed: int = 6,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one sample per round; the order is shuffled each round.

    ``contenders`` maps a name to ``(fn, iterations per sample)``. Interleaving the contenders
    spreads the machine's noise over all of them, so their ratio stays meaningful.
    """
    order = list(contenders)
    shuffle = random.Random(seed).shuffle  # noqa: S311 - an order, not a secret
    samples: dict[str, list[float]] = {name: [] for name in order}
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            fn, iterations = contenders[name]
            samples[name].append(per_iteration(fn, iterations))
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median of the rounds' ratios: both samples of a round saw the same load on the machine."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))
