"""False alarms and detections of a hand-written latency check that uses ``time_requests``.

    python benchmarks/user_check.py [--runs 20] [--ab-runs 6] [--n 200] [--no-hog]
                                    [--keep FILE | --from FILE]

What a user's check does (docs/statistics.md, "HTTP latency of your own endpoint"), on a
loopback docpipe deployment of its own (``docpipe up --ports auto``): time ``--n`` GETs of a
route with ``time_requests``, once with its default control (TCP connect to the same port)
and once with a reference request (a static endpoint on the same host that no API release
serves: the embedder's ``/health``, docpipe's ``load.control_url``); once to record the
baseline, then ``--runs`` more times on the same deployment (A/A: every failure is a false
alarm), then ``--ab-runs`` times with the API made slower by docpipe's ``slow_api=0.25`` and
``0.5`` (A/B: every failure is a detection). A CPU hog (``python -c 'while 1: pass'``) runs on
one core all along, unless ``--no-hog``.

Each rule judges the same samples through ``Baseline.distribution``, in record mode and then in
compare mode, as a check would: the default call on the plain latencies, the helper's defaults
(its windows and the control, divided by the control's ratio), the recipe's rule, and the
alternatives the choice was made against. "all pairs" judges every A/A run against every other
as the baseline (a steadier figure than one baseline's 20); "all" after a detection count
judges the A/B runs against every A/A run as the baseline. "run-to-run log sd" is the spread
of the runs' medians in log terms, raw and divided by the control's median: a control that
tracks the machine makes the second smaller.

Routes: ``GET /health`` (about 1-2 ms over TLS on loopback) and ``GET /ready`` (about 10-15 ms:
it probes the database, the parser and the embedder). Bounded: every loop has a count, every
measurement a deadline; the hog and the deployment are stopped at the end. About 5 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docpipe.control import run_docpipe  # noqa: E402

from pytest_prodval import Baseline, BaselineMismatch, Entry, Timings, Verdict  # noqa: E402
from pytest_prodval.config import TargetEnv, load_config  # noqa: E402
from pytest_prodval.safety.redaction import Redactor  # noqa: E402
from pytest_prodval.target import sync_client  # noqa: E402
from pytest_prodval.timing import time_requests  # noqa: E402

ROUTES = {"/health": "GET /health", "/ready": "GET /ready"}
SLOWDOWNS = (0.25, 0.5)
CONTROLS = ("tcp", "static")

# rule name -> which measurement it judges (the TCP-connect or the static-GET control's), and
# what the check passes to baseline.distribution besides the name.
Rule = tuple[str, Callable[[Timings], tuple[Sequence[float], dict[str, Any]]]]
RULES: dict[str, Rule] = {
    "default call, plain latencies": ("tcp", lambda t: (list(t.ms), {})),
    "windows, no control, interval": (
        "tcp",
        lambda t: (list(t.ms), {"windows": t.windows, "decision": "interval"}),
    ),
    "helper defaults: TCP, ratio, estimate": ("tcp", lambda t: (t, {})),
    "recipe 1: TCP, ratio, interval": ("tcp", lambda t: (t, {"decision": "interval"})),
    "helper: TCP, shift, interval": (
        "tcp",
        lambda t: (t, {"calibration": "shift", "decision": "interval"}),
    ),
    "recipe 2: static GET, ratio, interval": ("static", lambda t: (t, {"decision": "interval"})),
    "helper: static GET, shift, interval": (
        "static",
        lambda t: (t, {"calibration": "shift", "decision": "interval"}),
    ),
}
Measured = dict[str, dict[str, list[Timings]]]  # route -> control -> runs


def docpipe(home: Path, *args: str) -> str:
    result = run_docpipe(home, *args)
    if result.returncode != 0:
        raise SystemExit(f"docpipe {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def _baseline(recording: bool, entries: dict[str, Entry], seen: list[Entry]) -> Baseline:
    def keep(verdict: Verdict, entry: Entry | None) -> None:
        if entry is not None:
            seen.append(entry)

    return Baseline(
        test="benchmarks/user_check.py::check",
        nodeid="benchmarks/user_check.py::check",
        recording=recording,
        entries=entries,
        baseline_path="(in memory)",
        environment="local",
        redactor=Redactor([]),
        on_verdict=keep,
    )


def record(rule: Rule, timings: Timings) -> Entry:
    seen: list[Entry] = []
    samples, options = rule[1](timings)
    _baseline(True, {}, seen).distribution("latency", samples, unit="ms", **options)
    return seen[0]


def fails(rule: Rule, entry: Entry, timings: Timings) -> bool:
    samples, options = rule[1](timings)
    key = "benchmarks/user_check.py::check::latency"
    try:
        _baseline(False, {key: entry}, []).distribution("latency", samples, unit="ms", **options)
    except BaselineMismatch:
        return True
    return False


def measure(env: TargetEnv, static_url: str, runs: int, n: int) -> Measured:
    """``runs`` measurements of each route with each control, one after the other."""
    measured: Measured = {route: {control: [] for control in CONTROLS} for route in ROUTES}
    with sync_client(env, "viewer") as client:
        for _ in range(runs):
            for route in ROUTES:
                for control in CONTROLS:
                    measured[route][control].append(
                        time_requests(
                            client,
                            "GET",
                            route,
                            n=n,
                            control="tcp" if control == "tcp" else static_url,
                            deadline_s=60,
                        )
                    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="A/A comparisons per route")
    parser.add_argument("--ab-runs", type=int, default=6, help="A/B comparisons per slowdown")
    parser.add_argument("--n", type=int, default=200, help="requests per measurement")
    parser.add_argument("--no-hog", action="store_true", help="no CPU hog on one core")
    parser.add_argument("--keep", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--from", dest="source", type=Path, help="judge a --keep file again")
    args = parser.parse_args()
    ab: dict[float, Measured] = {}
    if args.source:
        kept = json.loads(args.source.read_text())
        ab = {float(v): _load(m) for v, m in kept["ab"].items()}
        args = argparse.Namespace(**kept["args"])
        report(_load(kept["aa"]), ab, args, kept["seconds"])
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    started = time.monotonic()
    hog = None
    with tempfile.TemporaryDirectory(prefix="user-check-") as tmp:
        home = Path(tmp) / "docpipe"
        try:
            docpipe(home, "up", "--ports", "auto", "--workers", "1")
            config = Path(tmp) / "prodval.yaml"
            config.write_text(docpipe(home, "prodval-config"))
            loaded = load_config(config)
            env = loaded.environment("local")
            # A static endpoint on the same host that no API release serves (the embedder's
            # /health): docpipe's load.control_url.
            static_url = str(env.load.control_url)
            if not args.no_hog:
                hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            aa = measure(env, static_url, args.runs + 1, args.n)
            for value in SLOWDOWNS:
                docpipe(home, "deploy", "--release", "1", "--fault", f"slow_api={value:g}")
                ab[value] = measure(env, static_url, args.ab_runs, args.n)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait(timeout=10)
            docpipe(home, "down")
    seconds = time.monotonic() - started
    if args.keep:
        kept = {
            "args": {"n": args.n, "no_hog": args.no_hog, "load": os.getloadavg()[0]},
            "seconds": seconds,
            "aa": _dump(aa),
            "ab": {str(v): _dump(m) for v, m in ab.items()},
        }
        args.keep.write_text(json.dumps(kept))
    report(aa, ab, args, seconds)


def _dump(measured: Measured) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        route: {control: [dataclasses.asdict(t) for t in runs] for control, runs in by.items()}
        for route, by in measured.items()
    }


def _load(kept: dict[str, dict[str, list[dict[str, Any]]]]) -> Measured:
    def timings(fields: dict[str, Any]) -> Timings:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
        }
        return Timings(**values)

    return {
        route: {control: [timings(t) for t in runs] for control, runs in by.items()}
        for route, by in kept.items()
    }


def report(
    aa: Measured, ab: dict[float, Measured], args: argparse.Namespace, seconds: float
) -> None:
    hog = "no CPU hog" if args.no_hog else "a CPU hog on one core"
    print(f"{args.n} sequential GETs per measurement, a control between each two; {hog}")
    for route, label in ROUTES.items():
        runs = aa[route]["tcp"]
        medians = [t.median() for t in runs]
        spent = statistics.median(t.started[-1] - t.started[0] for t in runs)
        print(
            f"{label}: A/A medians {min(medians):.2f}-{max(medians):.2f} ms, "
            f"{statistics.median(len(t.windows) for t in runs)} windows in {spent:.2f} s"
        )
        for control in CONTROLS:
            spread = _log_sd(
                [t.median() / statistics.median(t.control_ms) for t in aa[route][control]]
            )
            raw = _log_sd([t.median() for t in aa[route][control]])
            print(f"  run-to-run log sd: route {raw:.2f}, route / {control} control {spread:.2f}")
        base = statistics.median(medians)
        for value in SLOWDOWNS:
            slower = statistics.median(t.median() for t in ab[value][route]["tcp"]) / base
            print(f"  slow_api={value:g}: raw median {slower:.2f}x the A/A runs'")
    header = f"{'rule':<38} {'route':<12} {'A/A':>6} {'all pairs':>10}"
    header += "".join(f" {f'+{int(v * 100)}%':>6} {'all':>5}" for v in SLOWDOWNS)
    print()
    print(header)
    for name, rule in RULES.items():
        for route, label in ROUTES.items():
            runs = aa[route][rule[0]]
            entry = record(rule, runs[0])
            alarms = sum(fails(rule, entry, t) for t in runs[1:])
            entries = [record(rule, t) for t in runs]
            pairs = list(itertools.permutations(range(len(runs)), 2))
            pair_alarms = sum(fails(rule, entries[i], runs[j]) for i, j in pairs)
            cells = [f"{alarms}/{len(runs) - 1}", f"{pair_alarms / len(pairs):.1%}"]
            for value in SLOWDOWNS:
                targets = ab[value][route][rule[0]]
                cells.append(f"{sum(fails(rule, entry, t) for t in targets)}/{len(targets)}")
                caught = sum(fails(rule, e, t) for e in entries for t in targets)
                cells.append(f"{caught / len(entries) / len(targets):.0%}")
            print(
                f"{name:<38} {label:<12} {cells[0]:>6} {cells[1]:>10}"
                + "".join(f" {c:>6} {a:>5}" for c, a in zip(cells[2::2], cells[3::2], strict=True))
            )
    load = getattr(args, "load", None) or os.getloadavg()[0]
    print(f"\n{seconds:.0f} s of measurement; load average after: {load:.2f}")


def _log_sd(values: list[float]) -> float:
    return statistics.pstdev(math.log(v) for v in values)


if __name__ == "__main__":
    main()
