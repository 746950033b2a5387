"""Argument checks shared by the comparators: each raises a one-line TypeError/ValueError."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any, Literal

from ..verdict import Entry

__all__ = [
    "DIRECTIONS",
    "Direction",
    "check_entry",
    "check_options",
    "direction_phrase",
    "finite_real",
    "parse_direction",
    "parse_unit",
    "resolve_unit",
]

Direction = Literal["higher_is_worse", "lower_is_worse", "either"]
DIRECTIONS: tuple[Direction, ...] = ("higher_is_worse", "lower_is_worse", "either")


def check_options(kind: str, options: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse misspelt options: silently ignoring ``tolerence=`` would weaken a check."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"unknown option(s) for a {kind} baseline: {', '.join(unknown)} "
            f"(accepted: {', '.join(sorted(allowed))})"
        )


def check_entry(kind: str, key: str, entry: Entry) -> None:
    found = entry.get("kind")
    if found != kind:
        raise ValueError(
            f"baseline entry for {key!r} is of kind {found!r}, not {kind!r}; "
            "re-record it or use the matching assertion"
        )


def parse_direction(value: object, name: str = "direction") -> Direction:
    if value not in DIRECTIONS:
        raise ValueError(f"{name} must be one of {', '.join(DIRECTIONS)}; got {value!r}")
    return value


def direction_phrase(direction: Direction) -> str:
    return {
        "higher_is_worse": "higher is worse",
        "lower_is_worse": "lower is worse",
        "either": "either direction is worse",
    }[direction]


def parse_unit(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"unit must be a str; got {type(value).__name__}")
    return value


def finite_real(value: object, name: str) -> float:
    """``value`` as a float; bool is refused because True silently meaning 1 hides bugs."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite; got {result!r}")
    return result


def resolve_unit(given: str, stored: object) -> str:
    """The unit to display: the assertion's, else the baseline's; they must not disagree."""
    stored_unit = parse_unit(stored)
    if given and stored_unit and given != stored_unit:
        # Comparing 0.2 s against a 200 ms baseline would be nonsense; say so instead.
        raise ValueError(
            f"unit {given!r} differs from the baseline's unit {stored_unit!r}; "
            "convert the value or re-record the baseline"
        )
    return given or stored_unit
