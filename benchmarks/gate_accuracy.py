"""False alarms and detections of the performance gate, paired and historic, on one machine.

    python benchmarks/gate_accuracy.py [--pairs 20] [--duration 25] [--hog] [--keep DIR]
    python benchmarks/gate_accuracy.py --from-runs DIR    # judge kept runs again, no load

Brings up two docpipe deployments on free loopback ports, blue (the control, release 1) and
green (the release under test), described by one prodval.yaml (``docpipe prodval-config
--environment blue=... --environment green=...``, with its ``load.max_rps``). Every run is one
Locust run of the performance suite's locustfile against green *and* blue at the same time
(paired mode). After one warm-up run, it repeats ``--pairs`` times: a run with green clean
(A), one with green at ``slow_api=0.25`` and one at ``slow_api=0.5``. Each run gives:

- **paired** comparisons, green beside blue in the same run: A is an A/A comparison, the
  faulty runs are A/B (+25% and +50% as the fault means it, measured and printed below);
- **historic** comparisons, green against green recorded in an earlier run, as the gate does
  with a baseline file: A_i against A_{i-1} is A/A, the faulty runs against A_i are A/B.

Each is judged for every route by prodval's rule of that mode (the performance suite's) and
by the anchor rules (mean +5%, p95 < 1.1x, Mann-Whitney at 0.01, a Kayenta-like MW + HL >
1.1x), all on the same samples. Prints the tables, the seconds of load per comparison, the
slowdown each fault made as the client saw it, and the historic rule's "could detect". Not a
test: ~35 minutes; ``--hog`` runs a CPU hog on one core the whole time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from docpipe.control import run_docpipe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_prodval import CONTROL, Endpoint, LoadSamples, paired_windows, window_medians  # noqa: E402

# A benchmark of the judges themselves: it drives them and the driver directly, below the
# public API (which suites use) and without pytest.
from pytest_prodval.baseline.kinds.distribution import DistributionComparator  # noqa: E402
from pytest_prodval.baseline.kinds.paired import PairedJudge  # noqa: E402
from pytest_prodval.baseline.stats.ranks import p_value  # noqa: E402
from pytest_prodval.config import load_config  # noqa: E402
from pytest_prodval.load.driver import LoadDriver  # noqa: E402
from pytest_prodval.load.samples import CONTROL_HTTP  # noqa: E402
from pytest_prodval.safety.load_caps import effective_profile  # noqa: E402
from pytest_prodval.target import sync_client  # noqa: E402
from suites.performance.test_load import (  # noqa: E402
    ALPHA,
    ENDPOINTS,
    PAIRED_TOLERANCE,
    TOLERANCE,
)

LOCUSTFILE = ROOT / "suites" / "performance" / "locustfile.py"
FAULTS = {"+25%": "slow_api=0.25", "+50%": "slow_api=0.5"}
CASES = ("A/A", *FAULTS)
KEY = "gate-accuracy"


@dataclasses.dataclass(frozen=True)
class Side:
    """One route on one side of one run, after the warm-up."""

    endpoint: Endpoint
    control: list[float]  # TCP connect times to that side's API port
    static: list[float]  # a static endpoint on the same host (load.control_url; target only)

    @property
    def samples(self) -> np.ndarray:
        return self.endpoint.latencies()


def side(samples: LoadSamples, route: str, warmup_s: float, control_side: bool) -> Side:
    endpoints = samples.control_side if control_side else samples.endpoints
    tcp = endpoints[CONTROL].after(warmup_s).latencies()
    static = endpoints.get(CONTROL_HTTP)
    static_ms = [] if static is None else [float(v) for v in static.after(warmup_s).latencies()]
    return Side(endpoints[route].after(warmup_s), [float(v) for v in tcp], static_ms)


# --- the rules ----------------------------------------------------------------------------


def paired_rule(target: Side, control: Side) -> bool:
    """The performance suite's paired rule (suites/performance/test_load.py)."""
    windows = paired_windows(target.endpoint, control.endpoint)
    verdict = PairedJudge().judge(
        KEY,
        windows.target,
        control=windows.control,
        control_name="blue",
        unit="ms",
        tolerance=PAIRED_TOLERANCE,
        alpha=ALPHA,
    )
    return verdict.failed


def historic_verdict(
    base: Side, target: Side, static: bool = False, tolerance: float = TOLERANCE
) -> tuple[bool, float]:
    """The performance suite's historic rule: failed, and the slowdown it could detect
    (``static``: calibrated by the static endpoint instead of TCP connect)."""
    comparator = DistributionComparator()
    options = {
        "unit": "ms",
        "tolerance": tolerance,
        "alpha": ALPHA,
        "decision": "interval",
        "min_samples": 10,
        "control_name": CONTROL_HTTP if static else CONTROL,
        "calibration": "ratio",
    }
    entry, _ = comparator.record(
        KEY,
        list(map(float, base.samples)),
        windows=window_medians(base.endpoint),
        control=base.static if static else base.control,
        **options,
    )
    verdict = comparator.compare(
        KEY,
        entry,
        list(map(float, target.samples)),
        windows=window_medians(target.endpoint),
        control=target.static if static else target.control,
        **options,
    )
    return verdict.failed, float(verdict.evidence.get("detectable_ratio") or float("nan"))


def kayenta(base: Side, target: Side) -> bool:
    comparator = DistributionComparator()
    entry, _ = comparator.record(KEY, list(map(float, base.samples)), tolerance=0.10)
    verdict = comparator.compare(KEY, entry, list(map(float, target.samples)), tolerance=0.10)
    return verdict.failed


ANCHORS: dict[str, Callable[[Side, Side], bool]] = {
    "mean +5% (pytest-benchmark)": lambda b, t: bool(t.samples.mean() > 1.05 * b.samples.mean()),
    "p95 < 1.1x (k6)": lambda b, t: bool(
        np.quantile(t.samples, 0.95) >= 1.1 * np.quantile(b.samples, 0.95)
    ),
    "Mann-Whitney p<0.01": lambda b, t: p_value(b.samples, t.samples, "higher_is_worse") < 0.01,
    "MW + HL > 1.1x (Kayenta)": kayenta,
}


# --- judging runs ---------------------------------------------------------------------------

# results[mode][rule][route][case] = [failed, judged]
Results = dict[str, dict[str, dict[str, dict[str, list[int]]]]]


def _count(results: Results, mode: str, rule: str, route: str, case: str, failed: bool) -> None:
    cell = results[mode][rule][route].setdefault(case, [0, 0])
    cell[0] += int(failed)
    cell[1] += 1


def new_results() -> Results:
    return defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))


@dataclasses.dataclass
class Tally:
    results: Results = dataclasses.field(default_factory=new_results)
    # Historic A/A verdicts' "could detect", per route; client-observed slowdowns per fault.
    detectable: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    slowdowns: dict[str, dict[str, list[float]]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    def judge(
        self, case: str, run: LoadSamples, previous: LoadSamples | None, warmup_s: float
    ) -> None:
        for route in ENDPOINTS:
            green = side(run, route, warmup_s, control_side=False)
            blue = side(run, route, warmup_s, control_side=True)
            _count(
                self.results,
                "paired",
                "prodval: paired windows",
                route,
                case,
                paired_rule(green, blue),
            )
            for rule, judge in ANCHORS.items():
                _count(self.results, "paired", rule, route, case, judge(blue, green))
            if case != "A/A":
                ratio = float(np.median(green.samples) / np.median(blue.samples))
                self.slowdowns[case][route].append(ratio)
            if previous is None:
                continue
            base = side(previous, route, warmup_s, control_side=False)
            failed, detectable = historic_verdict(base, green)
            _count(
                self.results, "historic", "prodval: TCP ctl, ratio, interval", route, case, failed
            )
            for tolerance in (TOLERANCE, 0.25):
                static_failed, _ = historic_verdict(base, green, True, tolerance)
                rule = f"static ctl, ratio, interval {tolerance:.0%}"
                _count(self.results, "historic", rule, route, case, static_failed)
            for tolerance in (0.25, 0.35):
                wide_failed, _ = historic_verdict(base, green, False, tolerance)
                rule = f"TCP ctl, ratio, interval {tolerance:.0%}"
                _count(self.results, "historic", rule, route, case, wide_failed)
            for rule, judge in ANCHORS.items():
                _count(self.results, "historic", rule, route, case, judge(base, green))
            if case == "A/A":
                self.detectable[route].append(detectable)

    def print(self, pairs: int, load_s: float) -> None:
        for mode in ("paired", "historic"):
            print(f"\n{mode}: A/A = false alarms (lower is better), +25%/+50% = detections")
            header = f"{'rule':34}{'route':30}" + "".join(f"{c:>10}" for c in CASES)
            print(header)
            print("-" * len(header))
            for rule, routes in self.results[mode].items():
                for route in ENDPOINTS:
                    cells = routes.get(route, {})
                    text = "".join(
                        f"{f'{cells[c][0]}/{cells[c][1]}' if c in cells else '-':>10}"
                        for c in CASES
                    )
                    print(f"{rule:34}{route:30}{text}")
        print(f"\nseconds of load per comparison (spawn + duration of one run): {load_s:.1f}")
        print("client-observed slowdown of green vs blue in the same run (median latency ratio):")
        for case, routes in self.slowdowns.items():
            parts = [
                f"{route} {np.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})"
                for route, v in routes.items()
            ]
            print(f"  {FAULTS[case]}: " + "; ".join(parts))
        if self.detectable:
            print("historic rule, 'could detect' over its A/A runs (19th of 20 = detected 19/20):")
            for route, values in self.detectable.items():
                ordered = sorted(v for v in values if np.isfinite(v))
                if ordered:
                    at = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
                    print(
                        f"  {route}: median +{(np.median(ordered) - 1):.0%}, "
                        f"95th percentile +{at - 1:.0%} (n={len(ordered)})"
                    )
        print(f"pairs: {pairs}; load average now {os.getloadavg()[0]:.2f}", flush=True)


# --- the platform -------------------------------------------------------------------------


def docpipe(home: Path, *args: str) -> str:
    result = run_docpipe(home, *args)
    if result.returncode != 0:
        raise SystemExit(f"docpipe {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def seed_documents(env: object, count: int = 3) -> list[str]:
    """Synthetic documents to read under load, processed to completion (bounded wait)."""
    ids = []
    with sync_client(env, "operator") as client:  # type: ignore[arg-type]
        for i in range(count):
            response = client.post(
                "/documents",
                content=f"gate accuracy document {i} {time.time()}\n".encode() * 40,
                headers={
                    "Content-Type": "text/plain",
                    "X-Subject-Id": "prodval-synthetic-bench",
                    "X-Filename": "bench.txt",
                },
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 60
        states: set[str] = set()
        while time.monotonic() < deadline:
            states = {client.get(f"/documents/{i}").json()["state"] for i in ids}
            if states == {"completed"}:
                return ids
            time.sleep(0.2)  # polling a real pipeline, bounded by the deadline
    raise SystemExit(f"seed documents did not complete: {states}")


def run_benchmark(args: argparse.Namespace) -> None:
    homes = {side: args.home / side for side in ("blue", "green")}
    work = args.keep or args.home / "runs"
    work.mkdir(parents=True, exist_ok=True)
    hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.hog else None
    try:
        for home in homes.values():
            docpipe(home, "up", "--ports", "auto", "--workers", "1")
        described = [a for name, home in homes.items() for a in ("--environment", f"{name}={home}")]
        config = args.home / "prodval.yaml"
        config.write_text(docpipe(homes["blue"], "prodval-config", *described))
        loaded = load_config(config)
        green, blue = loaded.environment("green"), loaded.environment("blue")
        profile = dataclasses.replace(
            effective_profile(green, 0, blue),
            users=args.users,
            spawn_rate=args.users * 4,
            duration_s=args.duration,
            upload_every_s=0,
            warmup_s=2.0,
        )
        print(f"profile: {profile.describe()} on each side; hog: {bool(hog)}")
        driver = LoadDriver(green, profile, work, control=blue)
        documents = {"green": seed_documents(green), "blue": seed_documents(blue)}
        tally = Tally()

        def run(label: str) -> LoadSamples:
            done = driver.run(
                LOCUSTFILE,
                label=label,
                documents=documents["green"],
                control_documents=documents["blue"],
                read_role="viewer",
            )
            return done.samples

        previous = run("warm-a")
        for i in range(args.pairs):
            clean = run(f"{i}-a")
            tally.judge("A/A", clean, previous, profile.warmup_s)
            for case, fault in FAULTS.items():
                docpipe(homes["green"], "deploy", "--release", "1", "--fault", fault)
                tally.judge(case, run(f"{i}-{case[1:3]}"), clean, profile.warmup_s)
            docpipe(homes["green"], "deploy", "--release", "1")
            previous = clean
            tally.print(i + 1, profile.spawn_s + profile.duration_s)
    finally:
        for home in homes.values():
            subprocess.run(
                [sys.executable, "-m", "docpipe", "--home", str(home), "down"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        if hog is not None:
            hog.kill()
            hog.wait()


def rejudge(runs: Path, warmup_s: float) -> None:
    """The tables again from kept runs (``--keep``), without new load: to try other rules."""
    tally = Tally()
    previous = LoadSamples.read(runs / "warm-a-samples.jsonl")
    pairs = 0
    while (runs / f"{pairs}-50-samples.jsonl").exists():
        clean = LoadSamples.read(runs / f"{pairs}-a-samples.jsonl")
        tally.judge("A/A", clean, previous, warmup_s)
        for case in FAULTS:
            faulty = LoadSamples.read(runs / f"{pairs}-{case[1:3]}-samples.jsonl")
            tally.judge(case, faulty, clean, warmup_s)
        previous = clean
        pairs += 1
    tally.print(pairs, float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of load per run")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--hog", action="store_true", help="a CPU hog on one core throughout")
    parser.add_argument("--home", type=Path, default=Path("/tmp/gate-accuracy"))
    parser.add_argument("--keep", type=Path, help="directory to keep the raw runs in")
    parser.add_argument(
        "--from-runs", type=Path, help="judge the runs kept in this directory; no new load"
    )
    args = parser.parse_args()
    if args.from_runs:
        rejudge(args.from_runs, warmup_s=2.0)
        return
    print(f"load average before: {os.getloadavg()}")
    run_benchmark(args)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
