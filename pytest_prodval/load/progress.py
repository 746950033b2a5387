"""Live progress of a running load: the last line of Locust's ``_stats_history.csv``.

Locust appends the aggregated row to that file every second while it runs; reading it from
the pytest process (instead of importing Locust) keeps gevent out of pytest. Its
percentiles are Locust's bucketed ones: good enough to watch, never used to judge.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

__all__ = ["Progress", "read_progress"]


@dataclasses.dataclass(frozen=True)
class Progress:
    users: int
    rps: float
    p95_ms: float | None
    requests: int
    failures: int

    def line(self, elapsed_s: float, total_s: float) -> str:
        p95 = "-" if self.p95_ms is None else f"{self.p95_ms:g} ms"
        share = f" ({self.failures / self.requests:.1%})" if self.requests else ""
        return (
            f"load {elapsed_s:4.0f}/{total_s:g} s: {self.users} users, {self.rps:.1f} req/s, "
            f"p95 {p95}, {self.requests} requests, {self.failures} failures{share}"
        )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None


def read_progress(history: Path) -> Progress | None:
    """The latest aggregated row, or None before Locust wrote one."""
    try:
        with history.open("rb") as handle:
            # Only the tail matters; the file grows by a few rows per second.
            handle.seek(0, io.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            tail = handle.read().decode("utf-8", errors="replace")
            handle.seek(0)
            header = handle.readline().decode("utf-8", errors="replace")
    except OSError:
        return None
    rows = [
        row
        for row in csv.DictReader(io.StringIO(header + tail.split("\n", 1)[-1]))
        if row.get("Name") == "Aggregated"
    ]
    if not rows:
        return None
    last = rows[-1]
    return Progress(
        users=int(_number(last.get("User Count")) or 0),
        rps=_number(last.get("Requests/s")) or 0.0,
        p95_ms=_number(last.get("95%")),
        requests=int(_number(last.get("Total Request Count")) or 0),
        failures=int(_number(last.get("Total Failure Count")) or 0),
    )
