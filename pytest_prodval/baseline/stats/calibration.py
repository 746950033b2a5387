"""Time windows and a control measurement for ``baseline.distribution``.

Two facts about latencies measured under load break the per-request test:

- **Requests are not independent.** Requests in the same second share that second's state
  of the machine (a GC pause, a busy neighbour, the load generator's own event loop lagging).
  A per-request Mann-Whitney test then counts one slow second as hundreds of pieces of
  evidence and calls noise significant. Per-window medians (one value per ``window_s`` of the
  run) are close to independent, so the test and the interval are computed on them.
- **Two runs are not measured on the same machine state.** A baseline recorded an hour ago,
  or on other hardware, differs from the target run by more than the release. A *control*,
  measured alongside in the same run but not served by the release (TCP connect time to the
  API's port, which the kernel answers), shows how much of the difference is the machine's:
  the target's windows are corrected by it before judging: by its median ratio (``ratio``,
  the default: a busier host stretches every hop by a factor; measured best with a static
  endpoint on the same host, TCP connect time as the fallback, docs/statistics.md) or by its
  median shift (``shift``: for a fixed cost added to every request, such as a lagging client).

And one fact about any verdict: a pass says nothing unless it says how large a change the run
could have caught. ``detectable_ratios`` reads that off the verdict's own interval
("could detect").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CALIBRATIONS",
    "DETECTION_POWER",
    "MIN_WINDOWS",
    "Calibration",
    "as_values",
    "calibrate",
    "detectable_ratios",
]

Samples = npt.NDArray[np.float64]

# Fewer windows than this on either side: too few to judge (and to record).
MIN_WINDOWS = 5


def as_values(value: object, name: str) -> Samples:
    """A 1-D array of finite numbers, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers; got {type(value).__name__}")
    items = list(value)
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (int, float, np.floating, np.integer)):
            raise ValueError(f"{name}[{i}] is {type(item).__name__}, not a number")
    array = np.asarray(items, dtype=np.float64)
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
    return array


CALIBRATIONS = ("shift", "ratio")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What the target's windows were corrected by, for the message and the evidence.

    ``ratio`` (the default): the windows are divided by the control's median ratio (a busier
    host stretches every hop by a factor). ``shift``: the control's median difference is
    subtracted (a fixed cost added to every request, such as a lagging client).
    """

    name: str
    mode: str
    baseline_median: float
    target_median: float

    @property
    def shift(self) -> float:
        return self.target_median - self.baseline_median

    @property
    def factor(self) -> float:
        return self.target_median / self.baseline_median if self.baseline_median > 0 else 1.0

    def apply(self, windows: Samples) -> Samples:
        return windows / self.factor if self.mode == "ratio" else windows - self.shift

    def describe(self, fmt: Callable[[float], str]) -> str:
        moved = f"{fmt(self.baseline_median)} -> {fmt(self.target_median)}"
        if self.mode == "ratio":
            how = f"the target's windows are divided by its ratio {self.factor:.3g}x"
        else:
            how = f"its shift {fmt(self.shift)} is subtracted from the target's windows"
        return f"{self.name} median {moved}; {how}"

    def evidence(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "baseline_median": self.baseline_median,
            "target_median": self.target_median,
            "shift": self.shift,
            "factor": self.factor,
        }


def calibrate(
    target_windows: Samples,
    baseline_control: Samples | None,
    target_control: Samples | None,
    name: str,
    mode: str = "ratio",
) -> tuple[Samples, Calibration | None]:
    """Target windows corrected by the control; unchanged without a control on both sides."""
    if mode not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}; got {mode!r}")
    if (
        baseline_control is None
        or target_control is None
        or baseline_control.size == 0
        or target_control.size == 0
    ):
        return target_windows, None
    calibration = Calibration(
        name, mode, float(np.median(baseline_control)), float(np.median(target_control))
    )
    return calibration.apply(target_windows), calibration


# "Could detect" is the change the rule would catch this often (19 of 20 runs).
DETECTION_POWER = 0.95


def detectable_ratios(
    ratio: float,
    ci_low: float,
    ci_high: float,
    *,
    alpha: float,
    tolerance: float,
    direction: Literal["higher_is_worse", "lower_is_worse", "either"],
    decision: str,
    logs: bool = True,
    power: float = DETECTION_POWER,
) -> dict[str, float | None]:
    """The smallest change in each harmful direction that this run's spread would catch.

    The ``1 - alpha`` interval gives the estimate's standard error: ``se = (g(ratio) -
    g(ci_low)) / z(1 - alpha/2)``, with ``g = log`` for ratios of logs (identity for a
    ``shift`` estimate). Assume that spread holds around a true ratio ``R``: the estimate is
    normal around ``g(R)`` with that ``se``. The rule fails (increase side) when

    - ``decision="interval"``: the interval's low end is above the tolerance:
      ``g(est) > g(1 + tolerance) + z(1 - alpha/2)·se``;
    - ``decision="estimate"``: the estimate is above the tolerance and significant (a
      one-sided test at ``alpha`` is ``g(est) > z(1 - alpha)·se``; two-sided for ``either``):
      ``g(est) > max(g(1 + tolerance), z·se)``.

    It fails with probability ``power`` when ``g(R)`` is ``z(power)·se`` above that threshold.
    The result: ``{"higher": R or None, "lower": R or None}``, the directions judged only;
    ``lower`` is None when ``1 - tolerance <= 0`` in logs (no drop can be large enough).
    The spread is this run's: drift of the machine between the baseline's run and this one
    is not in it, so this is what the run could detect at best, not a guarantee.
    """
    normal = NormalDist()
    g: Callable[[float], float] = math.log if logs else float
    inverse: Callable[[float], float] = (lambda x: math.exp(min(x, 700.0))) if logs else float
    two_sided = normal.inv_cdf(1 - alpha / 2)
    significant = two_sided if direction == "either" else normal.inv_cdf(1 - alpha)
    beyond = normal.inv_cdf(power)
    result: dict[str, float | None] = {}
    if direction != "lower_is_worse":
        se = max(0.0, g(ratio) - g(ci_low)) / two_sided
        if decision == "interval":
            threshold = g(1 + tolerance) + two_sided * se
        else:
            threshold = max(g(1 + tolerance), g(1.0) + significant * se)
        result["higher"] = inverse(threshold + beyond * se)
    if direction != "higher_is_worse":
        se = max(0.0, g(ci_high) - g(ratio)) / two_sided
        if logs and tolerance >= 1:
            result["lower"] = None
        else:
            if decision == "interval":
                threshold = g(1 - tolerance) - two_sided * se
            else:
                threshold = min(g(1 - tolerance), g(1.0) - significant * se)
            result["lower"] = inverse(threshold - beyond * se)
    return result
