"""Paired statistics behind ``baseline.paired``: the Wilcoxon signed-rank test and the
one-sample Hodges-Lehmann estimate, on per-window log-ratios target/control.

Each pair is the same time window measured on both sides, so what the machine did in that
window is in both values and cancels in their ratio; what is left is the release's effect
plus the noise of two medians. The test asks whether the log-ratios lean to the harmful side
(rank-based: one odd window does not dominate); the estimate is the median of the Walsh
averages ``(d_i + d_j) / 2``, with the distribution-free interval of the signed-rank test
(normal approximation). Values <= 0 have no log: the differences are then used as they are,
and expressed relative to the control's median.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from ..kinds.arguments import Direction
from .ranks import ALTERNATIVE

__all__ = ["PairedEffect", "paired_effect"]

Samples = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class PairedEffect:
    """Target/control as a ratio (``ratio`` and its interval), with the test's p-value."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    pairs: int
    method: str  # "log-ratio" or "shift"


def _signed_rank_p(differences: Samples, direction: Direction) -> float:
    if not np.any(differences):
        return 1.0  # every pair equal: no shift (and the test would divide by zero)
    from scipy import stats  # imported on use: scipy.stats costs ~1 s at pytest start-up

    result = stats.wilcoxon(differences, alternative=ALTERNATIVE[direction])
    return float(result.pvalue)


def _walsh_interval(differences: Samples, alpha: float) -> tuple[float, float, float]:
    """Median of the Walsh averages and its ``1 - alpha`` interval (C-th smallest/largest)."""
    n = differences.size
    i, j = np.triu_indices(n)
    walsh = np.sort((differences[i] + differences[j]) / 2)
    from scipy import stats

    z = float(stats.norm.ppf(1 - alpha / 2))
    c = max(1, math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)))
    return float(np.median(walsh)), float(walsh[c - 1]), float(walsh[walsh.size - c])


def paired_effect(
    target: Samples, control: Samples, alpha: float, direction: Direction
) -> PairedEffect:
    """How much higher ``target`` is than ``control``, pair by pair (same-length arrays)."""
    if target.size != control.size:
        raise ValueError(f"{target.size} target and {control.size} control values: not pairs")
    use_logs = bool(target.size and target.min() > 0 and control.min() > 0)
    differences = np.log(target) - np.log(control) if use_logs else target - control
    p = _signed_rank_p(differences, direction)
    centre, low, high = _walsh_interval(differences, alpha)
    if use_logs:
        return PairedEffect(
            math.exp(centre), math.exp(low), math.exp(high), p, target.size, "log-ratio"
        )
    size = abs(float(np.median(control))) or 1.0
    return PairedEffect(1 + centre / size, 1 + low / size, 1 + high / size, p, target.size, "shift")
