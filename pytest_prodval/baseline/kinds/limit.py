"""The ``limit`` kind: a measured value against a configured threshold (an SLO, a minimum).

Unlike the other kinds it needs no baseline entry: the bound comes from configuration, so the
value is judged the same way in compare and record mode, nothing is written to the baseline
file, and a limit is never "missing". Bounds are crisp (no round-off slack): ``below=200``
fails 200, ``at_most=200`` passes it.

The verdict's ``margin`` is how far the value is inside its bounds (the smaller distance when
there are two); zero or less for ``below``/``above`` and below zero for ``at_most``/
``at_least`` is a breach.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Literal, Protocol

from ..verdict import Status, Verdict
from .arguments import check_options, finite_real, parse_unit
from .display import fmt_num

__all__ = ["BOUNDS", "Judge", "LimitJudge"]

Bound = Literal["below", "at_most", "above", "at_least"]
BOUNDS: tuple[Bound, ...] = ("below", "at_most", "above", "at_least")
_OPTIONS = (*BOUNDS, "unit", "source", "note")
_UPPER: tuple[Bound, ...] = ("below", "at_most")
_LOWER: tuple[Bound, ...] = ("above", "at_least")
# "p95 212.4 ms is above the limit 200 ms": four digits read as measured, not as rounded.
_DIGITS = 4
_RULE_WORDS = {"below": "below", "at_most": "at most", "above": "above", "at_least": "at least"}
_SYMBOLS = {"below": "<", "at_most": "≤", "above": ">", "at_least": "≥"}


class Judge(Protocol):
    """A kind judged on its own, with no baseline entry (the same in every mode)."""

    kind: str

    def judge(self, key: str, value: Any, **options: Any) -> Verdict:
        """PASSED or FAILED for ``value`` under the rule given by ``options``."""
        ...


@dataclasses.dataclass(frozen=True)
class _Limit:
    upper: tuple[Bound, float] | None
    lower: tuple[Bound, float] | None
    unit: str
    source: str
    note: str

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Limit:
        check_options("limit", options, _OPTIONS)
        upper = _one_bound(options, _UPPER, "upper")
        lower = _one_bound(options, _LOWER, "lower")
        if upper is None and lower is None:
            raise TypeError("a limit needs a bound: below=, at_most=, above= or at_least=")
        if upper is not None and lower is not None and not _satisfiable(lower, upper):
            raise ValueError(
                f"limit bounds {lower[0]}={lower[1]!r} and {upper[0]}={upper[1]!r} "
                "leave no value that passes"
            )
        source, note = options.get("source", ""), options.get("note", "")
        for name, text in (("source", source), ("note", note)):
            if not isinstance(text, str):
                raise TypeError(f"{name} must be a str; got {type(text).__name__}")
        return cls(upper, lower, parse_unit(options.get("unit", "")), source, note)

    def bounds(self) -> list[tuple[Bound, float]]:
        return [b for b in (self.lower, self.upper) if b is not None]

    def describe(self) -> str:
        """``at most 200 ms``; ``at least 14 days and below 400 days``."""
        return " and ".join(
            f"{_RULE_WORDS[kind]} {fmt_num(bound, self.unit, _DIGITS)}"
            for kind, bound in self.bounds()
        )

    def short(self) -> str:
        """For the table's baseline column: ``≤ 200 ms``; ``≥ 14 days, < 400 days``."""
        return ", ".join(
            f"{_SYMBOLS[kind]} {fmt_num(bound, self.unit, _DIGITS)}"
            for kind, bound in self.bounds()
        )


def _one_bound(
    options: dict[str, Any], names: tuple[Bound, ...], side: str
) -> tuple[Bound, float] | None:
    given = [name for name in names if options.get(name) is not None]
    if len(given) > 1:
        raise TypeError(f"a limit takes one {side} bound; got {' and '.join(given)}")
    if not given:
        return None
    name = given[0]
    return name, finite_real(options[name], name)


def _satisfiable(lower: tuple[Bound, float], upper: tuple[Bound, float]) -> bool:
    if lower[0] == "at_least" and upper[0] == "at_most":
        return lower[1] <= upper[1]
    return lower[1] < upper[1]


def _margin(kind: Bound, bound: float, value: float) -> float:
    return bound - value if kind in _UPPER else value - bound


def _breached(kind: Bound, margin: float) -> bool:
    return margin <= 0 if kind in ("below", "above") else margin < 0


def _pair(value: float, bound: float, unit: str) -> tuple[str, str]:
    """Value and bound with enough digits that different numbers never read the same."""
    for digits in range(_DIGITS, 16):
        left, right = fmt_num(value, unit, digits), fmt_num(bound, unit, digits)
        if value == bound or left != right:
            return left, right
    return fmt_num(value, unit, None), fmt_num(bound, unit, None)


def _failure(kind: Bound, value_text: str, bound_text: str) -> str:
    """What differs, as the first words of the message: ``212.4 ms is above the limit 200 ms``."""
    if value_text == bound_text:
        return f"{value_text} is at the limit, which it must be {_RULE_WORDS[kind]}"
    side = "above" if kind in _UPPER else "below"
    return f"{value_text} is {side} the limit {bound_text}"


class LimitJudge:
    kind: str = "limit"

    def judge(self, key: str, value: Any, **options: Any) -> Verdict:
        rule = _Limit.parse(options)
        finite_real(value, "value")
        # Keep integers exact in the evidence: 3 days left, not 3.0.
        number: float = int(value) if isinstance(value, numbers.Integral) else float(value)
        name = key.rsplit("::", 1)[-1]
        margins = [(kind, bound, _margin(kind, bound, number)) for kind, bound in rule.bounds()]
        # The bound that decides: the breached one, else the nearest.
        kind, bound, margin = min(margins, key=lambda m: (not _breached(m[0], m[2]), m[2]))
        failed = _breached(kind, margin)
        value_text, bound_text = _pair(number, bound, rule.unit)
        described = rule.describe()
        source = f" ({rule.source})" if rule.source else ""
        margin_text = fmt_num(abs(margin), rule.unit, _DIGITS)
        if failed:
            over = "over" if kind in _UPPER else "under"
            change = f"{margin_text} {over}" if margin else "at the limit"
            message = "\n".join(
                [
                    f"{name} {_failure(kind, value_text, bound_text)}{source}",
                    f"  check:  {key}",
                    f"  value:  {value_text}",
                    f"  limit:  {described}{source}",
                    f"  margin: {change}",
                    *([f"  note:   {rule.note}"] if rule.note else []),
                ]
            )
        else:
            change = f"{margin_text} to spare"
            message = f"{key}: {value_text} is {described}{source} ({change})"
        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if failed else Status.PASSED,
            rule=described + source,
            baseline=rule.short(),
            target=value_text,
            change=change,
            message=message,
            evidence={
                "value": number,
                "bound": bound,
                "bound_kind": kind,
                "bounds": {kind: bound for kind, bound in rule.bounds()},
                "unit": rule.unit,
                "source": rule.source,
                "margin": margin,
                "note": rule.note,
            },
        )
