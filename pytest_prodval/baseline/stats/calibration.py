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
  the target's windows are corrected by it before judging: by its median shift (``shift``,
  for TCP connect time: a lagging client or kernel adds time to every request) or by its
  median ratio (``ratio``, for a static endpoint on the same hosts: a busier CPU stretches
  every handler by a factor).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CALIBRATIONS", "MIN_WINDOWS", "Calibration", "as_values", "calibrate"]

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

    ``shift``: the control's median difference is subtracted (a lagging client or kernel adds
    time to every request). ``ratio``: the windows are divided by the control's median ratio
    (a busier CPU stretches every handler by a factor); use it with a control that does work
    on the same hosts, such as a static endpoint.
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
    mode: str = "shift",
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
