"""SVG charts of latency comparisons, drawn with matplotlib's Agg backend (no display).

``write_chart``: one panel per comparison, the two empirical distribution functions of what
was judged on a log axis (per-window medians, the target's after calibration, when the
comparison has windows; the raw samples otherwise), the tolerance band shaded. A slowdown is
the target's curve shifted right, past the band; a tail problem is the curves parting near
the top.

``write_paired_chart``: the paired mode, the target and the control deployment measured in the
same time windows: both sides' window medians over time, and underneath each window's ratio
target/control against the tolerance.

matplotlib is imported only when a chart is drawn (the ``load`` extra). The same data gives
the same bytes: a fixed hash salt, no date.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PairedPanel", "Panel", "distribution_panel", "write_chart", "write_paired_chart"]

_BASELINE, _TARGET, _BAND = "#1f77b4", "#d62728", "#2ca02c"


@dataclasses.dataclass(frozen=True)
class Panel:
    title: str
    baseline: npt.NDArray[np.float64] | Sequence[float]
    target: npt.NDArray[np.float64] | Sequence[float]
    verdict: str = ""  # e.g. "PASSED 1.02x (CI 0.98x to 1.05x)"; may span lines
    # The curves' legend names, and what one value is ("requests", "windows").
    labels: tuple[str, str] = ("baseline", "target")
    of: str = "requests"
    # The allowed values (baseline median x [1, 1 + tolerance]), shaded; None: no band.
    band: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class PairedPanel:
    """One endpoint of a paired comparison: ``target[i]`` and ``control[i]`` are the medians
    of the same time window (starting ``times_s[i]`` seconds into the run) on both sides."""

    title: str
    times_s: Sequence[float]
    target: Sequence[float]
    control: Sequence[float]
    target_name: str
    control_name: str
    tolerance: float
    verdict: str = ""  # e.g. "PASSED 1.03x (CI 0.99x to 1.08x), could detect >= +12%"
    direction: str = "higher_is_worse"  # which of 1 ± tolerance is drawn

    def __post_init__(self) -> None:
        sizes = {len(self.times_s), len(self.target), len(self.control)}
        if len(sizes) != 1:
            raise ValueError(
                f"PairedPanel {self.title!r}: times_s, target and control must be as long as "
                f"each other; got {len(self.times_s)}, {len(self.target)}, {len(self.control)}"
            )


def _detects(detectable: dict[str, Any]) -> str:
    parts = []
    for side, sign in (("higher", "≥"), ("lower", "≤")):
        ratio = detectable.get(side)
        if isinstance(ratio, (int, float)):
            parts.append(f"{sign} {(ratio - 1) * 100:+.0f}%")
    return f"could detect {' or '.join(parts)} (19 of 20 runs like this one)" if parts else ""


def distribution_panel(
    title: str,
    evidence: dict[str, Any],
    status: str,
    samples: tuple[Sequence[float], Sequence[float]],
) -> Panel:
    """The panel of what a distribution verdict judged, from its evidence: the windows (the
    target's after calibration) when it has them, else ``samples`` (baseline, target)."""
    judged = evidence.get("judged")
    calibration = evidence.get("calibration")
    lines = [
        f"{status.upper()} {evidence['ratio']:.2f}x "
        f"(CI {evidence.get('ci_low', 0):.2f}x to {evidence.get('ci_high', 0):.2f}x)"
    ]
    if detects := _detects(evidence.get("detectable") or {}):
        lines.append(detects)
    band = evidence.get("tolerance_band")
    shown = None if band is None else (float(band["from"]), float(band["to"]))
    if not judged:
        return Panel(title, samples[0], samples[1], "\n".join(lines), band=shown)
    target = "target windows"
    if calibration:
        unit = str(evidence.get("unit") or "")
        if calibration.get("mode") == "ratio":
            target += f" ÷ {calibration['factor']:.3g} ({calibration['name']})"
        else:
            target += f" - {calibration['shift']:.3g}{unit and ' ' + unit} ({calibration['name']})"
    else:
        lines.append("no control: the machines' difference is included")
    return Panel(
        title,
        judged["baseline"],
        judged["target"],
        "\n".join(lines),
        labels=("baseline windows", target),
        of="time windows",
        band=shown,
    )


def _plain_log(axis: Any) -> None:
    """Plain numbers on a log axis (9, 20, 30), not 9x10^0; minor ticks labelled while few."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


_BOX = {"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1.5}


def _ecdf(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    ordered = np.sort(values[values > 0])
    return ordered, np.arange(1, ordered.size + 1) / max(1, ordered.size)


def _save(figure: Figure, path: Path) -> Path:
    import matplotlib

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed hash salt and no date keep the file identical for identical data.
    matplotlib.rcParams["svg.hashsalt"] = "prodval"
    figure.savefig(path, format="svg", metadata={"Date": None})
    return path


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)


def _draw(axis: Axes, panel: Panel, unit: str) -> None:
    for label, values, colour in (
        (panel.labels[0], panel.baseline, _BASELINE),
        (panel.labels[1], panel.target, _TARGET),
    ):
        x, y = _ecdf(np.asarray(values, dtype=np.float64))
        if x.size:
            axis.step(x, y, where="post", color=colour, label=f"{label} (n={x.size})")
            axis.axvline(float(np.median(x)), color=colour, linewidth=0.6, linestyle=":")
    if panel.band is not None and panel.band[0] > 0:
        low, high = panel.band
        if high > low:
            axis.axvspan(low, high, color=_BAND, alpha=0.15, linewidth=0, label="allowed", zorder=0)
        else:
            axis.axvline(low, color=_BAND, linewidth=1.0, label="allowed", zorder=0)
    axis.set_xscale("log")
    _plain_log(axis.xaxis)
    axis.set_ylim(0, 1)
    axis.set_title(panel.title, fontsize=9)
    axis.set_xlabel(f"latency ({unit}, log scale)" if unit else "value (log scale)", fontsize=8)
    axis.set_ylabel(f"share of {panel.of} at most x", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.grid(True, which="both", linewidth=0.3, alpha=0.5)
    axis.legend(fontsize=7, loc="lower right")
    if panel.verdict:
        axis.text(
            0.02, 0.96, panel.verdict, transform=axis.transAxes, fontsize=7, va="top", bbox=_BOX
        )


def write_chart(path: Path, panels: Sequence[Panel], title: str, unit: str = "ms") -> Path:
    """Write the chart to ``path`` (SVG) and return it."""
    _agg()
    from matplotlib import pyplot as plt

    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    try:
        for index, axis in enumerate(axes.flat):
            if index >= len(panels):
                axis.set_visible(False)
                continue
            _draw(axis, panels[index], unit)
        figure.suptitle(title, fontsize=10)
        return _save(figure, path)
    finally:
        plt.close(figure)


def _positive(values: Sequence[float]) -> npt.NDArray[np.float64]:
    """Values as floats, those a log axis cannot show (<= 0, not finite) as gaps."""
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(array) & (array > 0), array, np.nan)


def _draw_paired(top: Axes, bottom: Axes, panel: PairedPanel, unit: str) -> None:
    times = np.asarray(panel.times_s, dtype=np.float64)
    target, control = _positive(panel.target), _positive(panel.control)
    for name, values, colour in (
        (panel.control_name, control, _BASELINE),
        (panel.target_name, target, _TARGET),
    ):
        top.plot(times, values, color=colour, linewidth=1.0, marker=".", markersize=3, label=name)
    top.set_yscale("log")
    _plain_log(top.yaxis)
    top.set_title(panel.title, fontsize=9)
    top.set_ylabel(f"window median ({unit})" if unit else "window median", fontsize=8)
    top.legend(fontsize=7, loc="upper right")
    if panel.verdict:
        top.text(
            0.02, 0.96, panel.verdict, transform=top.transAxes, fontsize=7, va="top", bbox=_BOX
        )

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = target / control
    bottom.plot(times, ratio, color="#444444", linewidth=1.0, marker=".", markersize=3)
    bottom.axhline(1.0, color="#888888", linewidth=0.6, linestyle=":")
    limits = []
    if panel.direction != "lower_is_worse":
        limits.append(1 + panel.tolerance)
    if panel.direction != "higher_is_worse" and panel.tolerance < 1:
        limits.append(1 - panel.tolerance)
    for limit in limits:
        bottom.axhline(limit, color=_BAND, linewidth=1.0, label=f"allowed {limit:.2f}x")
    low, high = min([1.0, *limits]), max([1.0, *limits])
    bottom.axhspan(low, high, color=_BAND, alpha=0.12, linewidth=0, zorder=0)
    finite = ratio[np.isfinite(ratio)]
    if finite.size:
        median = float(np.median(finite))
        bottom.axhline(
            median, color=_TARGET, linewidth=0.8, linestyle="--", label=f"median {median:.2f}x"
        )
    bottom.set_yscale("log")
    _plain_log(bottom.yaxis)
    bottom.set_xlabel("time into the run (s)", fontsize=8)
    bottom.set_ylabel(f"{panel.target_name} / {panel.control_name}", fontsize=8)
    bottom.legend(fontsize=7, loc="upper right")
    for axis in (top, bottom):
        axis.tick_params(labelsize=7)
        axis.grid(True, which="both", linewidth=0.3, alpha=0.5)


def write_paired_chart(
    path: Path, panel: PairedPanel | Sequence[PairedPanel], title: str, unit: str = "ms"
) -> Path:
    """Write the paired chart to ``path`` (SVG) and return it: per panel, both sides' window
    medians over time (log scale) above, the per-window ratio target/control below with the
    tolerance line. One panel, or several side by side (up to 3 per row)."""
    panels = [panel] if isinstance(panel, PairedPanel) else list(panel)
    _agg()
    from matplotlib import pyplot as plt

    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(
        2 * rows,
        columns,
        figsize=(4.6 * columns, 4.6 * rows),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2] * rows},
    )
    try:
        for index in range(rows * columns):
            row, column = divmod(index, columns)
            top, bottom = axes[2 * row][column], axes[2 * row + 1][column]
            if index >= len(panels):
                top.set_visible(False)
                bottom.set_visible(False)
                continue
            bottom.sharex(top)
            _draw_paired(top, bottom, panels[index], unit)
        figure.suptitle(title, fontsize=10)
        return _save(figure, path)
    finally:
        plt.close(figure)
