"""prodval-watch against a real docpipe: 0 failed checks on the clean platform, red within one
interval after ``docpipe deploy --fault weak_headers``, and SIGTERM ends it with exit 0.

The watch runs as an operator runs it (its own process, the committed baseline, the security
suite's read-only checks); the metrics are scraped over HTTP and parsed with prometheus-client's
parser. Marked ``alone``: "red within one interval" is a statement about time, made on a
machine that is not running the parallel tests at the same time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docpipe.control import run_docpipe

from .suite_runner import ROOT, deploy
from .watch_harness import Metrics, Watch, checks, value

pytestmark = [pytest.mark.xdist_group("watch-docpipe"), pytest.mark.alone]

INTERVAL_S = 5.0
# The read-only security checks that weak_headers breaks (its synthetic one does not run).
RED = {
    "suites/security/test_headers.py::test_every_kind_of_answer_carries_the_security_headers",
    "suites/security/test_route_headers.py::test_every_route_answers_with_the_security_and_cache_"
    "headers",
    "suites/security/test_transport.py::test_hsts_is_sent_over_https",
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("watch-docpipe")
    home = base / "home"
    result = run_docpipe(home, "up", "--ports", "auto", "--workers", "1")
    assert result.returncode == 0, result.stderr
    try:
        generated = run_docpipe(home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        config = base / "prodval.yaml"
        config.write_text(generated.stdout)
        yield home, config
    finally:
        run_docpipe(home, "down")


def _started_at(metrics: Metrics) -> float:
    """Unix time the last run started: its end minus its duration."""
    finished = value(metrics, "prodval_run_timestamp_seconds", env="local") or 0.0
    return finished - (value(metrics, "prodval_run_duration_seconds", env="local") or 0.0)


def test_the_watch_turns_red_within_one_interval_after_a_bad_deploy(
    platform: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = platform
    watch = Watch(
        ROOT,
        "--env=local",
        f"--interval={INTERVAL_S:g}",
        "--listen=127.0.0.1:0",
        f"--config={config}",
        "--baseline=baselines/local.json",
        "--",
        "-m",
        "security",
        log=tmp_path / "watch.log",
    )
    try:
        watch.wait_serving()
        clean, _ = watch.wait_for(
            "a completed run of the clean platform",
            lambda m: value(m, "prodval_run_completed", env="local") == 1.0,
            90,
        )
        assert value(clean, "prodval_runs_total", env="local", result="passed") == 1.0
        for outcome in ("failed", "error"):
            assert value(clean, "prodval_checks", env="local", outcome=outcome) == 0.0, outcome
        passed = checks(clean, "local")
        assert len(passed) >= 20 and set(passed.values()) == {1.0}, passed
        assert RED <= set(passed)
        run_s = value(clean, "prodval_run_duration_seconds", env="local") or 0.0

        deploy(home, "weak_headers")
        deployed_at, deployed = time.time(), time.monotonic()

        def red_after_the_deploy(metrics: Metrics) -> bool:
            # A run that started after the deploy finished: one that overlapped it may have
            # seen the API restart, not the release.
            failing = {c for c, v in checks(metrics, "local").items() if v == 0.0}
            return _started_at(metrics) >= deployed_at and failing == RED

        red, _ = watch.wait_for(
            "the weak_headers checks red", red_after_the_deploy, INTERVAL_S + 3 * run_s + 30
        )
        seconds = time.monotonic() - deployed
        assert value(red, "prodval_run_completed", env="local") == 1.0
        assert value(red, "prodval_checks", env="local", outcome="failed") == len(RED)
        assert (value(red, "prodval_runs_total", env="local", result="failed") or 0) >= 1
        # At worst the run in flight at the deploy ends, and the next starts one interval
        # after it started: one interval, plus one run, plus scraping.
        assert seconds <= INTERVAL_S + run_s + 5, (seconds, run_s)
        print(f"red {seconds:.1f}s after the deploy (interval {INTERVAL_S:g}s, run {run_s:.1f}s)")
        assert watch.stop() == 0, watch.output()
        assert watch.output().rstrip().endswith("prodval-watch: stopped by SIGTERM")
    finally:
        watch.close()
