"""Wall time of the non-performance suites, serial and on two xdist workers.

    python benchmarks/suite_speed.py [--runs 3] [--home DIR] [--hog]

Brings up one docpipe on free loopback ports (its own home), writes its prodval.yaml, then
runs ``pytest suites -m "not performance"`` against the committed baseline ``--runs`` times
serially and ``--runs`` times with ``-n 2``, interleaved so that a drifting machine hits both
alike. Prints each run's wall time, its CPU time (the pytest process and its children), the
medians, the speed-up of ``-n 2`` and the slowest checks of the last serial run. The issue's
targets: at most 10 s wall on 2 cores, ``-n 2`` at least 1.5x faster than serial. ``--hog``
keeps one core busy throughout, as a shared CI runner would. A few minutes.

A run that fails a check is reported and counted: speed of a failing suite is no figure.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docpipe.control import run_docpipe

ROOT = Path(__file__).resolve().parent.parent
WALL_TARGET_S = 10.0
SPEEDUP_TARGET = 1.5
RUN_TIMEOUT_S = 600


def docpipe(home: Path, *args: str) -> str:
    result = run_docpipe(home, *args)
    if result.returncode != 0:
        raise SystemExit(f"docpipe {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suites(config: Path, workers: int, reports: Path, label: str) -> tuple[float, float, str]:
    """One run: wall seconds, CPU seconds, and pytest's last lines (durations included)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites",
        "-m",
        "not performance",
        "--target-env=local",
        f"--prodval-config={config}",
        "--baseline=baselines/local.json",
        f"--prodval-summary={reports / f'{label}-summary.json'}",
        f"--junitxml={reports / f'{label}.xml'}",
        "-p",
        "no:cacheprovider",
        "-q",
        "--durations=8",
        "-n",
        str(workers),
    ]
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "PRODVAL_NO_EMBEDDED_TARGET": "1"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - started
    cpu = children_cpu_s() - cpu_before
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-15:])
        print(f"  {label}: pytest exited {result.returncode}; its last lines:\n{tail}")
    return wall, cpu, result.stdout


def slowest(output: str) -> list[str]:
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if "slowest" in line and "durations" in line)
    except StopIteration:
        return []
    return [line for line in lines[start + 1 :] if re.match(r"\s*\d+\.\d+s ", line)][:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind")
    parser.add_argument("--home", type=Path, help="docpipe home (default: a temporary one)")
    parser.add_argument("--hog", action="store_true", help="a CPU hog on one core throughout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-speed-") as scratch:
        home = args.home or Path(scratch) / "docpipe"
        reports = Path(scratch) / "reports"
        reports.mkdir()
        hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.hog else None
        try:
            docpipe(home, "up", "--ports", "auto")
            config = Path(scratch) / "prodval.yaml"
            config.write_text(docpipe(home, "prodval-config", "--name", "local"))
            print(f"docpipe up in {home}; hog: {bool(hog)}; cores: {os.cpu_count()}")
            run_suites(config, 0, reports, "warm-up")  # caches, first connections, bytecode
            times: dict[int, list[tuple[float, float]]] = {0: [], 2: []}
            last_serial = ""
            for i in range(args.runs):
                for workers in (0, 2):
                    wall, cpu, output = run_suites(config, workers, reports, f"{workers}-{i}")
                    times[workers].append((wall, cpu))
                    kind = "serial" if workers == 0 else f"-n {workers}"
                    print(f"  run {i + 1} {kind:>6}: {wall:5.1f} s wall, {cpu:5.1f} s CPU")
                    if workers == 0:
                        last_serial = output
        finally:
            subprocess.run(
                [sys.executable, "-m", "docpipe", "--home", str(home), "down"],
                capture_output=True,
                timeout=120,
                check=False,
            )
            if hog is not None:
                hog.kill()
                hog.wait()
    serial = statistics.median(w for w, _ in times[0])
    parallel = statistics.median(w for w, _ in times[2])
    print(f"\nmedian wall: serial {serial:.1f} s, -n 2 {parallel:.1f} s")
    print(f"speed-up of -n 2: {serial / parallel:.2f}x (target ≥ {SPEEDUP_TARGET}x)")
    best = min(serial, parallel)
    print(f"fastest way: {best:.1f} s (target ≤ {WALL_TARGET_S:g} s)")
    print("slowest checks of the last serial run:")
    for line in slowest(last_serial):
        print(f"  {line.strip()}")


if __name__ == "__main__":
    main()
