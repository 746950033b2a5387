"""Live progress of a running load, read from Locust's ``<prefix>_stats_history.csv``.

With ``--csv-full-history`` Locust appends, on each write, one row per endpoint (sorted by
name) and then the ``Aggregated`` row, all with the same timestamp. The locustfile makes that
happen every second and flushes it to disk each time (``locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC``
and, with workers, ``locust.runners.WORKER_REPORT_INTERVAL``; see docs/performance.md).
Reading the file from the pytest process (instead of importing Locust) keeps gevent out of
pytest.

What a line shows, and from which columns:

- req/s: the change of ``Total Request Count`` over the last ``RATE_WINDOW_S`` seconds of rows.
  Locust's own ``Requests/s`` column is a 10-second average that ends 2 s before the last
  request, too late to watch.
- p50/p95: Locust's *current* percentiles (with ``--csv-full-history``, every row's percentile
  columns cover about the last 10 s, ``CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW``), bucketed and
  rounded to whole milliseconds: good enough to watch, never used to judge.
- requests and failures: cumulative since the start.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["EndpointProgress", "Progress", "read_progress"]

# Long enough that whole-second timestamps (Locust truncates them) blur the rate by <= 20%.
RATE_WINDOW_S = 5
# Enough for several seconds of rows of a few dozen endpoints (about 200 bytes a row).
TAIL_BYTES = 131072

Row = Mapping[str, str | None]


@dataclasses.dataclass(frozen=True)
class EndpointProgress:
    """One Locust request name at the latest row."""

    name: str  # "GET /health": Locust's type and name (see _name)
    rps: float | None  # None: no earlier row to measure it against yet
    p50_ms: float | None  # None: Locust has no current window for it yet
    p95_ms: float | None
    requests: int
    failures: int

    def summary(self) -> str:
        return (
            f"{_rate(self.rps)} req/s p50 {_ms(self.p50_ms)} p95 {_ms(self.p95_ms)}, "
            f"{self.failures} failed"
        )


@dataclasses.dataclass(frozen=True)
class Progress:
    users: int
    rps: float | None
    p95_ms: float | None
    requests: int
    failures: int
    endpoints: tuple[EndpointProgress, ...] = ()
    # Paired mode: (target, control); Locust's names are then "{endpoint} [{side}]".
    sides: tuple[str, str] | None = None
    timestamp: float = 0.0  # of Locust's write, epoch seconds

    def line(self, elapsed_s: float, total_s: float) -> str:
        """The aggregated line: all endpoints (and, in paired mode, both sides) together."""
        share = f" ({self.failures / self.requests:.1%})" if self.requests else ""
        return (
            f"load {elapsed_s:4.0f}/{total_s:g} s: {self.users} users, {_rate(self.rps)} req/s, "
            f"p95 {_ms(self.p95_ms)}, {self.requests} requests, {self.failures} failures{share}"
        )

    def lines(self, elapsed_s: float, total_s: float) -> list[str]:
        """The aggregated line, then one line per endpoint that has had requests, by name."""
        lines = [self.line(elapsed_s, total_s)]
        if self.sides is None:
            lines += [f"  {e.name}: {e.summary()}" for e in self.endpoints]
            return lines
        paired: dict[str, dict[str, EndpointProgress]] = {}
        for endpoint in self.endpoints:
            base, side = _split_side(endpoint.name, self.sides)
            paired.setdefault(base, {})[side or ""] = endpoint
        for base in sorted(paired):
            by_side = paired[base]
            if "" in by_side:  # a request outside the pairs (e.g. a shared control)
                lines.append(f"  {base}: {by_side[''].summary()}")
                continue
            parts = [
                f"{side} {by_side[side].summary()}" if side in by_side else f"{side} -"
                for side in self.sides
            ]
            lines.append(f"  {base}: " + " · ".join(parts))
        return lines


def _rate(rps: float | None) -> str:
    return "-" if rps is None else f"{rps:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def _split_side(name: str, sides: tuple[str, str]) -> tuple[str, str | None]:
    for side in sides:
        suffix = f" [{side}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], side
    return name, None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None


def _count(row: Row, column: str) -> int:
    return int(_number(row.get(column)) or 0)


def _name(row: Row) -> str:
    """``GET /health``: Locust's type and name, unless the name already starts with its type
    (the suite's locustfile names its requests ``"GET /documents/{id}"``)."""
    kind, name = (row.get("Type") or "").strip(), row.get("Name") or ""
    return f"{kind} {name}" if kind and not name.startswith(f"{kind} ") else name


def _percentile(row: Row, column: str) -> float | None:
    """Locust writes 0 for every percentile of an entry younger than its current window
    (about 2 s); a real all-zero window (every response under 0.5 ms) shows in its max."""
    value = _number(row.get(column))
    if value == 0 and (_number(row.get("Total Max Response Time")) or 0) >= 0.5:
        if not _number(row.get("100%")):
            return None
    return value


def _blocks(rows: Sequence[Row], whole_file: bool) -> list[list[Row]]:
    """The rows of each write: the endpoints' rows ending with the ``Aggregated`` one.

    A write still on its way to the disk (no ``Aggregated`` row yet) is left out; so is the
    first one of a tail that did not start at the top of the file, which may be cut."""
    blocks: list[list[Row]] = []
    current: list[Row] = []
    for row in rows:
        current.append(row)
        if row.get("Name") == "Aggregated":
            blocks.append(current)
            current = []
    return blocks if whole_file else blocks[1:]


def _timestamp(block: Sequence[Row]) -> float:
    return _number(block[-1].get("Timestamp")) or 0.0


def _read_tail(history: Path) -> tuple[str, bool] | None:
    try:
        with history.open("rb") as handle:
            header = handle.readline().decode("utf-8", errors="replace")
            start = handle.tell()
            handle.seek(0, io.SEEK_END)
            size = handle.tell()
            offset = max(start, size - TAIL_BYTES)
            handle.seek(offset)
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    if not header.endswith("\n"):
        return None
    if offset > start:  # the first line may be cut
        tail = tail.split("\n", 1)[-1]
    # The last line may be half written.
    tail = tail[: tail.rfind("\n") + 1]
    return header + tail, offset == start


def read_progress(history: Path, sides: tuple[str, str] | None = None) -> Progress | None:
    """The latest write's rows, or None before Locust wrote one.

    ``sides``: in paired mode, (target, control) as they appear in Locust's request names."""
    read = _read_tail(history)
    if read is None:
        return None
    text, whole_file = read
    blocks = _blocks(list(csv.DictReader(io.StringIO(text))), whole_file)
    if not blocks:
        return None
    latest = blocks[-1]
    now = _timestamp(latest)
    earlier = [b for b in blocks[:-1] if _timestamp(b) < now]
    window = [b for b in earlier if _timestamp(b) <= now - RATE_WINDOW_S]
    reference = window[-1] if window else (earlier[0] if earlier else None)
    before: dict[str, int] = {}
    if reference is not None:
        before = {_name(row): _count(row, "Total Request Count") for row in reference}
    seconds = now - _timestamp(reference) if reference is not None else 0.0

    def rate(row: Row) -> float | None:
        if reference is None or seconds <= 0:
            return None
        # A name missing from the earlier write had no requests then.
        return (_count(row, "Total Request Count") - before.get(_name(row), 0)) / seconds

    endpoints = tuple(
        sorted(
            (
                EndpointProgress(
                    name=_name(row),
                    rps=rate(row),
                    p50_ms=_percentile(row, "50%"),
                    p95_ms=_percentile(row, "95%"),
                    requests=_count(row, "Total Request Count"),
                    failures=_count(row, "Total Failure Count"),
                )
                for row in latest[:-1]
                if _count(row, "Total Request Count") > 0
            ),
            key=lambda endpoint: endpoint.name,
        )
    )
    total = latest[-1]
    return Progress(
        users=_count(total, "User Count"),
        rps=rate(total),
        p95_ms=_percentile(total, "95%"),
        requests=_count(total, "Total Request Count"),
        failures=_count(total, "Total Failure Count"),
        endpoints=endpoints,
        sides=sides,
        timestamp=now,
    )
