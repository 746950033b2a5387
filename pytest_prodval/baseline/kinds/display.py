"""Formatting shared by the comparators, so every verdict reads the same way."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "SHORT",
    "TIME_UNITS",
    "cap_lines",
    "child_path",
    "compact_json",
    "detects_text",
    "fmt_num",
    "fmt_pair",
    "fmt_pct",
    "fmt_ratio",
    "index_path",
    "shorten",
]

# Verdict.baseline/target/change must fit a terminal table column.
SHORT = 40
TIME_UNITS = frozenset(
    {"ns", "us", "µs", "μs", "ms", "s", "sec", "min", "h", "seconds", "milliseconds"}
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _sig(x: float, digits: int | None) -> str:
    if digits is None:
        return repr(x)  # the shortest text that reads back as exactly ``x``
    if x == 0:
        return "0"
    if isinstance(x, int) and abs(x) < 10**15:
        return str(x)  # counts read better exact: 12345 rows, not 1.23e+04
    if 10**digits <= abs(x) < 1e15:
        return str(round(x))  # more than ``digits`` digits, but no exponent for 12346 ms
    return f"{x:.{digits}g}"


def fmt_num(x: float, unit: str = "", digits: int | None = 3) -> str:
    """``x`` to ``digits`` significant digits (None: all), then its unit: ``12.3 ms``."""
    text = _sig(x, digits)
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def fmt_pair(a: float, b: float, unit: str = "") -> tuple[str, str]:
    """Format two values with just enough digits that different values look different."""
    for digits in range(3, 13):
        left, right = fmt_num(a, unit, digits), fmt_num(b, unit, digits)
        if a == b or left != right:
            return left, right
    return fmt_num(a, unit, None), fmt_num(b, unit, None)


def fmt_pct(fraction: float, signed: bool = True) -> str:
    """A relative change as a percentage: 0.123 -> ``+12.3%``."""
    pct = fraction * 100
    text = _sig(abs(pct), 3)
    if not signed:
        return f"{text}%"
    sign = "-" if pct < 0 else "+"
    return f"{sign}{text}%"


def fmt_ratio(ratio: float) -> str:
    if math.isinf(ratio):
        return "inf x" if ratio > 0 else "-inf x"
    return f"{ratio:.2f}x" if 0.01 <= abs(ratio) < 100 else f"{ratio:.3g}x"


def shorten(text: str, width: int = SHORT) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def cap_lines(lines: Sequence[str], limit: int, indent: str = "  ") -> list[str]:
    """At most ``limit`` lines, the rest summarized: a wall of diffs hides the first cause."""
    shown = [indent + line for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"{indent}… and {len(lines) - limit} more")
    return shown


def child_path(parent: str, key: str) -> str:
    """JSONPath of an object member: ``$.a.b``, or ``$["odd key"]`` when not an identifier."""
    if _IDENTIFIER.match(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def index_path(parent: str, index: int | None) -> str:
    """JSONPath of an array element; ``None`` means any element: ``$.items[]``."""
    return f"{parent}[]" if index is None else f"{parent}[{index}]"


def detects_text(
    detectable: dict[str, float | None], unit: str, caveat: str, power: float
) -> tuple[str, str]:
    """The ``detects:`` message line and the headline's short form of the detectable change
    (``stats.calibration.detectable_ratios``)."""
    parts, short = [], []
    for side, ratio in detectable.items():
        higher = side == "higher"
        if ratio is None:
            parts.append(f"no {'increase' if higher else 'drop'}")
        elif higher:
            change = "a slowdown" if unit in TIME_UNITS else "an increase"
            parts.append(f"{change} of {fmt_pct(ratio - 1)} ({fmt_ratio(ratio)}) or more")
            short.append(f"≥ {fmt_pct(ratio - 1)}")
        else:
            parts.append(
                f"a drop of {fmt_pct(1 - ratio, signed=False)} ({fmt_ratio(ratio)}) or more"
            )
            short.append(f"≤ {fmt_pct(ratio - 1)}")
    line = f"  detects:  {', or '.join(parts)}, in about {round(power * 20)} of 20 runs ({caveat})"
    return line, (f"could detect {' or '.join(short)}" if short else "")
