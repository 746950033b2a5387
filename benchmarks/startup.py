"""Start-up cost of the active plugin: ``pytest --co`` with and without a target environment.

    python benchmarks/startup.py [--runs 15] [--imports]

In a temporary project (a prodval.yaml, one trivial test) times
``pytest --co -q -p no:cacheprovider`` ``--runs`` times in each of three ways: inactive (the
plugin installed, no target environment), active (``--target-env=bench``) and disabled
(``-p no:prodval``), interleaved so that a drifting machine load hits all three alike, and
prints the medians and the differences. The issue's budget: active costs at most +0.1 s over
inactive. ``--imports`` also runs each way once under ``python -X importtime`` and lists the
top-level packages that only the active run imports, with their summed import time.

The environment's API is a closed loopback port, so nothing waits on a network; collection
(``--co``) runs no check. Bytecode caching is switched back on for the runs (the warm-up fills
it) even where PYTHONDONTWRITEBYTECODE is set: without it every run compiles every module it
imports, and the figures measure the compiler rather than the imports a user pays for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BUDGET_S = 0.1
PRODVAL_YAML = """\
version: 1
environments:
  bench:
    description: start-up benchmark; nothing listens on this port
    api:
      base_url: http://127.0.0.1:9
"""
TRIVIAL_TEST = "def test_trivial() -> None:\n    assert True\n"
INI = "[pytest]\n"
WAYS: dict[str, list[str]] = {
    "inactive": [],
    "active": ["--target-env=bench"],
    "disabled": ["-p", "no:prodval"],
}


def make_project(root: Path) -> None:
    (root / "prodval.yaml").write_text(PRODVAL_YAML)
    (root / "pytest.ini").write_text(INI)
    (root / "test_trivial.py").write_text(TRIVIAL_TEST)


def pytest_command(extra: list[str], python_flags: list[str] | None = None) -> list[str]:
    flags = python_flags or []
    return [sys.executable, *flags, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra]


def child_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run_once(project: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        pytest_command(extra), cwd=project, capture_output=True, text=True, env=child_env()
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        output = " ".join((result.stdout + result.stderr).split())[-400:]
        raise SystemExit(f"pytest {' '.join(extra) or '(inactive)'} failed: {output}")
    return elapsed


def time_ways(project: Path, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for extra in WAYS.values():  # one warm-up each: the first run fills the page cache
        run_once(project, extra)
    for _ in range(runs):
        for way, extra in WAYS.items():
            times[way].append(run_once(project, extra))
    return times


def imported_packages(project: Path, extra: list[str]) -> dict[str, int]:
    """Self import time in microseconds, summed per top-level package, from -X importtime."""
    result = subprocess.run(
        pytest_command(extra, ["-X", "importtime"]),
        cwd=project,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    totals: dict[str, int] = defaultdict(int)
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".")[0]] += int(self_us)
    return dict(totals)


def report_imports(project: Path) -> None:
    inactive = imported_packages(project, WAYS["inactive"])
    active = imported_packages(project, WAYS["active"])
    only_active = {name: us for name, us in active.items() if name not in inactive}
    grown = {
        name: us - inactive[name]
        for name, us in active.items()
        if name in inactive and us - inactive[name] > 2000
    }
    print("\nimported only when active (self time summed per top-level package):")
    for name, us in sorted(only_active.items(), key=lambda item: -item[1])[:15]:
        print(f"  {name:<24} {us / 1000:7.1f} ms")
    print(f"  {'(all of them)':<24} {sum(only_active.values()) / 1000:7.1f} ms")
    if grown:
        print("imported in both, more of it when active:")
        for name, us in sorted(grown.items(), key=lambda item: -item[1]):
            print(f"  {name:<24} {us / 1000:+7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each way")
    parser.add_argument("--imports", action="store_true", help="list what only 'active' imports")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="prodval-startup-") as tmp:
        project = Path(tmp)
        make_project(project)
        times = time_ways(project, args.runs)
        medians = {way: statistics.median(values) for way, values in times.items()}
        for way, median in medians.items():
            spread = f"{min(times[way]):.3f}-{max(times[way]):.3f}"
            print(f"{way:<9} median {median:.3f} s  (range {spread} s, {args.runs} runs)")
        extra = medians["active"] - medians["inactive"]
        verdict = "within" if extra <= BUDGET_S else "OVER"
        print(f"active - inactive   {extra:+.3f} s ({verdict} the +{BUDGET_S} s budget)")
        print(f"inactive - disabled {medians['inactive'] - medians['disabled']:+.3f} s")
        if args.imports:
            report_imports(project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
