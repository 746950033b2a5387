"""False alarms and detections of the performance gate, measured on the local platform.

    python benchmarks/gate_accuracy.py [--pairs 20] [--duration 25] [--keep DIR]
    python benchmarks/gate_accuracy.py --from-runs DIR    # judge kept runs again, no load

Brings docpipe up on free loopback ports, then repeats ``--pairs`` times: two Locust runs on
the clean deployment (A, A'), one with ``slow_api=0.25`` and one with ``slow_api=0.5``. The
comparisons are A/A = (A, A'), A/B = (A', +25%) and (A', +50%), each judged for a fast route
(GET /health, a sub-millisecond handler) and a slower one (GET /documents/{id}/result: auth,
two queries and an audit insert, about 10 ms on an idle 2-core machine), by prodval's rule and
by the naive rules, all from the same samples. Prints the table and the seconds of load per
comparison. Not a test: it takes about 45 minutes, and its figures depend on the machine
being quiet (the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_prodval import CONTROL, LoadSamples, Status, window_medians  # noqa: E402

# A benchmark of the judge itself: it drives the comparator and the driver directly, below
# the public API (which suites use) and without pytest.
from pytest_prodval.baseline.kinds.distribution import DistributionComparator  # noqa: E402
from pytest_prodval.baseline.stats.ranks import p_value  # noqa: E402
from pytest_prodval.config import load_config  # noqa: E402
from pytest_prodval.load.driver import LoadDriver  # noqa: E402
from pytest_prodval.load.samples import CONTROL_HTTP  # noqa: E402
from pytest_prodval.safety.load_caps import effective_profile  # noqa: E402
from pytest_prodval.target import sync_client  # noqa: E402

LOCUSTFILE = ROOT / "suites" / "performance" / "locustfile.py"
ROUTES = {"fast": "GET /health", "slower": "GET /documents/{id}/result"}
TOLERANCE = 0.15  # as suites/performance/test_load.py
ALPHA = 0.01
KEY = "gate-accuracy"


@dataclasses.dataclass(frozen=True)
class Side:
    samples: np.ndarray
    windows: list[float]
    controls: dict[str, list[float]]


def side(run: LoadSamples, route: str, warmup_s: float) -> Side:
    endpoint = run.endpoints[route].after(warmup_s)
    controls = {
        name: list(run.endpoints[name].after(warmup_s).latencies())
        for name in (CONTROL, CONTROL_HTTP)
        if name in run.endpoints
    }
    return Side(endpoint.latencies(), window_medians(endpoint), controls)


def _options(one: Side, control: str | None, mode: str, windows: bool) -> dict[str, object]:
    options: dict[str, object] = {}
    if windows:
        options["windows"] = one.windows
    if control:
        options |= {"control": one.controls[control], "control_name": control, "calibration": mode}
    return options


def _distribution(
    base: Side,
    target: Side,
    *,
    control: str | None,
    windows: bool = True,
    mode: str = "shift",
    **rule: object,
) -> bool:
    """The suite's comparator, on the same samples as the naive rules."""
    comparator = DistributionComparator()
    entry, _ = comparator.record(
        KEY, list(map(float, base.samples)), **rule, **_options(base, control, mode, windows)
    )
    verdict = comparator.compare(
        KEY,
        entry,
        list(map(float, target.samples)),
        **rule,
        **_options(target, control, mode, windows),
    )
    return verdict.status is Status.FAILED


WINDOWED: dict[str, object] = {"tolerance": TOLERANCE, "alpha": ALPHA}
RULES: dict[str, Callable[[Side, Side], bool]] = {
    # The performance suite's rule (suites/performance/test_load.py).
    "prodval: TCP ctl, ratio, interval": lambda b, t: _distribution(
        b, t, control=CONTROL, mode="ratio", decision="interval", **WINDOWED
    ),
    "prodval: TCP ctl, ratio, estimate": lambda b, t: _distribution(
        b, t, control=CONTROL, mode="ratio", decision="estimate", **WINDOWED
    ),
    "prodval: static control, ratio": lambda b, t: _distribution(
        b, t, control=CONTROL_HTTP, mode="ratio", decision="interval", **WINDOWED
    ),
    "prodval: static ctl, estimate": lambda b, t: _distribution(
        b, t, control=CONTROL_HTTP, mode="ratio", decision="estimate", **WINDOWED
    ),
    "prodval: TCP control, shift": lambda b, t: _distribution(
        b, t, control=CONTROL, mode="shift", decision="interval", **WINDOWED
    ),
    "prodval: no control": lambda b, t: _distribution(
        b, t, control=None, decision="interval", **WINDOWED
    ),
    "mean +5% (pytest-benchmark)": lambda b, t: bool(t.samples.mean() > 1.05 * b.samples.mean()),
    "p95 < 1.1x (k6)": lambda b, t: bool(
        np.quantile(t.samples, 0.95) >= 1.1 * np.quantile(b.samples, 0.95)
    ),
    "Mann-Whitney p<0.01": lambda b, t: p_value(b.samples, t.samples, "higher_is_worse") < 0.01,
    "MW + HL > 1.1x (Kayenta)": lambda b, t: _distribution(
        b, t, control=None, windows=False, tolerance=0.10, alpha=ALPHA
    ),
}


def docpipe(home: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "docpipe", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
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
        while time.monotonic() < deadline:
            states = {client.get(f"/documents/{i}").json()["state"] for i in ids}
            if states == {"completed"}:
                return ids
            time.sleep(0.2)
    raise SystemExit(f"seed documents did not complete: {states}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of load per run")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--max-rps", type=float, default=60.0)
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
    home, work = args.home / "docpipe", args.keep or args.home / "runs"
    work.mkdir(parents=True, exist_ok=True)
    docpipe(home, "up", "--ports", "auto")
    try:
        config = args.home / "prodval.yaml"
        config.write_text(docpipe(home, "prodval-config"))
        env = load_config(config).environment("local")
        # The static control: the embedder stand-in's /health, on the same host, served by
        # no API release.
        urls = json.loads((home / "state.json").read_text())["urls"]
        profile = dataclasses.replace(
            effective_profile(env),
            users=args.users,
            spawn_rate=args.users * 4,
            duration_s=args.duration,
            max_rps=args.max_rps,
            upload_every_s=0,
            warmup_s=2.0,
            control_url=urls["embedder"].rstrip("/") + "/health",
        )
        documents = seed_documents(env)
        driver = LoadDriver(env, profile, work)
        results: dict[str, dict[str, dict[str, int]]] = {}
        load_seconds: list[float] = []

        medians: dict[str, list[float]] = {}

        def run(label: str) -> LoadSamples:
            done = driver.run(LOCUSTFILE, label=label, documents=documents, read_role="viewer")
            load_seconds.append(profile.spawn_s + profile.duration_s)
            medians[label] = run_medians(done.samples, profile.warmup_s)
            return done.samples

        for i in range(args.pairs):
            a, a2 = run(f"{i}-a"), run(f"{i}-a2")
            docpipe(home, "deploy", "--release", "1", "--fault", "slow_api=0.25")
            b25 = run(f"{i}-b25")
            docpipe(home, "deploy", "--release", "1", "--fault", "slow_api=0.5")
            b50 = run(f"{i}-b50")
            docpipe(home, "deploy", "--release", "1")
            judge_pair(results, a, a2, b25, b50, profile.warmup_s)
            print_table(results, i + 1, float(np.mean(load_seconds)))
            print(
                f"pair {i + 1}/{args.pairs} done; load average {os.getloadavg()[0]:.2f}", flush=True
            )
        (work / "results.json").write_text(json.dumps(results, indent=2))
        print_runs(medians)
    finally:
        docpipe(home, "down")
    print(f"load average after: {os.getloadavg()}")


def judge_pair(
    results: dict[str, dict[str, dict[str, int]]],
    a: LoadSamples,
    a2: LoadSamples,
    b25: LoadSamples,
    b50: LoadSamples,
    warmup_s: float,
) -> None:
    """Judge one pair's comparisons (A/A, A/B +25%, A/B +50%) by every rule, for both routes."""
    for kind, route in ROUTES.items():
        for case, (base, target) in {
            "A/A": (a, a2),
            "A/B +25%": (a2, b25),
            "A/B +50%": (a2, b50),
        }.items():
            left, right = side(base, route, warmup_s), side(target, route, warmup_s)
            for rule, judge in RULES.items():
                cell = results.setdefault(rule, {}).setdefault(f"{kind} {case}", {})
                cell["failed"] = cell.get("failed", 0) + int(judge(left, right))
                cell["n"] = cell.get("n", 0) + 1


def rejudge(runs: Path, warmup_s: float) -> None:
    """The table again from kept runs (``--keep``), without new load: to try other rules."""
    results: dict[str, dict[str, dict[str, int]]] = {}
    medians: dict[str, list[float]] = {}
    pairs = 0
    while (runs / f"{pairs}-b50-samples.jsonl").exists():
        loaded = {}
        for label in ("a", "a2", "b25", "b50"):
            samples = LoadSamples.read(runs / f"{pairs}-{label}-samples.jsonl")
            medians[f"{pairs}-{label}"] = run_medians(samples, warmup_s)
            loaded[label] = samples
        judge_pair(results, *loaded.values(), warmup_s)
        pairs += 1
    print_table(results, pairs, float("nan"))
    print_runs(medians)


def run_medians(samples: LoadSamples, warmup_s: float) -> list[float]:
    return [
        float(np.median(samples.endpoints[name].after(warmup_s).latencies()))
        for name in (*ROUTES.values(), CONTROL_HTTP, CONTROL)
    ]


def print_runs(medians: dict[str, list[float]]) -> None:
    """Each run's medians: how much the machine itself moved between runs."""
    print("\nmedian latency per run, ms (the machine's drift shows in the controls)")
    print(f"{'run':8}{'fast':>10}{'slower':>10}{'static':>10}{'tcp':>10}")
    for label, values in medians.items():
        print(f"{label:8}" + "".join(f"{v:>10.2f}" for v in values))
    for fault in ("b25", "b50"):
        effects = [
            values[1] / medians[label.replace(fault, "a2")][1] - 1
            for label, values in medians.items()
            if label.endswith(f"-{fault}")
        ]
        if effects:
            print(
                f"slower route, {fault} vs a2 of the same pair: median change "
                f"{np.median(effects):+.0%} (from {min(effects):+.0%} to {max(effects):+.0%})"
            )


def print_table(results: dict[str, dict[str, dict[str, int]]], pairs: int, seconds: float) -> None:
    columns = [f"{k} {c}" for k in ROUTES for c in ("A/A", "A/B +25%", "A/B +50%")]
    print()
    print(f"routes: fast = {ROUTES['fast']}, slower = {ROUTES['slower']}; {pairs} pairs each")
    print("A/A: false alarms (lower is better); A/B: detections (higher is better)")
    header = f"{'rule':34}" + "".join(f"{c:>20}" for c in columns)
    print(header)
    print("-" * len(header))
    for rule, cells in results.items():
        row = "".join(f"{cells[c]['failed']:>17}/{cells[c]['n']:<2}" for c in columns)
        print(f"{rule:34}{row}")
    print(f"\nseconds of load per comparison (one target run; spawn + duration): {seconds:.1f}")


if __name__ == "__main__":
    main()
