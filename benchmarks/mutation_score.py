"""Mutation score: which realistic regressions of docpipe the suites catch, with the committed
baseline.

    python benchmarks/mutation_score.py [--only NAME ...] [--area AREA ...] [--ref REF]
                                        [--record-missing] [--work DIR] [--keep]
                                        [--ports auto] [--workers N]
    python benchmarks/mutation_score.py --list

The catalogue is ``tests/mutation_catalogue.py``: source-level changes of docpipe (a comparison
off by one, a tenant filter or an audit call lost, a header relaxed, a unit mixed up), none of
them a fault switch. First the project is copied as it is now (docpipe/src, suites, the plugin,
the root conftest, pyproject.toml, baselines; ``--ref REF`` takes them from that commit
instead), so that edits made while the benchmark runs do not mix into it. Then, for the clean
source and for each mutation, one after the other: a copy of docpipe/src with the mutation
applied, ``docpipe up --ports auto`` running that copy (the API's process is checked to import
it), ``docpipe prodval-config``, and the suites as ``scripts/validate-local`` runs them against
the committed baseline: ``pytest suites -m "not performance" --target-env=local
--baseline=baselines/local.json``, serially. local is not a protected environment, so the
destructive dependency-failure checks run in that same default selection (they need the target
to themselves, hence no ``-n``); no ``--allow-destructive`` pass is needed. Then ``docpipe
down``; the home (under ``--work``, a fresh ``/tmp/mut-*`` by default) is removed unless
``--keep``.

A mutation is caught when at least one check fails or errors; the table names the checks. A
mutant that does not start is counted apart (a deployment would refuse it, the suites never
see it). The clean platform runs first and must have 0 failures: any failure there is a false
alarm, printed loudly and counted, and the score is printed as unreliable (a check that fails
on the clean platform catches nothing). ``--record-missing``: where the clean platform fails
only for want of a baseline entry (a check added after the baseline was recorded), those
checks are recorded on the clean platform into the copy's baseline (recording merges; the
repository's file is untouched), the clean platform is run again, and the mutants are judged
with the committed entries plus those; both clean results are printed. About 45 s a run on
2 cores (docpipe start-up, the suites with their dependency-failure pauses, shutdown): about
40 minutes for the catalogue. Not a test: ``tests/test_mutation_catalogue.py`` only checks that
every mutation still applies to the source.

Measured 2026-12-03 on 2 shared cores: see docs/policies.md,
"Mutation score".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The mechanics are the tests' (a mutated copy of the source, the CLI running it, JUnit read
# back), as benchmarks take the performance suite's parameters from suites/.
from tests.mutated_docpipe import (  # noqa: E402
    Mutation,
    docpipe_from,
    failures,
    mutated_source,
    outcomes,
    runs_from,
)
from tests.mutation_catalogue import AREAS, CATALOGUE, Mutant  # noqa: E402
from tests.suite_runner import run_suites  # noqa: E402

# What the suites need to run as in this project: the copy the benchmark runs from.
PROJECT = ("docpipe/src", "suites", "pytest_prodval", "conftest.py", "pyproject.toml", "baselines")
BASELINE = "baselines/local.json"
SELECTION = ("suites", "-m", "not performance")
SUITE_TIMEOUT_S = 600
CLEAN = "(clean)"
NO_ENTRY = "no baseline entry"  # how a check without its entry fails (BaselineMismatch)


@dataclasses.dataclass
class Run:
    name: str
    started: bool
    seconds: float
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    problem: str = ""  # why the run said nothing about the suites (start-up, no report)
    # --record-missing: the checks whose entries were recorded, and the run before it.
    recorded: list[str] = dataclasses.field(default_factory=list)
    first: Run | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())


def short(check: str, width: int = 44) -> str:
    """``suites/security/test_headers.py::test_x_y[a]`` -> ``test_headers::x_y[a]``, the
    function's name cut to ``width`` characters."""
    module, _, name = check.partition("::")
    function, bracket, params = name.partition("[")
    function = function.removeprefix("test_")
    if len(function) > width:
        function = function[: width - 1] + "…"
    return f"{Path(module).stem}::{function}{bracket}{params}"


def snapshot(work: Path, ref: str | None) -> Path:
    """The project's files the suites need, copied once: from the working tree or ``ref``."""
    tree = work / "tree"
    tree.mkdir(parents=True)
    if ref is None:
        ignore = shutil.ignore_patterns("__pycache__", ".docpipe", "*.pyc")
        for name in PROJECT:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, tree / name, ignore=ignore)
            else:
                shutil.copy2(source, tree / name)
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref, *PROJECT],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise SystemExit(f"git archive {ref}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_one(
    name: str,
    mutation: Mutation,
    tree: Path,
    work: Path,
    args: argparse.Namespace,
    record_missing: bool = False,
) -> Run:
    where = work / name.strip("()")
    where.mkdir()
    source = mutated_source(where, mutation, base=tree / "docpipe" / "src")
    home = where / "home"
    up = ["up", "--ports", args.ports, *(["--workers", str(args.workers)] if args.workers else [])]
    started_at = time.monotonic()
    try:
        started = docpipe_from(source, home, *up)
        if started.returncode != 0:
            tail = " ".join((started.stderr or started.stdout).split())[-300:]
            return Run(name, False, time.monotonic() - started_at, problem=f"up failed: {tail}")
        state = json.loads((home / "state.json").read_text())
        if not runs_from(source, state["components"]["api"]["pid"]):
            return Run(name, True, 0.0, problem="the API does not run the mutated source")
        generated = docpipe_from(source, home, "prodval-config")
        if generated.returncode != 0:
            return Run(name, True, 0.0, problem=f"prodval-config: {generated.stderr[-300:]}")
        config = where / "prodval.yaml"
        config.write_text(generated.stdout)

        def suites(label: str, *selection: str, record: bool = False) -> Run:
            junit = where / f"{label}.xml"
            result = run_suites(
                *selection,
                config=config,
                baseline=tree / BASELINE,
                summary=where / f"{label}-summary.json",
                extra=[f"--junitxml={junit}", *(["--record-baseline"] if record else [])],
                timeout=SUITE_TIMEOUT_S,
                cwd=tree,
            )
            seconds = time.monotonic() - started_at
            if not junit.exists():
                tail = (result.stdout + result.stderr)[-600:]
                return Run(name, True, seconds, problem=f"no JUnit report: {tail}")
            return Run(name, True, seconds, outcomes(junit), failures(junit))

        run = suites("compare", *SELECTION)
        missing = sorted(c for c, text in run.failed.items() if NO_ENTRY in text)
        if record_missing and missing:
            # Recording merges: only these checks' entries are added to the copy's baseline.
            recorded = suites("record", *missing, record=True)
            run.recorded = missing if not recorded.failed and not recorded.problem else []
            if run.recorded:
                again = suites("compare-again", *SELECTION)
                again.first, again.recorded = run, run.recorded
                return again
        return run
    finally:
        docpipe_from(source, home, "down")
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)


def _print_result(label: str, run: Run) -> bool:
    """One clean run's counts, and loudly its failures; whether it had none."""
    counts = run.counts
    print(
        f"{label}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped ({run.seconds:.0f} s)"
    )
    if not run.problem and not run.failed:
        return True
    print("!" * 78)
    print(f"!! THE CLEAN PLATFORM FAILS ({label}): each failure is a false alarm")
    if run.problem:
        print(f"!!   {run.problem}")
    for check, text in sorted(run.failed.items()):
        first = next((line for line in text.splitlines() if line.strip()), "")
        print(f"!!   {short(check)}: {first[:200]}")
    print("!" * 78)
    return False


def print_clean(run: Run) -> bool:
    """The clean platform's result; whether it is usable as the reference (0 failures)."""
    if run.first is not None:
        _print_result("clean platform, committed baseline", run.first)
        print(
            f"recorded the {len(run.recorded)} missing entries on the clean platform into the "
            f"copy's {BASELINE} (the repository's file is untouched); then:"
        )
    ok = _print_result("clean platform" if run.first is None else "clean platform again", run)
    if not ok:
        print("!! the mutation score below is unreliable: checks that fail here catch nothing")
    for check in sorted(short(c) for c, o in run.outcomes.items() if o == "skipped"):
        print(f"  skipped on the clean platform: {check}")
    return ok


def caught_by(run: Run, clean: Run) -> list[str]:
    """The checks that failed here and not on the clean platform."""
    return sorted(short(c) for c in run.failed if c not in clean.failed)


def print_table(mutants: list[Mutant], runs: dict[str, Run], clean: Run) -> None:
    width = max(len(m.name) for m in mutants)
    print(f"\n{'mutation':<{width}}  {'area':<12}  {'result':<8}  {'s':>4}  caught by")
    for mutant in mutants:
        run = runs[mutant.name]
        checks = caught_by(run, clean)
        if not run.started or run.problem:
            result, detail = "NO RUN", run.problem[:120]
        elif checks:
            result = "caught"
            detail = ", ".join(checks[:3]) + (
                f" (+{len(checks) - 3} more)" if len(checks) > 3 else ""
            )
        else:
            result, detail = "MISSED", mutant.description
        print(
            f"{mutant.name:<{width}}  {mutant.area:<12}  {result:<8}  {run.seconds:>4.0f}  {detail}"
        )


def print_summary(mutants: list[Mutant], runs: dict[str, Run], clean: Run, clean_ok: bool) -> None:
    by_area: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed, unrun = [], []
    for mutant in mutants:
        run = runs[mutant.name]
        if not run.started or run.problem:
            unrun.append(mutant)
            continue
        by_area[mutant.area][1] += 1
        if caught_by(run, clean):
            by_area[mutant.area][0] += 1
        else:
            missed.append(mutant)
    caught = sum(c for c, _ in by_area.values())
    total = sum(t for _, t in by_area.values())
    print("\nper area: " + ", ".join(f"{a} {c}/{t}" for a, (c, t) in by_area.items()))
    score = f"{caught}/{total} caught ({100 * caught / total:.0f}%)" if total else "nothing ran"
    false_alarms = len(clean.failed) + (1 if clean.problem else 0)
    against = "" if clean.first is None else f" (after recording {len(clean.recorded)} missing)"
    committed = clean.first or clean
    print(
        f"mutation score: {score}; clean platform: "
        f"{len(committed.failed) + bool(committed.problem)} failures with the committed "
        f"baseline, {false_alarms}{against}"
    )
    if not clean_ok:
        print("!! the clean platform failed: the score above is not a measurement")
    if missed:
        print(f"\nmissed ({len(missed)}):")
        for mutant in missed:
            print(f"  {mutant.name} [{mutant.area}]: {mutant.description}")
    if unrun:
        print(f"\nnot judged ({len(unrun)}): the mutant did not start or gave no report")
        for mutant in unrun:
            print(f"  {mutant.name}: {runs[mutant.name].problem[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", action="extend", metavar="NAME", help="these mutations only"
    )
    parser.add_argument(
        "--area", nargs="+", action="extend", choices=AREAS, help="these areas only"
    )
    parser.add_argument("--ref", help="take the project from this commit, not the working tree")
    parser.add_argument("--work", type=Path, help="where homes and copies go (a new /tmp/mut-*)")
    parser.add_argument("--keep", action="store_true", help="keep each run's copy and home")
    parser.add_argument("--ports", default="auto", help="docpipe up --ports (default: auto)")
    parser.add_argument("--workers", type=int, help="docpipe up --workers (default: docpipe's)")
    parser.add_argument(
        "--record-missing",
        action="store_true",
        help="where the clean platform fails for want of a baseline entry, record those entries "
        "on it into the copy's baseline and judge the mutants with them",
    )
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    args = parser.parse_args()
    mutants = [
        m
        for m in CATALOGUE
        if (not args.only or m.name in args.only) and (not args.area or m.area in args.area)
    ]
    if args.only and len(mutants) != len(set(args.only)):
        unknown = set(args.only) - {m.name for m in CATALOGUE}
        raise SystemExit(f"unknown mutations: {', '.join(sorted(unknown))}")
    if args.list:
        for m in mutants:
            print(f"{m.name:<34} {m.area:<12} {m.description}")
        print(
            f"{len(mutants)} mutations: "
            + ", ".join(f"{a} {n}" for a, n in Counter(m.area for m in mutants).items())
        )
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="mut-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    tree = snapshot(work, args.ref)
    # The suites' own process imports the clean copy, never the working tree's docpipe.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tree / "docpipe" / "src"), os.environ.get("PYTHONPATH", "")])
    )
    began = time.monotonic()
    print(
        f"{len(mutants)} mutations of docpipe from {args.ref or 'the working tree'}, suites "
        f"{' '.join(SELECTION)} against {BASELINE}; work in {work}; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    clean = run_one(CLEAN, {}, tree, work, args, record_missing=args.record_missing)
    clean_ok = print_clean(clean)
    sys.stdout.flush()
    runs: dict[str, Run] = {}
    for i, mutant in enumerate(mutants, 1):
        runs[mutant.name] = run = run_one(mutant.name, mutant.changes, tree, work, args)
        checks = caught_by(run, clean)
        verdict = (
            run.problem[:80]
            if run.problem
            else (f"caught by {len(checks)}" if checks else "MISSED")
        )
        print(f"  [{i}/{len(mutants)}] {mutant.name}: {verdict} ({run.seconds:.0f} s)", flush=True)
    print_table(mutants, runs, clean)
    print_summary(mutants, runs, clean, clean_ok)
    print(f"\n{time.monotonic() - began:.0f} s in all; load average {os.getloadavg()[0]:.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
