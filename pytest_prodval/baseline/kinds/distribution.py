"""The ``distribution`` comparator: samples (e.g. latencies) judged with statistics.

One latency number is noise; two sets of samples can be compared honestly. The method
follows Kayenta's Mann-Whitney judge:

1. **Is there a shift at all?** A Mann-Whitney U test of target against baseline:
   one-sided in the harmful direction (``higher_is_worse``: is the target stochastically
   larger?), two-sided for ``either``. It is rank-based, so outliers and skew (the normal
   state of latencies) do not dominate it. Significant means ``p < alpha``.
2. **How big is it?** The Hodges-Lehmann estimate of the ratio target/baseline: the median
   of all pairwise differences ``log(y_j) - log(x_i)``, exponentiated; "the typical target
   is 1.52x the typical baseline". Its ``1 - alpha`` confidence interval comes from the
   order statistics of those differences, indices from the normal approximation to U
   (ties ignored). Samples with values <= 0 have no log: the median pairwise difference is
   then an absolute shift, reported as ``1 + shift / |baseline median|``.
3. **Verdict.** FAILED only when the shift is significant *and* the estimated ratio is
   beyond ``1 ± tolerance`` in the harmful direction. With thousands of samples a 2%
   change is "significant"; the tolerance says whether it matters.
4. **What could it have caught?** Every verdict says the smallest change in the harmful
   direction that the rule would catch 19 times in 20 with this run's spread ("could
   detect", ``evidence["detectable_ratio"]``; ``stats/calibration.detectable_ratios``), and
   the evidence keeps what was judged (the windows, the target's calibrated) and the band,
   so the chart draws them. A control is used on windows only: without ``windows=`` it is
   an error, not silently dropped.

Cost is bounded: the baseline file keeps at most 5000 samples (every k-th of the sorted
list, so quantiles survive), and the pairwise differences are computed on deterministic
quantile-preserving subsamples when ``n * m`` exceeds 4e6.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from ..stats.calibration import (
    DETECTION_POWER,
    MIN_WINDOWS,
    Calibration,
    as_values,
    calibrate,
)
from ..stats.ranks import (
    ALTERNATIVE,
    Effect,
    as_samples,
    hodges_lehmann,
    p_value,
    summary,
    thin,
)
from ..verdict import Entry, Status, Verdict
from .arguments import (
    check_entry,
    check_options,
    direction_phrase,
    resolve_unit,
)
from .display import detects_text, fmt_num, fmt_pct, fmt_ratio, shorten
from .ratio_rule import RatioRule

__all__ = ["DistributionComparator"]

Samples = npt.NDArray[np.float64]

_OPTIONS = ("direction", "tolerance", "alpha", "unit", "min_samples", "decision", "note")
# Per-run data, not rules: time-window medians and a control measurement (calibration.py).
_DATA_OPTIONS = ("windows", "control", "control_name", "calibration")
_MAX_STORED = 5000
_MAX_CONTROL = 2000


@dataclasses.dataclass(frozen=True)
class _Rule(RatioRule):
    min_samples: int = 20

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Rule:
        check_options("distribution", options, _OPTIONS + _DATA_OPTIONS)
        if options.get("control") is not None and options.get("windows") is None:
            raise ValueError(
                "control= calibrates time windows: pass windows= too (see docs/statistics.md)"
            )
        options = {k: v for k, v in options.items() if k not in _DATA_OPTIONS}
        min_samples = options.get("min_samples", 20)
        if isinstance(min_samples, bool) or not isinstance(min_samples, int):
            raise TypeError(f"min_samples must be an int; got {type(min_samples).__name__}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2; got {min_samples}")
        return cls(**RatioRule.common(options), min_samples=min_samples)

    def describe(self) -> str:
        return (
            f"{self.allowed()} of baseline, or not significant (alpha {self.alpha:g})"
            f"{self.judged()}"
        )

    def band(self, reference: float) -> dict[str, float]:
        """The allowed values around the judged baseline's median, for the chart."""
        return {
            "reference": _round6(reference),
            "from": _round6(reference * (1.0 if self.low is None else self.low)),
            "to": _round6(reference * (1.0 if self.high is None else self.high)),
        }


def _typical(summary: dict[str, float], unit: str) -> str:
    return f"median {fmt_num(summary['median'], unit)}, p95 {fmt_num(summary['p95'], unit)}"


def _round6(x: float) -> float:
    return float(f"{x:.6g}")


@dataclasses.dataclass(frozen=True)
class _Judged:
    """What the test ran on: requests, or per-window medians (calibrated by a control)."""

    baseline: Samples
    target: Samples
    windows: bool
    calibration: Calibration | None = None
    why_not: str = ""  # why the windows or the control given were not used

    def lines(self, unit: str) -> list[str]:
        if not self.windows:
            return [f"  judged:   per request: {self.why_not}"] if self.why_not else []
        lines = [
            f"  judged:   on {self.baseline.size} and {self.target.size} time-window medians "
            "(requests within a window are not independent)"
        ]
        c = self.calibration
        if c is None:
            why = f" ({self.why_not})" if self.why_not else ""
            lines.append(f"  control:  none{why}; the difference includes the machines' difference")
        else:
            lines.append(f"  control:  {c.describe(lambda v: fmt_num(v, unit))}")
        return lines


def _judged(entry: Entry, target: Samples, baseline: Samples, options: dict[str, Any]) -> _Judged:
    stored, given = entry.get("windows"), options.get("windows")
    if stored is None or given is None:
        why = ""
        if given is not None:
            why = "the baseline entry has no time windows; record it again to judge windows"
        elif stored is not None:
            why = "the baseline entry has time windows, this call none; pass windows="
        return _Judged(baseline, target, windows=False, why_not=why)
    base_windows = as_values(stored, "the baseline entry's windows")
    target_windows = as_values(given, "windows")
    base_control = entry.get("control")
    target_control = options.get("control")
    name = options.get("control_name") or entry.get("control_name") or "control"
    why_not = ""
    if entry.get("control_name", name) != name:
        base_control = target_control = None  # different controls say nothing about each other
        why_not = f"the baseline entry's control is {entry.get('control_name')!r}, not {name!r}"
    elif target_control is not None and base_control is None:
        why_not = "the baseline entry has no control; record it again"
    elif base_control is not None and target_control is None:
        why_not = f"the baseline entry has a {name!r} control, this call none"
    calibrated, calibration = calibrate(
        target_windows,
        None if base_control is None else as_values(base_control, "the baseline's control"),
        None if target_control is None else as_values(target_control, "control"),
        str(name),
        str(options.get("calibration") or "ratio"),
    )
    return _Judged(base_windows, calibrated, windows=True, calibration=calibration, why_not=why_not)


class DistributionComparator:
    kind: str = "distribution"

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        rule = _Rule.parse(options)
        samples = np.sort(as_samples(value, "samples"))
        if samples.size < rule.min_samples:
            raise ValueError(
                f"cannot record {key!r} from {samples.size} samples; "
                f"min_samples is {rule.min_samples}"
            )
        summary_ = summary(samples)
        entry: Entry = {
            "kind": self.kind,
            "unit": rule.unit,
            "n": samples.size,
            "median": _round6(summary_["median"]),
            "p95": _round6(summary_["p95"]),
            "samples": [_round6(float(v)) for v in thin(samples, _MAX_STORED)],
        }
        if options.get("windows") is not None:
            windows = as_values(options["windows"], "windows")
            if windows.size < MIN_WINDOWS:
                raise ValueError(
                    f"cannot record {key!r} from {windows.size} time windows; need {MIN_WINDOWS}"
                )
            entry["windows"] = [_round6(float(v)) for v in windows]
        if options.get("control") is not None:
            control = np.sort(as_values(options["control"], "control"))
            entry["control"] = [_round6(float(v)) for v in thin(control, _MAX_CONTROL)]
            entry["control_name"] = str(options.get("control_name") or "control")
        shown = shorten(_typical(summary_, rule.unit))
        verdict = Verdict(
            key=key,
            kind=self.kind,
            status=Status.RECORDED,
            rule=rule.describe(),
            baseline=shown,
            target=shown,
            change="",
            message=f"{key}: recorded {samples.size} samples, {_typical(summary_, rule.unit)}",
            evidence={"baseline": summary_, "unit": rule.unit},
        )
        return entry, verdict

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        rule = _Rule.parse(options)
        check_entry(self.kind, key, entry)
        baseline = as_samples(entry.get("samples"), "the baseline entry's samples")
        target = as_samples(value, "samples")
        unit = resolve_unit(rule.unit, entry.get("unit", ""))
        judged = _judged(entry, target, baseline, options)
        evidence: dict[str, Any] = {
            "method": "mann-whitney-u + hodges-lehmann",
            "direction": rule.direction,
            "tolerance": rule.tolerance,
            "alpha": rule.alpha,
            "decision": rule.decision,
            "min_samples": rule.min_samples,
            "unit": unit,
            "baseline": summary(baseline) if baseline.size else {"n": 0},
            "target": summary(target) if target.size else {"n": 0},
            "windows": {"baseline": judged.baseline.size, "target": judged.target.size}
            if judged.windows
            else None,
            "calibration": None if judged.calibration is None else judged.calibration.evidence(),
            # What the test ran on, so that a chart can be drawn from the evidence alone: the
            # windows (the target's after calibration); per-request samples are not repeated.
            "judged": {
                "baseline": [_round6(float(v)) for v in judged.baseline],
                "target": [_round6(float(v)) for v in judged.target],
            }
            if judged.windows
            else None,
            "note": rule.note,
        }
        least = MIN_WINDOWS if judged.windows else rule.min_samples
        what = "time windows" if judged.windows else "samples"
        too_few = [
            f"{len(side)} {name} {what}"
            for name, side in (("baseline", judged.baseline), ("target", judged.target))
            if len(side) < least
        ]
        if too_few or min(baseline.size, target.size) < rule.min_samples:
            too_few = too_few or [f"{baseline.size} baseline and {target.size} target samples"]
            headline = f"{key}: too few {what} to judge: {' and '.join(too_few)}"
            return Verdict(
                key=key,
                kind=self.kind,
                status=Status.FAILED,
                rule=rule.describe(),
                baseline=f"n={baseline.size}",
                target=f"n={target.size}",
                change="too few samples",
                message=f"{headline} (min_samples is {rule.min_samples})",
                evidence=evidence,
            )

        p = p_value(judged.baseline, judged.target, rule.direction)
        effect = hodges_lehmann(judged.baseline, judged.target, rule.alpha)
        significant = p < rule.alpha
        failed = significant and rule.fails(effect)
        detectable = rule.detectable(effect, logs=effect.shift is None)
        detects_line, detects_short = detects_text(
            detectable, unit, "this run's spread; drift between runs is not in it", DETECTION_POWER
        )
        # A pass says what it could have caught in the headline; a failure did catch it.
        detects_short = "" if failed else detects_short
        evidence |= {
            "method": f"mann-whitney-u + hodges-lehmann ({effect.method}"
            + (", time windows" if judged.windows else "")
            + (", control-calibrated)" if judged.calibration else ")"),
            "ratio": effect.ratio,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "confidence": 1 - rule.alpha,
            "shift": effect.shift,
            "p_value": p,
            "significant": significant,
            "tolerance_band": rule.band(float(np.median(judged.baseline))),
            # The harmful direction's (for ``either``: the increase); all in "detectable".
            "detectable_ratio": next(iter(detectable.values())),
            "detectable": {**detectable, "power": DETECTION_POWER},
        }
        base_sum, target_sum = evidence["baseline"], evidence["target"]
        confidence = fmt_pct(1 - rule.alpha, signed=False)
        ratio_text = (
            f"{fmt_ratio(effect.ratio)} ({confidence} CI {fmt_ratio(effect.ci_low)} to "
            f"{fmt_ratio(effect.ci_high)})"
        )
        if effect.shift is not None:
            ratio_text += f", shift {fmt_num(effect.shift, unit)}"
        test = {
            "greater": "one-sided, target higher",
            "less": "one-sided, target lower",
            "two-sided": "two-sided",
        }[ALTERNATIVE[rule.direction]]
        comparison = "<" if significant else ">="
        lines = [
            f"  baseline: {_typical(base_sum, unit)} (n={baseline.size})",
            f"  target:   {_typical(target_sum, unit)} (n={target.size})",
            *judged.lines(unit),
            f"  ratio:    {ratio_text}, Hodges-Lehmann estimate of target/baseline",
            f"  p-value:  {p:.2g} {comparison} alpha {rule.alpha:g} (Mann-Whitney U, {test})",
            f"  rule:     fail if p < alpha and {rule.what()} is {rule.breach()} "
            f"(tolerance {fmt_pct(rule.tolerance, signed=False)}, "
            f"{direction_phrase(rule.direction)})",
            detects_line,
        ]
        if rule.note:
            lines.append(f"  compared: {rule.note}")
        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if failed else Status.PASSED,
            rule=rule.describe(),
            baseline=shorten(_typical(base_sum, unit)),
            target=shorten(_typical(target_sum, unit)),
            change=shorten(f"{fmt_ratio(effect.ratio)}, p={p:.2g}"),
            message="\n".join(
                [self._headline(key, rule, effect, significant, unit, detects_short), *lines]
            ),
            evidence=evidence,
        )

    @staticmethod
    def _headline(
        key: str, rule: _Rule, effect: Effect, significant: bool, unit: str, detects: str
    ) -> str:
        change = rule.change(effect.ratio, "baseline", unit)  # the unit shown: maybe the entry's
        details = [fmt_ratio(effect.ratio)] if effect.ratio < 1 else []
        details.append(rule.significance(significant))
        if detects:
            details.append(detects)
        return f"{key}: {change} ({', '.join(details)})"
