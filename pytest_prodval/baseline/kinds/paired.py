"""The ``paired`` kind: the target beside a control deployment, measured at the same time.

Like ``limit`` it needs no baseline entry: the reference is the control deployment of the
known-good release (the blue side of blue/green, a canary's stable service), measured in the
same run, under the same load, in the same time windows. The value is the target's
per-window medians and ``control=`` the control's, pair by pair (``paired_windows`` makes
them from a load run). Drift of the machine that both sides share cancels in each pair's
ratio, which is what a recorded baseline cannot offer (docs/statistics.md, "Paired").

Verdict: FAILED when the Wilcoxon signed-rank test says the target is higher (``p <
alpha``) *and* the Hodges-Lehmann ratio target/control is beyond ``1 + tolerance``
(``decision="estimate"``), or its whole interval is (``decision="interval"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..stats.calibration import DETECTION_POWER, as_values
from ..stats.paired import PairedEffect, paired_effect
from ..stats.ranks import ALTERNATIVE
from ..verdict import Status, Verdict
from .arguments import (
    check_options,
    direction_phrase,
    finite_real,
)
from .display import detects_text, fmt_num, fmt_pct, fmt_ratio, shorten
from .ratio_rule import RatioRule

__all__ = ["MIN_PAIRS", "PairedJudge"]

# Fewer window pairs than this cannot give a signed-rank p below 0.01 at all (n=7: 1/128).
MIN_PAIRS = 8
_OPTIONS = (
    "control",
    "control_name",
    "target_name",
    "direction",
    "tolerance",
    "alpha",
    "decision",
    "unit",
    "min_pairs",
    "times",
    "window_s",
    "note",
)
_DIGITS = 6


@dataclasses.dataclass(frozen=True)
class _Rule(RatioRule):
    min_pairs: int = 10
    control_name: str = ""
    target_name: str = "target"

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Rule:
        check_options("paired", options, _OPTIONS)
        names = {}
        for name in ("control_name", "target_name"):
            text = options.get(name, "")
            if not isinstance(text, str):
                raise TypeError(f"{name} must be a str; got {type(text).__name__}")
            names[name] = text
        if not names["control_name"]:
            raise TypeError("paired needs control_name=: which deployment the control is")
        min_pairs = options.get("min_pairs", 10)
        if isinstance(min_pairs, bool) or not isinstance(min_pairs, int):
            raise TypeError(f"min_pairs must be an int; got {type(min_pairs).__name__}")
        if min_pairs < MIN_PAIRS:
            raise ValueError(f"min_pairs must be >= {MIN_PAIRS}; got {min_pairs}")
        return cls(
            **RatioRule.common(options),
            min_pairs=min_pairs,
            control_name=names["control_name"],
            target_name=names["target_name"] or "target",
        )

    def describe(self) -> str:
        return (
            f"{self.allowed()} of the control deployment {self.control_name}, "
            f"or not significant (alpha {self.alpha:g}){self.judged()}"
        )


def _optional_values(value: Sequence[float] | None, name: str, size: int) -> list[float] | None:
    if value is None:
        return None
    values = as_values(value, name)
    if values.size != size:
        raise ValueError(f"{name} has {values.size} values for {size} windows")
    return [float(v) for v in values]


class PairedJudge:
    kind: str = "paired"

    def judge(self, key: str, value: Any, **options: Any) -> Verdict:
        rule = _Rule.parse(options)
        if options.get("control") is None:
            raise TypeError("paired needs control=: the control deployment's window values")
        target = as_values(value, "target windows")
        control = as_values(options["control"], "control")
        if target.size != control.size:
            raise ValueError(
                f"paired values come in pairs: {target.size} target and {control.size} "
                "control windows"
            )
        times = _optional_values(options.get("times"), "times", target.size)
        window_s = finite_real(options.get("window_s", 1.0), "window_s")
        unit = rule.unit
        evidence: dict[str, Any] = {
            "method": "wilcoxon signed-rank + hodges-lehmann on paired windows",
            "control_name": rule.control_name,
            "target_name": rule.target_name,
            "direction": rule.direction,
            "tolerance": rule.tolerance,
            "alpha": rule.alpha,
            "decision": rule.decision,
            "unit": unit,
            "pairs": int(target.size),
            "window_s": window_s,
            "note": rule.note,
            "judged": {
                "times": times,
                "target": [float(f"{v:.{_DIGITS}g}") for v in target],
                "control": [float(f"{v:.{_DIGITS}g}") for v in control],
            },
        }
        sides = f"{rule.target_name} beside {rule.control_name}"
        if target.size < rule.min_pairs:
            return Verdict(
                key=key,
                kind=self.kind,
                status=Status.FAILED,
                rule=rule.describe(),
                baseline=f"{control.size} windows",
                target=f"{target.size} windows",
                change="too few windows",
                message=(
                    f"{key}: too few paired windows to judge: {target.size} "
                    f"(min_pairs is {rule.min_pairs}); {sides}: both sides need requests in "
                    "the same windows"
                ),
                evidence=evidence,
            )
        effect = paired_effect(target, control, rule.alpha, rule.direction)
        significant = effect.p_value < rule.alpha
        failed = significant and rule.fails(effect)
        detectable = rule.detectable(effect, logs=effect.method == "log-ratio")
        detects_line, _ = detects_text(
            detectable, unit, "this run's spread between paired windows", DETECTION_POWER
        )
        target_median, control_median = float(np.median(target)), float(np.median(control))
        evidence |= {
            "method": f"{evidence['method']} ({effect.method})",
            "ratio": effect.ratio,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "confidence": 1 - rule.alpha,
            "p_value": effect.p_value,
            "significant": significant,
            # The harmful direction's (for ``either``: the increase); all in "detectable".
            "detectable_ratio": next(iter(detectable.values())),
            "detectable": {**detectable, "power": DETECTION_POWER},
            "target": {"median": target_median, "n": int(target.size)},
            "control": {"median": control_median, "n": int(control.size)},
        }
        confidence = fmt_pct(1 - rule.alpha, signed=False)
        test = {
            "greater": f"one-sided, {rule.target_name} higher",
            "less": f"one-sided, {rule.target_name} lower",
            "two-sided": "two-sided",
        }[ALTERNATIVE[rule.direction]]
        comparison = "<" if significant else ">="
        lines = [
            f"  target:   {rule.target_name}, median window {fmt_num(target_median, unit)}",
            f"  control:  the control deployment {rule.control_name}, measured at the same "
            f"time, median window {fmt_num(control_median, unit)}",
            f"  judged:   {target.size} paired {window_s:g}-s windows (the same window on "
            "both sides: drift they share cancels)",
            f"  ratio:    {fmt_ratio(effect.ratio)} ({confidence} CI "
            f"{fmt_ratio(effect.ci_low)} to {fmt_ratio(effect.ci_high)}), Hodges-Lehmann "
            f"estimate of {rule.target_name}/{rule.control_name} per window",
            f"  p-value:  {effect.p_value:.2g} {comparison} alpha {rule.alpha:g} "
            f"(Wilcoxon signed-rank, {test})",
            detects_line,
            f"  rule:     fail if p < alpha and {rule.what()} is {rule.breach()} (tolerance "
            f"{fmt_pct(rule.tolerance, signed=False)}, {direction_phrase(rule.direction)})",
        ]
        if rule.note:
            lines.append(f"  compared: {rule.note}")
        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if failed else Status.PASSED,
            rule=rule.describe(),
            baseline=shorten(f"{rule.control_name}: median {fmt_num(control_median, unit)}"),
            target=shorten(f"{rule.target_name}: median {fmt_num(target_median, unit)}"),
            change=shorten(f"{fmt_ratio(effect.ratio)}, p={effect.p_value:.2g}"),
            message="\n".join([_headline(key, rule, effect, significant), *lines]),
            evidence=evidence,
        )


def _headline(key: str, rule: _Rule, effect: PairedEffect, significant: bool) -> str:
    change = rule.change(effect.ratio, f"the control deployment {rule.control_name}")
    return f"{key}: {change} ({rule.significance(significant)}, {effect.pairs} paired windows)"
