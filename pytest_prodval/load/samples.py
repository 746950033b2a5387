"""Raw samples of a load run: every request as Locust's ``request`` event saw it.

The locustfile writes one JSON line per request (``t`` start time in epoch seconds,
``type``, ``name``, ``ms``, ``ok``), one line per synthetic document it created
(``created``), and one line if it stopped early (``stopped``). This module reads that file
into per-endpoint arrays and answers what the checks ask: latencies after the warm-up,
error ratio, throughput, and per-time-window summaries for the baseline comparison.
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

__all__ = ["CONTROL", "CONTROL_HTTP", "CONTROL_TYPES", "Endpoint", "LoadSamples", "window_medians"]

Array = npt.NDArray[np.float64]

CONTROL = "control: tcp connect"
CONTROL_HTTP = "control: static GET"
# Request types that are measurements of the platform around the API, not API traffic.
# PROBE: what /ready reports about its dependencies (database, parser, embedder).
CONTROL_TYPES = frozenset({"TCP", "PROBE"})


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
    endpoints: dict[str, Endpoint]
    created: list[str]
    stopped: dict[str, Any] | None
    started_at: float
    span_s: float

    @classmethod
    def read(cls, path: Path) -> LoadSamples:
        rows: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
        kinds: dict[str, str] = {}
        created: list[str] = []
        stopped: dict[str, Any] | None = None
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed process; the rest still counts
            if "created" in record:
                if isinstance(record["created"], str):
                    created.append(record["created"])
            elif "stopped" in record:
                stopped = record
            elif {"t", "name", "ms", "ok"} <= record.keys():
                rows[record["name"]].append(
                    (float(record["t"]), float(record["ms"]), bool(record["ok"]))
                )
                kinds[record["name"]] = str(record.get("type", ""))
        starts = [t for values in rows.values() for t, _, _ in values]
        started_at = min(starts) if starts else 0.0
        span = (max(starts) - started_at) if starts else 0.0
        endpoints = {}
        for name, values in rows.items():
            values.sort()
            array = np.array([(t - started_at, ms) for t, ms, _ in values], dtype=np.float64)
            ok = np.array([flag for _, _, flag in values], dtype=np.bool_)
            endpoints[name] = Endpoint(name, kinds[name], array[:, 0], array[:, 1], ok)
        return cls(endpoints, created, stopped, started_at, span)

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
