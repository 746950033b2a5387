"""Time to render the terminal's comparison table for 1,000 and 10,000 comparisons.

    python benchmarks/terminal_table.py [--rows 1000 10000] [--width 120]

Renders ``write_table`` into pytest's own TerminalWriter (writing to memory) for each row
count, best of five, and prints the seconds, the time per row and the ratio between the
largest and the smallest count over their row ratio (1.0 = linear). The issue measured x19.6
from 1,000 to 10,000 rows before (2x worse than linear).
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Any

from _pytest._io import TerminalWriter

from pytest_prodval import Status, Verdict
from pytest_prodval.report.terminal import write_table


class MemoryReporter:
    """The two methods of pytest's TerminalReporter that the table uses, into memory."""

    def __init__(self, width: int) -> None:
        self.file = io.StringIO()
        self._tw = TerminalWriter(self.file)
        self._tw.fullwidth = width

    def write(self, content: str, **markup: Any) -> None:
        self._tw.write(content, **markup)

    def write_line(self, line: str, **markup: Any) -> None:
        self._tw.line(line, **markup)


def verdicts(count: int) -> list[Verdict]:
    return [
        Verdict(
            key=f'suites/application/test_contract.py::test_route[path="/r/{i}"]::status {i}',
            kind="exact",
            status=Status.FAILED if i % 17 == 0 else Status.PASSED,
            rule="equal to baseline",
            baseline="200",
            target="503" if i % 17 == 0 else "200",
            change="1 difference" if i % 17 == 0 else "same",
            message="",
        )
        for i in range(count)
    ]


def seconds_for(count: int, width: int) -> float:
    rows = verdicts(count)
    best = float("inf")
    for _ in range(5):
        reporter = MemoryReporter(width)
        started = time.perf_counter()
        write_table(reporter, rows, width)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--width", type=int, default=120)
    args = parser.parse_args()
    timings = {count: seconds_for(count, args.width) for count in args.rows}
    for count, seconds in timings.items():
        print(f"{count:>7} rows: {seconds * 1000:8.1f} ms ({seconds / count * 1e6:.1f} µs a row)")
    low, high = min(timings), max(timings)
    ratio = timings[high] / timings[low]
    print(f"x{ratio:.1f} from {low} to {high} rows; {ratio / (high / low):.2f} of linear")


if __name__ == "__main__":
    main()
