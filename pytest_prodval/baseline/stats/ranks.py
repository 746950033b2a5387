"""Rank statistics behind ``baseline.distribution``: Mann-Whitney U and Hodges-Lehmann.

Kept apart from the comparator so that the benchmark (``benchmarks/gate_accuracy.py``) and the
comparator compute exactly the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from ..kinds.arguments import Direction

__all__ = [
    "MAX_PAIRS",
    "Effect",
    "as_samples",
    "hodges_lehmann",
    "p_value",
    "summary",
    "thin",
]

Samples = npt.NDArray[np.float64]

MAX_PAIRS = 4_000_000
QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
ALTERNATIVE = {"higher_is_worse": "greater", "lower_is_worse": "less", "either": "two-sided"}


@dataclasses.dataclass(frozen=True)
class Effect:
    ratio: float
    ci_low: float
    ci_high: float
    method: str
    shift: float | None = None  # absolute shift, when samples <= 0 rule out logs


def as_samples(value: object, name: str) -> Samples:
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


def thin(ordered: Samples, size: int) -> Samples:
    """Every k-th of the sorted samples, min and max kept: quantiles survive thinning."""
    if ordered.size <= size:
        return ordered
    return ordered[np.round(np.linspace(0, ordered.size - 1, size)).astype(np.intp)]


def summary(samples: Samples) -> dict[str, float]:
    values = np.quantile(samples, list(QUANTILES.values()))
    summary = {"n": samples.size, "median": float(values[0])}
    return summary | {name: float(v) for name, v in zip(QUANTILES, values, strict=True)}


def p_value(baseline: Samples, target: Samples, direction: Direction) -> float:
    if np.ptp(np.concatenate([baseline, target])) == 0:
        return 1.0  # all values equal: no shift, and U's variance would be 0
    from scipy import stats  # imported on use: scipy.stats costs ~1 s at pytest start-up

    result = stats.mannwhitneyu(target, baseline, alternative=ALTERNATIVE[direction])
    return float(result.pvalue)


def _fit_pairs(x: Samples, y: Samples) -> tuple[Samples, Samples]:
    """Thin sorted ``x`` and ``y`` until ``x.size * y.size <= MAX_PAIRS``, larger side first.

    The interval below is computed from the thinned sizes, so it widens honestly.
    """
    if x.size * y.size <= MAX_PAIRS:
        return x, y
    x_is_small = x.size <= y.size
    small, large = (x, y) if x_is_small else (y, x)
    small = thin(small, math.isqrt(MAX_PAIRS))
    large = thin(large, MAX_PAIRS // small.size)
    return (small, large) if x_is_small else (large, small)


def hodges_lehmann(baseline: Samples, target: Samples, alpha: float) -> Effect:
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
        return Effect(math.exp(centre), math.exp(low), math.exp(high), "log-ratio")
    # No logs for values <= 0: express the shift relative to the baseline's typical size.
    size = abs(float(np.median(baseline))) or float(np.mean(np.abs(baseline))) or 1.0
    return Effect(1 + centre / size, 1 + low / size, 1 + high / size, "shift", shift=centre)
