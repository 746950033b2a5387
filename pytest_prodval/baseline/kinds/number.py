"""The ``number`` comparator: one scalar against its baseline, with a tolerance and a direction.

The allowed deviation is ``max(abs, rel * |baseline|)``; with neither given the value must
be equal. A change in the harmless direction (faster, cheaper) always passes.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from ..verdict import Entry, Status, Verdict
from .arguments import (
    Direction,
    check_entry,
    check_options,
    finite_real,
    parse_direction,
    parse_unit,
    resolve_unit,
)
from .display import fmt_num, fmt_pair, fmt_pct

__all__ = ["NumberComparator"]

_OPTIONS = ("rel", "abs", "direction", "unit")
# Float round-off must not fail a value sitting exactly on the tolerance edge.
_EDGE_SLACK = 1e-9


@dataclasses.dataclass(frozen=True)
class _Rule:
    rel: float | None
    abs: float | None
    direction: Direction
    unit: str

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Rule:
        check_options("number", options, _OPTIONS)
        return cls(
            rel=_tolerance(options.get("rel"), "rel"),
            abs=_tolerance(options.get("abs"), "abs"),
            direction=parse_direction(options.get("direction", "either")),
            unit=parse_unit(options.get("unit", "")),
        )

    def allowed(self, baseline: float) -> float:
        return max(self.abs or 0.0, (self.rel or 0.0) * abs(baseline))

    def harm(self, delta: float) -> float:
        """How far ``delta`` goes in the harmful direction (0 when it is harmless)."""
        if self.direction == "higher_is_worse":
            return max(delta, 0.0)
        if self.direction == "lower_is_worse":
            return max(-delta, 0.0)
        return abs(delta)

    def describe(self, unit: str) -> str:
        bounds = []
        if self.rel is not None:
            bounds.append(f"±{fmt_pct(self.rel, signed=False)}")
        if self.abs is not None:
            bounds.append(f"±{fmt_num(self.abs, unit)}")
        if bounds:
            text = "within " + " or ".join(bounds)
            if self.direction == "higher_is_worse":
                return text + ", higher is worse"
            if self.direction == "lower_is_worse":
                return text + ", lower is worse"
            return text
        return {
            "higher_is_worse": "not above baseline",
            "lower_is_worse": "not below baseline",
            "either": "equal to baseline",
        }[self.direction]


def _tolerance(value: object, name: str) -> float | None:
    if value is None:
        return None
    number = finite_real(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0; got {number!r}")
    return number


def _value(value: object, name: str = "value") -> int | float:
    number = finite_real(value, name)
    if isinstance(value, numbers.Integral):
        # Keep integers exact in the baseline file: a count of 12345 should not become 12345.0.
        return int(value)
    return number


class NumberComparator:
    kind: str = "number"

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        rule = _Rule.parse(options)
        number = _value(value)
        shown = fmt_num(number, rule.unit, digits=6)
        verdict = Verdict(
            key=key,
            kind=self.kind,
            status=Status.RECORDED,
            rule=rule.describe(rule.unit),
            baseline=shown,
            target=shown,
            change="",
            message=f"{key}: recorded {shown}",
            evidence={"baseline": number, "unit": rule.unit},
        )
        return {"kind": self.kind, "value": number, "unit": rule.unit}, verdict

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        rule = _Rule.parse(options)
        check_entry(self.kind, key, entry)
        base = _value(entry.get("value"), "the baseline entry's value")
        target = _value(value)
        unit = resolve_unit(rule.unit, entry.get("unit", ""))

        delta = target - base
        allowed = rule.allowed(base)
        harm = rule.harm(delta)
        failed = harm > allowed * (1 + _EDGE_SLACK) if allowed > 0 else harm > 0
        relative = delta / abs(base) if base != 0 else None

        base_text, target_text = fmt_pair(base, target, unit)
        delta_text = ("+" if delta > 0 else "") + fmt_num(delta, unit)
        if delta == 0:
            change = "no change"
        elif relative is None:
            change = delta_text  # no percentage of zero
        else:
            change = fmt_pct(relative)
        described = rule.describe(unit)

        if failed:
            size = (
                fmt_pct(relative, signed=False)
                if relative is not None
                else fmt_num(abs(delta), unit)
            )
            word = "higher" if delta > 0 else "lower"
            message = "\n".join(
                [
                    f"{key}: {target_text} is {size} {word} than baseline {base_text} "
                    f"(allowed: {described})",
                    f"  baseline: {base_text}",
                    f"  target:   {target_text}",
                    f"  change:   {change}" + (f" ({delta_text})" if relative is not None else ""),
                    f"  allowed:  {_allowance(rule, allowed, unit)}",
                    f"  rule:     {described}",
                ]
            )
        else:
            message = f"{key}: {target_text} vs baseline {base_text} ({change}), {described}"

        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if failed else Status.PASSED,
            rule=described,
            baseline=base_text,
            target=target_text,
            change=change,
            message=message,
            evidence={
                "baseline": base,
                "target": target,
                "unit": unit,
                "delta": delta,
                "relative_change": relative,
                "allowed_deviation": allowed,
                "rel": rule.rel,
                "abs": rule.abs,
                "direction": rule.direction,
            },
        )


def _allowance(rule: _Rule, allowed: float, unit: str) -> str:
    if allowed == 0:
        way = {"higher_is_worse": "no increase", "lower_is_worse": "no decrease"}
        return way.get(rule.direction, "no change")
    amount = fmt_num(allowed, unit)
    way = {"higher_is_worse": "higher", "lower_is_worse": "lower"}
    return f"up to {amount} " + way.get(rule.direction, "either way")
