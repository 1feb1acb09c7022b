"""JSON parsed the way a strict server parses it: RFC 8259, numbers within the double range."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is outside the range of a double")
    return value


def _int(text: str) -> int:
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise ValueError(f"{text[:20]}… is outside the range of a double")
    return value


def strict_loads(data: str | bytes) -> Any:
    """``json.loads`` that refuses ``Infinity``, ``NaN`` and numbers no double can hold."""
    return json.loads(data, parse_constant=_constant, parse_float=_float, parse_int=_int)
