"""The rule ``distribution`` and ``paired`` share: a ratio target/reference, with its interval,
fails when it is significant at ``alpha`` and beyond ``1 ± tolerance`` in the harmful
direction: the estimate (``decision="estimate"``) or its whole interval (``"interval"``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from .arguments import Direction, finite_real, parse_direction, parse_unit
from .display import TIME_UNITS, fmt_pct, fmt_ratio

__all__ = ["DECISIONS", "Estimate", "RatioRule", "change_word"]

DECISIONS = ("estimate", "interval")


class Estimate(Protocol):
    """A ratio and its interval (``ranks.Effect``, ``paired.PairedEffect``)."""

    @property
    def ratio(self) -> float: ...
    @property
    def ci_low(self) -> float: ...
    @property
    def ci_high(self) -> float: ...


def change_word(unit: str, higher: bool) -> str:
    """``slower``/``faster`` for times, ``higher``/``lower`` for anything else."""
    if unit in TIME_UNITS:
        return "slower" if higher else "faster"
    return "higher" if higher else "lower"


@dataclasses.dataclass(frozen=True)
class RatioRule:
    direction: Direction
    tolerance: float
    alpha: float
    decision: str
    unit: str
    note: str

    @staticmethod
    def common(options: dict[str, Any]) -> dict[str, Any]:
        """The shared fields from a call's options, checked (one-line errors)."""
        decision = options.get("decision", "estimate")
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
        note = options.get("note", "")
        if not isinstance(note, str):
            raise TypeError(f"note must be a string; got {type(note).__name__}")
        tolerance = finite_real(options.get("tolerance", 0.10), "tolerance")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0; got {tolerance!r}")
        alpha = finite_real(options.get("alpha", 0.01), "alpha")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1; got {alpha!r}")
        return {
            "direction": parse_direction(options.get("direction", "higher_is_worse")),
            "tolerance": tolerance,
            "alpha": alpha,
            "decision": decision,
            "unit": parse_unit(options.get("unit", "")),
            "note": note,
        }

    @property
    def high(self) -> float | None:
        return None if self.direction == "lower_is_worse" else 1 + self.tolerance

    @property
    def low(self) -> float | None:
        return None if self.direction == "higher_is_worse" else 1 - self.tolerance

    def bound(self) -> str:
        """The allowed ratio: ``1.10x``, ``0.90x`` or ``0.90x to 1.10x``."""
        if self.low is None:
            return fmt_ratio(self.high or 1.0)
        if self.high is None:
            return fmt_ratio(self.low)
        return f"{fmt_ratio(self.low)} to {fmt_ratio(self.high)}"

    def breach(self) -> str:
        if self.low is None:
            return f"above {self.bound()}"
        if self.high is None:
            return f"below {self.bound()}"
        return f"outside {self.bound()}"

    def allowed(self) -> str:
        if self.low is None:
            return f"at most {self.bound()}"
        if self.high is None:
            return f"at least {self.bound()}"
        return f"between {fmt_ratio(self.low)} and {fmt_ratio(self.high)}"

    def judged(self) -> str:
        return " (judged on the interval)" if self.decision == "interval" else ""

    def beyond(self, ratio: float) -> bool:
        return (self.high is not None and ratio > self.high) or (
            self.low is not None and ratio < self.low
        )

    def fails(self, effect: Estimate) -> bool:
        """``estimate``: the ratio is beyond the tolerance; ``interval``: all of its CI is."""
        if self.decision == "estimate":
            return self.beyond(effect.ratio)
        above = self.high is not None and effect.ci_low > self.high
        below = self.low is not None and effect.ci_high < self.low
        return above or below

    def change(self, ratio: float, reference: str, unit: str | None = None) -> str:
        """What differs, for a headline: ``1.52x slower than baseline`` (``unit``: the one
        shown, when not the rule's own)."""
        unit = self.unit if unit is None else unit
        if ratio > 1:
            return f"{fmt_ratio(ratio)} {change_word(unit, True)} than {reference}"
        if ratio < 1:
            lower = change_word(unit, False)
            return f"{fmt_pct(1 - ratio, signed=False)} {lower} than {reference}"
        return f"same as {reference}"

    def significance(self, significant: bool) -> str:
        return (
            f"allowed {self.bound()}" if significant else f"not significant at alpha {self.alpha:g}"
        )

    def what(self) -> str:
        return "the ratio's whole CI" if self.decision == "interval" else "the ratio"

    def detectable(self, effect: Estimate, logs: bool) -> dict[str, float | None]:
        """The smallest harmful change this run would catch 19 times in 20 (calibration.py)."""
        from ..stats.calibration import detectable_ratios  # numpy: loaded with the kind

        return detectable_ratios(
            effect.ratio,
            effect.ci_low,
            effect.ci_high,
            alpha=self.alpha,
            tolerance=self.tolerance,
            direction=self.direction,
            decision=self.decision,
            logs=logs,
        )
