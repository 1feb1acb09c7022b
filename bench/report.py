"""The figures of a run and the table they are printed as."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BenchError", "Figure", "table"]


class BenchError(RuntimeError):
    """The benchmark itself broke (not: the code was slow)."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the table."""

    name: str
    value: str
    budget: str
    met: bool | None
    """None: reported, no budget."""
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "reported"
        return "met" if self.met else "NOT met"


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table (it pastes into the README as it is printed)."""
    rows = [("figure", "measured", "budget", "verdict", "detail")]
    rows += [(f.name, f.value, f.budget, f.verdict, f.detail) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), separator, *(line(row) for row in rows[1:])])
