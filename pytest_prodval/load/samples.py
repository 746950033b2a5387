"""Raw samples of a load run: every request as Locust's ``request`` event saw it.

The locustfile writes one JSON line per request (``t`` start time in epoch seconds,
``type``, ``name``, ``ms``, ``ok``, and ``"side": "control"`` for a request to the control
deployment in paired mode), one line per synthetic document it created (``created``), and
one line if it stopped early (``stopped``). This module reads that file into per-endpoint
arrays and answers what the checks ask: latencies after the warm-up, error ratio,
throughput, per-time-window summaries for the baseline comparison, and the paired windows
of target and control.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..baseline.stats.calibration import MIN_WINDOWS

__all__ = [
    "CONTROL",
    "CONTROL_HTTP",
    "CONTROL_TYPES",
    "Endpoint",
    "LoadSamples",
    "PairedWindows",
    "paired_windows",
    "window_medians",
]

Array = npt.NDArray[np.float64]

CONTROL = "control: tcp connect"
CONTROL_HTTP = "control: static GET"
# Request types that are measurements of the platform around the API, not API traffic.
# PROBE: what /ready reports about its dependencies (database, parser, embedder).
CONTROL_TYPES = frozenset({"TCP", "PROBE"})
# Paired windows: about this many requests a side in each, and at least this many windows.
PER_WINDOW = 4
PAIRED_WINDOWS = 15


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One endpoint's requests in start-time order: offsets from the run's start, ms, ok."""

    name: str
    kind: str
    t: Array
    ms: Array
    ok: npt.NDArray[np.bool_]

    @property
    def count(self) -> int:
        return int(self.t.size)

    @property
    def failures(self) -> int:
        return int(self.count - np.count_nonzero(self.ok))

    def after(self, seconds: float) -> Endpoint:
        """Only requests started ``seconds`` or later after the run's start (warm-up cut)."""
        keep = self.t >= seconds
        return Endpoint(self.name, self.kind, self.t[keep], self.ms[keep], self.ok[keep])

    def latencies(self) -> Array:
        """Latencies of the successful requests: a failure's time says nothing about speed."""
        return self.ms[self.ok]

    def p95(self) -> float:
        values = self.latencies()
        return float(np.quantile(values, 0.95)) if values.size else math.nan


@dataclasses.dataclass
class LoadSamples:
    """``endpoints``: the target's requests by name; ``control_side``: the control
    deployment's (paired mode, else empty); ``created``/``control_created``: the synthetic
    documents Locust uploaded to each side."""

    endpoints: dict[str, Endpoint]
    created: list[str]
    stopped: dict[str, Any] | None
    started_at: float
    span_s: float
    control_side: dict[str, Endpoint] = dataclasses.field(default_factory=dict)
    control_created: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> LoadSamples:
        sides: dict[bool, dict[str, list[tuple[float, float, bool]]]] = {
            False: defaultdict(list),
            True: defaultdict(list),
        }
        kinds: dict[str, str] = {}
        created: dict[bool, list[str]] = {False: [], True: []}
        stopped: dict[str, Any] | None = None
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed process; the rest still counts
            control = record.get("side") == "control"
            if "created" in record:
                if isinstance(record["created"], str):
                    created[control].append(record["created"])
            elif "stopped" in record:
                stopped = record
            elif {"t", "name", "ms", "ok"} <= record.keys():
                sides[control][record["name"]].append(
                    (float(record["t"]), float(record["ms"]), bool(record["ok"]))
                )
                kinds[record["name"]] = str(record.get("type", ""))
        starts = [t for rows in sides.values() for values in rows.values() for t, _, _ in values]
        started_at = min(starts) if starts else 0.0
        span = (max(starts) - started_at) if starts else 0.0
        endpoints, control_side = (
            {
                name: _endpoint(name, kinds[name], values, started_at)
                for name, values in rows.items()
            }
            for rows in (sides[False], sides[True])
        )
        return cls(
            endpoints, created[False], stopped, started_at, span, control_side, created[True]
        )

    # --- views ----------------------------------------------------------------------------

    def api(self) -> list[Endpoint]:
        """API endpoints (not the controls), by name."""
        return [
            e
            for name, e in sorted(self.endpoints.items())
            if e.kind not in CONTROL_TYPES and name != CONTROL_HTTP
        ]

    def requests(self) -> int:
        return sum(e.count for e in self.api())

    def failures(self) -> int:
        return sum(e.failures for e in self.api())

    def error_ratio(self) -> float:
        total = self.requests()
        return self.failures() / total if total else 0.0

    def rps(self, warmup_s: float = 0.0) -> float:
        """Requests per second after the warm-up (all users running)."""
        counted = [e.after(warmup_s) for e in self.api()]
        span = self.span_s - warmup_s
        return sum(e.count for e in counted) / span if span > 0 else 0.0

    def api_latencies(self, warmup_s: float = 0.0) -> Array:
        parts = [e.after(warmup_s).latencies() for e in self.api()]
        return np.concatenate(parts) if parts else np.zeros(0)


def _endpoint(
    name: str, kind: str, values: list[tuple[float, float, bool]], started_at: float
) -> Endpoint:
    values.sort()
    array = np.array([(t - started_at, ms) for t, ms, _ in values], dtype=np.float64)
    ok = np.array([flag for _, _, flag in values], dtype=np.bool_)
    return Endpoint(name, kind, array[:, 0], array[:, 1], ok)


@dataclasses.dataclass(frozen=True)
class PairedWindows:
    """Per-window medians of the same endpoint on two sides, for the same time windows.

    ``times`` are the windows' starts (seconds from the run's start); a window is kept only
    when both sides have at least ``min_per_window`` successful requests in it.
    """

    window_s: float
    times: list[float]
    target: list[float]
    control: list[float]

    def __len__(self) -> int:
        return len(self.times)


def paired_windows(
    target: Endpoint,
    control: Endpoint,
    window_s: float | None = None,
    min_per_window: int = 2,
) -> PairedWindows:
    """The median latency of ``target`` and of ``control`` in each ``window_s`` window.

    Both sides are cut at the same instants, so what the machine did in that second (a busy
    neighbour, a GC pause, the load generator lagging) is in both medians of the pair and
    cancels in their ratio. ``window_s=None`` picks one second, or longer for a rarely called
    endpoint (about ``PER_WINDOW`` requests a side in each window), but short enough for
    ``PAIRED_WINDOWS`` windows in the run.
    """
    if window_s is not None and not window_s > 0:
        raise ValueError(f"window_s must be > 0; got {window_s!r}")
    if min_per_window < 1:
        raise ValueError(f"min_per_window must be >= 1; got {min_per_window!r}")
    sides = [(e.t[e.ok], e.ms[e.ok]) for e in (target, control)]
    if not all(t.size for t, _ in sides):
        return PairedWindows(window_s or 1.0, [], [], [])
    start = min(float(t.min()) for t, _ in sides)
    span = max(float(t.max()) for t, _ in sides) - start
    if window_s is None:
        fewest = min(t.size for t, _ in sides)
        window_s = max(1.0, PER_WINDOW * span / fewest)
        if span > 0:
            window_s = min(window_s, span / PAIRED_WINDOWS)
    times, target_medians, control_medians = [], [], []
    bins = [np.floor((t - start) / window_s).astype(np.int64) for t, _ in sides]
    for b in np.intersect1d(bins[0], bins[1]):
        chosen = [values[side == b] for (_, values), side in zip(sides, bins, strict=True)]
        if min(c.size for c in chosen) >= min_per_window:
            times.append(round(start + float(b) * window_s, 3))
            target_medians.append(float(np.median(chosen[0])))
            control_medians.append(float(np.median(chosen[1])))
    return PairedWindows(round(window_s, 3), times, target_medians, control_medians)


def window_medians(
    endpoint: Endpoint, min_window_s: float = 1.0, per_window: int = 4
) -> list[float]:
    """Median latency of each time window (successful requests only), in time order.

    Requests within a second share the same moment of the machine (a GC pause, a noisy
    neighbour, the load generator lagging), so they are not independent; window medians
    nearly are. Windows last ``min_window_s`` or longer, so that a rarely called endpoint
    still has about ``per_window`` requests in each, but a short run is still cut into at
    least ``MIN_WINDOWS`` (5) windows; windows with fewer than 2 requests are left out.
    """
    ok = endpoint.ok
    times, values = endpoint.t[ok], endpoint.ms[ok]
    if values.size == 0:
        return []
    span = float(times.max() - times.min()) or min_window_s
    # Long enough for ~per_window requests, short enough for MIN_WINDOWS or more windows.
    window_s = min(max(min_window_s, per_window * span / values.size), span / MIN_WINDOWS)
    bins = np.floor((times - times.min()) / window_s).astype(np.int64)
    medians = []
    for b in np.unique(bins):
        chosen = values[bins == b]
        if chosen.size >= 2:
            medians.append(float(np.median(chosen)))
    if len(medians) < MIN_WINDOWS and values.size >= 2 * MIN_WINDOWS:
        # Too sparse for time windows (a rarely called route in a short run): blocks of
        # consecutive requests instead, still contiguous in time.
        order = np.argsort(times, kind="stable")
        blocks = np.array_split(values[order], MIN_WINDOWS)
        medians = [float(np.median(block)) for block in blocks]
    return medians
