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

Cost is bounded: the baseline file keeps at most 5000 samples (every k-th of the sorted
list, so quantiles survive), and the pairwise differences are computed on deterministic
quantile-preserving subsamples when ``n * m`` exceeds 4e6.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from .display import fmt_num, fmt_pct, fmt_ratio, shorten
from .options import (
    Direction,
    check_entry,
    check_options,
    direction_phrase,
    finite_real,
    parse_direction,
    parse_unit,
    resolve_unit,
)
from .verdict import Entry, Status, Verdict

__all__ = ["DistributionComparator"]

Samples = npt.NDArray[np.float64]

_OPTIONS = ("direction", "tolerance", "alpha", "unit", "min_samples")
_MAX_STORED = 5000
_MAX_PAIRS = 4_000_000
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
_TIME_UNITS = frozenset(
    {"ns", "us", "µs", "μs", "ms", "s", "sec", "min", "h", "seconds", "milliseconds"}
)
_ALTERNATIVE = {"higher_is_worse": "greater", "lower_is_worse": "less", "either": "two-sided"}


@dataclasses.dataclass(frozen=True)
class _Rule:
    direction: Direction
    tolerance: float
    alpha: float
    unit: str
    min_samples: int

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Rule:
        check_options("distribution", options, _OPTIONS)
        tolerance = finite_real(options.get("tolerance", 0.10), "tolerance")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0; got {tolerance!r}")
        alpha = finite_real(options.get("alpha", 0.01), "alpha")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1; got {alpha!r}")
        min_samples = options.get("min_samples", 20)
        if isinstance(min_samples, bool) or not isinstance(min_samples, int):
            raise TypeError(f"min_samples must be an int; got {type(min_samples).__name__}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2; got {min_samples}")
        return cls(
            direction=parse_direction(options.get("direction", "higher_is_worse")),
            tolerance=tolerance,
            alpha=alpha,
            unit=parse_unit(options.get("unit", "")),
            min_samples=min_samples,
        )

    @property
    def high(self) -> float | None:
        return None if self.direction == "lower_is_worse" else 1 + self.tolerance

    @property
    def low(self) -> float | None:
        return None if self.direction == "higher_is_worse" else 1 - self.tolerance

    def bound(self) -> str:
        """The allowed ratio target/baseline: ``1.10x``, ``0.90x`` or ``0.90x to 1.10x``."""
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

    def describe(self) -> str:
        return f"{self.allowed()} of baseline, or not significant (alpha {self.alpha:g})"

    def beyond(self, ratio: float) -> bool:
        return (self.high is not None and ratio > self.high) or (
            self.low is not None and ratio < self.low
        )


@dataclasses.dataclass(frozen=True)
class _Effect:
    ratio: float
    ci_low: float
    ci_high: float
    method: str
    shift: float | None = None  # absolute shift, when samples <= 0 rule out logs


def _samples(value: object, name: str) -> Samples:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of numbers; got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iuf":
            raise ValueError(f"{name} must be a 1-D array of numbers; got {value.dtype}")
        array = value.astype(np.float64)
    else:
        items = list(value)
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, numbers.Real):
                raise ValueError(f"{name}[{i}] is {type(item).__name__}, not a number")
        array = np.asarray(items, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {float(array[bad[0]])!r}; samples must be finite")
    return array


def _thin(ordered: Samples, size: int) -> Samples:
    """Every k-th of the sorted samples, min and max kept: quantiles survive thinning."""
    if ordered.size <= size:
        return ordered
    return ordered[np.round(np.linspace(0, ordered.size - 1, size)).astype(np.intp)]


def _round6(x: float) -> float:
    return float(f"{x:.6g}")


def _summary(samples: Samples) -> dict[str, float]:
    values = np.quantile(samples, list(_QUANTILES.values()))
    summary = {"n": samples.size, "median": float(values[0])}
    return summary | {name: float(v) for name, v in zip(_QUANTILES, values, strict=True)}


def _p_value(baseline: Samples, target: Samples, direction: Direction) -> float:
    if np.ptp(np.concatenate([baseline, target])) == 0:
        return 1.0  # all values equal: no shift, and U's variance would be 0
    from scipy import stats  # imported on use: scipy.stats costs ~1 s at pytest start-up

    result = stats.mannwhitneyu(target, baseline, alternative=_ALTERNATIVE[direction])
    return float(result.pvalue)


def _fit_pairs(x: Samples, y: Samples) -> tuple[Samples, Samples]:
    """Thin sorted ``x`` and ``y`` until ``x.size * y.size <= _MAX_PAIRS``, larger side first.

    The interval below is computed from the thinned sizes, so it widens honestly.
    """
    if x.size * y.size <= _MAX_PAIRS:
        return x, y
    x_is_small = x.size <= y.size
    small, large = (x, y) if x_is_small else (y, x)
    small = _thin(small, math.isqrt(_MAX_PAIRS))
    large = _thin(large, _MAX_PAIRS // small.size)
    return (small, large) if x_is_small else (large, small)


def _hodges_lehmann(baseline: Samples, target: Samples, alpha: float) -> _Effect:
    use_logs = bool(baseline.min() > 0 and target.min() > 0)
    x = np.sort(np.log(baseline) if use_logs else baseline)
    y = np.sort(np.log(target) if use_logs else target)
    x, y = _fit_pairs(x, y)
    n, m = x.size, y.size
    pairs = np.subtract.outer(y, x).ravel()
    total = pairs.size
    from scipy import stats

    z = float(stats.norm.ppf(1 - alpha / 2))
    # C-th smallest and C-th largest pairwise difference bound the interval (1-based C).
    c = max(1, math.floor(total / 2 - z * math.sqrt(n * m * (n + m + 1) / 12)))
    middle = sorted({(total - 1) // 2, total // 2})
    ordered = np.partition(pairs, sorted({c - 1, total - c, *middle}))
    centre = float(ordered[middle].mean())
    low, high = float(ordered[c - 1]), float(ordered[total - c])
    if use_logs:
        return _Effect(math.exp(centre), math.exp(low), math.exp(high), "log-ratio")
    # No logs for values <= 0: express the shift relative to the baseline's typical size.
    size = abs(float(np.median(baseline))) or float(np.mean(np.abs(baseline))) or 1.0
    return _Effect(1 + centre / size, 1 + low / size, 1 + high / size, "shift", shift=centre)


def _word(unit: str, higher: bool) -> str:
    if unit in _TIME_UNITS:
        return "slower" if higher else "faster"
    return "higher" if higher else "lower"


def _typical(summary: dict[str, float], unit: str) -> str:
    return f"median {fmt_num(summary['median'], unit)}, p95 {fmt_num(summary['p95'], unit)}"


class DistributionComparator:
    kind: str = "distribution"

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        rule = _Rule.parse(options)
        samples = np.sort(_samples(value, "samples"))
        if samples.size < rule.min_samples:
            raise ValueError(
                f"cannot record {key!r} from {samples.size} samples; "
                f"min_samples is {rule.min_samples}"
            )
        summary = _summary(samples)
        entry: Entry = {
            "kind": self.kind,
            "unit": rule.unit,
            "n": samples.size,
            "median": _round6(summary["median"]),
            "p95": _round6(summary["p95"]),
            "samples": [_round6(float(v)) for v in _thin(samples, _MAX_STORED)],
        }
        shown = shorten(_typical(summary, rule.unit))
        verdict = Verdict(
            key=key,
            kind=self.kind,
            status=Status.RECORDED,
            rule=rule.describe(),
            baseline=shown,
            target=shown,
            change="",
            message=f"{key}: recorded {samples.size} samples, {_typical(summary, rule.unit)}",
            evidence={"baseline": summary, "unit": rule.unit},
        )
        return entry, verdict

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        rule = _Rule.parse(options)
        check_entry(self.kind, key, entry)
        baseline = _samples(entry.get("samples"), "the baseline entry's samples")
        target = _samples(value, "samples")
        unit = resolve_unit(rule.unit, entry.get("unit", ""))
        evidence: dict[str, Any] = {
            "method": "mann-whitney-u + hodges-lehmann",
            "direction": rule.direction,
            "tolerance": rule.tolerance,
            "alpha": rule.alpha,
            "min_samples": rule.min_samples,
            "unit": unit,
            "baseline": _summary(baseline) if baseline.size else {"n": 0},
            "target": _summary(target) if target.size else {"n": 0},
        }
        too_few = [
            f"{len(side)} {name} samples"
            for name, side in (("baseline", baseline), ("target", target))
            if len(side) < rule.min_samples
        ]
        if too_few:
            headline = f"{key}: too few samples to judge: {' and '.join(too_few)}"
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

        p_value = _p_value(baseline, target, rule.direction)
        effect = _hodges_lehmann(baseline, target, rule.alpha)
        significant = p_value < rule.alpha
        failed = significant and rule.beyond(effect.ratio)
        evidence |= {
            "method": f"mann-whitney-u + hodges-lehmann ({effect.method})",
            "ratio": effect.ratio,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "confidence": 1 - rule.alpha,
            "shift": effect.shift,
            "p_value": p_value,
            "significant": significant,
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
        }[_ALTERNATIVE[rule.direction]]
        comparison = "<" if significant else ">="
        lines = [
            f"  baseline: {_typical(base_sum, unit)} (n={baseline.size})",
            f"  target:   {_typical(target_sum, unit)} (n={target.size})",
            f"  ratio:    {ratio_text}, Hodges-Lehmann estimate of target/baseline",
            f"  p-value:  {p_value:.2g} {comparison} alpha {rule.alpha:g} (Mann-Whitney U, {test})",
            f"  rule:     fail if p < alpha and the ratio is {rule.breach()} "
            f"(tolerance {fmt_pct(rule.tolerance, signed=False)}, "
            f"{direction_phrase(rule.direction)})",
        ]
        return Verdict(
            key=key,
            kind=self.kind,
            status=Status.FAILED if failed else Status.PASSED,
            rule=rule.describe(),
            baseline=shorten(_typical(base_sum, unit)),
            target=shorten(_typical(target_sum, unit)),
            change=shorten(f"{fmt_ratio(effect.ratio)}, p={p_value:.2g}"),
            message="\n".join([self._headline(key, rule, effect, significant, unit), *lines]),
            evidence=evidence,
        )

    @staticmethod
    def _headline(key: str, rule: _Rule, effect: _Effect, significant: bool, unit: str) -> str:
        ratio, details = effect.ratio, []
        if ratio > 1:
            change = f"{fmt_ratio(ratio)} {_word(unit, True)} than baseline"
        elif ratio < 1:
            change = f"{fmt_pct(1 - ratio, signed=False)} {_word(unit, False)} than baseline"
            details.append(fmt_ratio(ratio))
        else:
            change = "same as baseline"
        if significant:
            details.append(f"allowed {rule.bound()}")
        else:
            details.append(f"not significant at alpha {rule.alpha:g}")
        return f"{key}: {change} ({', '.join(details)})"
