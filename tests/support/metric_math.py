"""A small evaluator of CloudWatch metric math, for the alarm tests.

It knows the part of the language the template's alarms use: arithmetic, comparisons, ``AND``,
``IF``, ``FILL`` (with a value or ``REPEAT``) and ``DIFF``, evaluated point by point over
series in which ``None`` is a missing datapoint (as CloudWatch does: an operation with a
missing operand has no value). Feeding it the series a scenario would publish (an outage, a new
dead letter, an operator looking at the queue) shows what the alarm would see.
"""

from __future__ import annotations

import ast
import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Series", "alarm_states", "evaluate"]

Point = float | None


class Series(list[Point]):
    """A time series; operators apply point by point, a missing operand gives a missing result."""

    def _apply(self, other: Any, op: Callable[[float, float], float]) -> Series:
        others = other if isinstance(other, Series) else Series([other] * len(self))
        return Series(
            None if a is None or b is None else _safe(op, float(a), float(b))
            for a, b in zip(self, others, strict=True)
        )

    def __add__(self, other: Any) -> Series:  # type: ignore[override]
        return self._apply(other, operator.add)

    def __radd__(self, other: Any) -> Series:
        return self._apply(other, lambda a, b: b + a)

    def __sub__(self, other: Any) -> Series:
        return self._apply(other, operator.sub)

    def __rsub__(self, other: Any) -> Series:
        return self._apply(other, lambda a, b: b - a)

    def __mul__(self, other: Any) -> Series:  # type: ignore[override]
        return self._apply(other, operator.mul)

    def __rmul__(self, other: Any) -> Series:  # type: ignore[override]
        return self._apply(other, operator.mul)

    def __truediv__(self, other: Any) -> Series:
        return self._apply(other, operator.truediv)

    def __gt__(self, other: Any) -> Series:  # type: ignore[override]
        return self._apply(other, lambda a, b: float(a > b))

    def __ge__(self, other: Any) -> Series:  # type: ignore[override]
        return self._apply(other, lambda a, b: float(a >= b))

    def __eq__(self, other: object) -> Series:  # type: ignore[override]
        return self._apply(other, lambda a, b: float(a == b))

    __hash__ = None  # type: ignore[assignment]


def _safe(op: Callable[[float, float], float], a: float, b: float) -> Point:
    try:
        return op(a, b)
    except ZeroDivisionError:
        return None


def _fill(series: Series, value: Any) -> Series:
    filled: list[Point] = []
    last: Point = None
    for point in series:
        if point is not None:
            last = point
            filled.append(point)
        else:
            filled.append(last if value == "REPEAT" else float(value))
    return Series(filled)


def _diff(series: Series) -> Series:
    return Series([None, *(None if a is None or b is None else b - a for a, b in itertools.pairwise(series))])


def _if(condition: Series, when_true: Any, when_false: Any) -> Series:
    def at(value: Any, index: int) -> Point:
        return value[index] if isinstance(value, Series) else float(value)

    return Series(
        None if c is None else (at(when_true, i) if c else at(when_false, i)) for i, c in enumerate(condition)
    )


def _and(*operands: Series) -> Series:
    return Series(
        None if any(p is None for p in points) else float(all(points))
        for points in zip(*operands, strict=True)
    )


class _Rewrite(ast.NodeTransformer):
    """``a AND b`` is parsed as Python's ``a and b``: make it the point-by-point ``_and(a, b)``."""

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.op, ast.And), "only AND is supported"
        return ast.Call(func=ast.Name(id="_and", ctx=ast.Load()), args=node.values, keywords=[])


def evaluate(expression: str, series: dict[str, Series]) -> Series:
    """The series ``expression`` yields, given the series its ids name."""
    tree = _Rewrite().visit(ast.parse(expression.replace(" AND ", " and "), mode="eval"))
    names = {**series, "IF": _if, "FILL": _fill, "DIFF": _diff, "REPEAT": "REPEAT", "_and": _and}
    code = compile(ast.fix_missing_locations(tree), "<metric math>", "eval")
    result = eval(code, {"__builtins__": {}}, names)  # noqa: S307 - the template's own expressions
    return (
        result if isinstance(result, Series) else Series([float(result)] * len(next(iter(series.values()))))
    )


def alarm_states(alarm: dict[str, Any], inputs: dict[str, Sequence[Point]]) -> list[bool]:
    """Whether ``alarm`` (rendered properties) is in ALARM at each point, given its metrics' series.

    Expressions are evaluated in order; ``TreatMissingData: notBreaching`` counts a missing
    result as not breaching; M out of N (``DatapointsToAlarm`` of ``EvaluationPeriods``).
    """
    values: dict[str, Series] = {}
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            values[query["Id"]] = Series(inputs[query["Id"]])
        else:
            values[query["Id"]] = evaluate(" ".join(query["Expression"].split()), values)
    [watched] = [q["Id"] for q in alarm["Metrics"] if q.get("ReturnData")]
    compare = {
        "GreaterThanThreshold": operator.gt,
        "GreaterThanOrEqualToThreshold": operator.ge,
    }[alarm["ComparisonOperator"]]
    breaching = [p is not None and compare(p, alarm["Threshold"]) for p in values[watched]]
    periods = alarm["EvaluationPeriods"]
    needed = alarm.get("DatapointsToAlarm", periods)
    return [sum(breaching[max(0, i - periods + 1) : i + 1]) >= needed for i in range(len(breaching))]
