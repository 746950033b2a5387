"""An SVG chart of baseline vs target latency distributions, one panel per endpoint.

Each panel shows the two empirical distribution functions on a log time axis: a slowdown
is the target's curve shifted right, a tail problem is the curves parting near the top.
Drawn with matplotlib's Agg backend (no display), imported only when a chart is drawn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["Panel", "write_chart"]


@dataclasses.dataclass(frozen=True)
class Panel:
    title: str
    baseline: npt.NDArray[np.float64] | Sequence[float]
    target: npt.NDArray[np.float64] | Sequence[float]
    verdict: str = ""  # e.g. "PASSED 1.02x (CI 0.98x to 1.05x)"


def _ecdf(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    ordered = np.sort(values[values > 0])
    return ordered, np.arange(1, ordered.size + 1) / max(1, ordered.size)


def write_chart(path: Path, panels: Sequence[Panel], title: str, unit: str = "ms") -> Path:
    """Write the chart to ``path`` (SVG) and return it."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    try:
        for index, axis in enumerate(axes.flat):
            if index >= len(panels):
                axis.set_visible(False)
                continue
            panel = panels[index]
            for label, values, colour in (
                ("baseline", panel.baseline, "#1f77b4"),
                ("target", panel.target, "#d62728"),
            ):
                x, y = _ecdf(np.asarray(values, dtype=np.float64))
                if x.size:
                    axis.step(x, y, where="post", color=colour, label=f"{label} (n={x.size})")
                    axis.axvline(float(np.median(x)), color=colour, linewidth=0.6, linestyle=":")
            axis.set_xscale("log")
            axis.set_ylim(0, 1)
            axis.set_title(panel.title, fontsize=9)
            axis.set_xlabel(f"latency ({unit}, log scale)", fontsize=8)
            axis.set_ylabel("share of requests at most x", fontsize=8)
            axis.tick_params(labelsize=7)
            axis.grid(True, which="both", linewidth=0.3, alpha=0.5)
            axis.legend(fontsize=7, loc="lower right")
            if panel.verdict:
                axis.text(0.02, 0.96, panel.verdict, transform=axis.transAxes, fontsize=7, va="top")
        figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fixed hash salt and no date keep the file identical for identical data.
        matplotlib.rcParams["svg.hashsalt"] = "prodval"
        figure.savefig(path, format="svg", metadata={"Date": None})
    finally:
        plt.close(figure)
    return path
