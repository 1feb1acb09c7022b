"""Figures the docs quote from elsewhere, held to their source: the README's performance table to
docs/performance.md's, docs/scaling.md's tables and examples to the capacity model (`make capacity`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_ops.capacity import Settings, plan
from support.markdown import section, table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PERFORMANCE = (ROOT / "docs" / "performance.md").read_text()
SCALING = (ROOT / "docs" / "scaling.md").read_text()
BINDS = "Which limit binds first, and what to raise"
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _first_number(cell: str) -> float | None:
    found = _NUMBER.search(cell.replace("**", ""))
    return float(found.group().replace(",", "")) if found else None


def _verdict(cell: str) -> str:
    plain = cell.replace("**", "")
    return "not met" if plain.startswith("not met") else "met" if plain.startswith("met") else "-"


def _as_shown(shown: str, actual: float) -> bool:
    """Whether ``shown`` is ``actual`` rounded as written (``1.1``, ``11``), or within 1% (``930``)."""
    value = _first_number(shown)
    assert value is not None, shown
    fraction = re.search(r"\d\.(\d+)", shown)
    decimals = len(fraction.group(1)) if fraction else 0
    return abs(value - actual) <= 0.5 * 10**-decimals or value == pytest.approx(actual, rel=0.01)


def _source(figure: str, rows: list[dict[str, str]]) -> dict[str, str]:
    """performance.md's row for a README figure: the longest figure name it starts with."""
    found = [r for r in rows if figure == r["figure"] or re.match(rf"{re.escape(r['figure'])}[ ,]", figure)]
    assert found, f"docs/performance.md measures no {figure!r}"
    return max(found, key=lambda row: len(row["figure"]))


def test_the_readme_quotes_performance_md_s_latest_figures_budgets_and_verdicts() -> None:
    measured = table(PERFORMANCE, "The figures")
    for row in table(README, "Performance"):
        source = _source(row["figure"], measured)
        assert _first_number(row["measured"]) == _first_number(source["after"]), row["figure"]
        assert _first_number(row["budget"]) == _first_number(source["budget"]), row["figure"]
        assert _verdict(row["verdict"]) == _verdict(source["verdict after"]), row["figure"]


def _traffic(cell: str) -> tuple[float, float]:
    """``1,000 beacons/s`` or ``2,000 requests/s of 20 events``: (requests/s, events per request)."""
    rate = re.match(rf"({_NUMBER.pattern}) (beacons|requests)/s(?: of ({_NUMBER.pattern}) events)?", cell)
    assert rate, cell
    events = rate.group(3) or "1"
    return float(rate.group(1).replace(",", "")), float(events.replace(",", ""))


def test_the_monthly_bills_are_make_capacity_s() -> None:
    rows = table(SCALING, "The monthly bill")
    assert rows
    for row in rows:
        rps, events = _traffic(row["traffic"])
        result = plan(rps, events, settings=Settings(gzip="--gzip" in row["traffic"]))
        assert _first_number(row["events/s"]) == result.events_per_second, row["traffic"]
        assert _first_number(row["a month"]) == pytest.approx(result.monthly, rel=0.01), row["traffic"]
        assert _first_number(row["per million events"]) == round(result.per_million_events, 2), row["traffic"]


def test_the_executions_each_traffic_level_needs_are_make_capacity_s() -> None:
    rows = [row for row in table(SCALING, BINDS) if _first_number(row["ingest executions"])]
    assert rows
    for row in rows:
        result = plan(_first_number(row["requests/s"]) or 0, 1)
        assert _as_shown(row["ingest executions"], result.ingest_concurrency), row["requests/s"]
        if row["forwarder executions"]:
            assert _as_shown(row["forwarder executions"], result.forward_concurrency), row["requests/s"]


def test_the_batched_example_is_make_capacity_s() -> None:
    said = re.search(
        r"`make capacity RPS=(\d+) EVENTS_PER_REQUEST=(\d+)` needs ([\d.]+) forwarder executions"
        r" \(([\d,]+) events/s[^)]*\) and (\d+) ingest executions",
        " ".join(section(SCALING, BINDS).split()),
    )
    assert said, "scaling.md's batched example is gone"
    rps, events, forward, events_per_second, ingest = said.groups()
    result = plan(float(rps), float(events))
    assert _as_shown(forward, result.forward_concurrency)
    assert float(events_per_second.replace(",", "")) == result.events_per_second
    assert _as_shown(ingest, result.ingest_concurrency)
