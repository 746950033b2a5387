"""prodval-watch: its arguments, how a run's result is read, the metrics, and the loop as a real
process (real pytest runs of a small project against a real HTTP target on loopback).

The end-to-end test against a real docpipe is tests/test_watch_docpipe.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from pytest_prodval.process import Outcome, run_bounded
from pytest_prodval.watch.arguments import parse
from pytest_prodval.watch.metrics import WatchMetrics
from pytest_prodval.watch.results import CheckState, RunResult, read_result
from pytest_prodval.watch.service import run

from .fake_servers import http_server
from .watch_harness import Metrics, Watch, checks, run_watch, value

CONFIG = """
environments:
  local:
    api:
      base_url: {url}
      version_path: /version
    timeouts:
      check_s: 300
      run_s: 600
  down:
    api:
      base_url: http://127.0.0.1:9
"""

PROJECT_INI = """
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
markers =
    security: the security suite
prodval_suites = security
"""

CHECKS = """
import os
import pathlib
import time

import pytest

MODE = pathlib.Path(__file__).parent / "mode"


@pytest.mark.security
def test_the_version_answers(api, baseline):
    response = api.get("/version")
    baseline.limit("status", response.status_code, at_most=299)


def test_controlled():
    mode = MODE.read_text().strip() if MODE.exists() else "pass"
    if mode == "fail":
        raise AssertionError("told to fail")
    if mode == "crash":
        os._exit(3)
    if mode == "hang":
        pathlib.Path("hanging").write_text(str(os.getpid()))
        time.sleep(600)


@pytest.mark.skip(reason="never runs")
def test_skipped():
    pass


@pytest.mark.synthetic
def test_writes_synthetic_data():
    pathlib.Path("synthetic-ran").write_text("")


@pytest.mark.destructive
def test_destroys():
    pathlib.Path("destructive-ran").write_text("")
"""

CONTROLLED = "test_checks.py::test_controlled"
VERSION = "test_checks.py::test_the_version_answers"


def _answer(method: str, path: str) -> tuple[int, bytes]:
    return 200, json.dumps({"version": "1"}).encode()


@pytest.fixture
def target() -> Iterator[str]:
    with http_server(_answer) as url:
        yield url


@pytest.fixture
def watched(tmp_path: Path, target: str) -> Path:
    """A small validation project (its own prodval.yaml, ini and checks) against ``target``."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "prodval.yaml").write_text(CONFIG.format(url=target))
    (project / "pytest.ini").write_text(PROJECT_INI)
    (project / "test_checks.py").write_text(CHECKS)
    return project


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "5", "--listen", "127.0.0.1:0"], "--env is required"),
        (["--env", "local", "--listen", "127.0.0.1:0"], "--interval is required"),
        (["--env", "local", "--interval", "5"], "--listen is required"),
        (["--env", "a b", "--interval", "5", "--listen", ":1"], "--env: expected letters"),
        (["--env", "local", "--interval", "0", "--listen", "h:1"], "number of seconds > 0"),
        (["--env", "local", "--interval", "-1", "--listen", "h:1"], "number of seconds > 0"),
        (["--env", "local", "--interval", "soon", "--listen", "h:1"], "got 'soon'"),
        (["--env", "local", "--interval", "5", "--listen", "9464"], "--listen expects HOST:PORT"),
        (["--env", "local", "--interval", "5", "--listen", "h:70000"], "HOST:PORT"),
        (["--env", "local", "--interval", "5", "--listen", ":9464"], "HOST:PORT"),
        (["--env", "local", "--interval", "5", "--listen", "h:1", "--bogus"], "unknown argument"),
        (["--env", "local", "--interval", "5", "--listen", "h:1", "--config"], "needs a value"),
        (
            ["--env", "local", "--interval", "5", "--listen", "h:1", "--baseline", "nope.json"],
            "--baseline nope.json: not found",
        ),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_4(
    watched: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(watched)
    assert run(args) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("prodval-watch: error: ") and message in err, err
    assert err.rstrip().endswith("(see prodval-watch --help)")


REFUSED = [
    ("--allow-destructive", "never runs destructive checks"),
    ("--prodval-confirm-destructive=local", "never runs destructive checks"),
    ("--allow-destr", "abbreviates --allow-destructive"),
    ("--record-baseline", "never records"),
    ("--prune", "never records"),
    ("--baseline=other.json", "prodval-watch sets it"),
    ("--target-env=prod", "prodval-watch sets it"),
    ("--prodval-summary=x.json", "prodval-watch sets it"),
    ("--prodval-config=x.yaml", "prodval-watch sets it"),
    ("--collect-only", "runs no checks"),
    ("-qV", "runs no checks"),
    ("@args.txt", "would read arguments from that file"),
    ("-oprodval_allow_destructive=true", "overrides ini prodval_allow_destructive"),
    ("--override-ini=prodval_record_baseline=true", "never records"),
]


@pytest.mark.parametrize(("arg", "message"), REFUSED)
def test_the_pytest_options_it_sets_records_with_or_destroys_with_are_refused_after_dashdash(
    watched: Path,
    arg: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(watched)
    assert run(["--env", "local", "--interval", "5", "--listen", "h:1", "--", arg]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{arg}' after --" in err and message in err, err


def test_refused_in_pytest_addopts_too(
    watched: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(watched)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-q --allow-destructive")
    assert run(["--env", "local", "--interval", "5", "--listen", "h:1"]) == 4
    err = capsys.readouterr().err
    assert "in PYTEST_ADDOPTS: prodval-watch never runs destructive checks" in err, err


def test_an_unknown_environment_is_one_line_naming_prodval_yaml(watched: Path) -> None:
    result = run_watch(watched, ["--env", "staging", "--interval", "5", "--listen", "h:1"])
    assert result.returncode == 4, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert "prodval.yaml: unknown environment 'staging'; expected one of: down, local" in (
        result.stderr
    )
    missing = run_watch(
        watched,
        ["--env", "local", "--interval", "5", "--listen", "h:1", "--config", "nowhere.yaml"],
    )
    assert missing.returncode == 4 and "config nowhere.yaml: not found" in missing.stderr


def test_an_address_in_use_is_one_line_and_exit_4(watched: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_watch(
            watched, ["--env", "local", "--interval", "5", "--listen", f"127.0.0.1:{port}"]
        )
    assert result.returncode == 4, result
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_help_names_every_metric_and_exits_0(watched: Path) -> None:
    result = run_watch(watched, ["--help"])
    assert result.returncode == 0 and result.stdout.startswith("Usage: prodval-watch --env")
    for name in ("prodval_run_timestamp_seconds", "prodval_runs_total", "prodval_check_passed"):
        assert name in result.stdout


def test_the_settings_carry_the_environments_run_budget(
    watched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(watched)
    settings = parse(
        [
            "--env",
            "local",
            "--interval",
            "2.5",
            "--listen",
            "[::1]:9464",
            "--allow-synthetic",
            "--",
            "-k",
            "version",
        ]
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.interval_s) == ("::1", 9464, 2.5)
    assert settings.run_s == 600 and settings.run_limit_s == 630
    assert settings.allow_synthetic and settings.pytest_args == ("-k", "version")


# --- a run's result -------------------------------------------------------------------------


def _summary(path: Path, *, exit_status: int = 1, unreachable: str | None = None) -> Path:
    path.write_text(
        json.dumps(
            {
                "target": {"api": "http://x", "unreachable": unreachable},
                "pytest_exit_status": exit_status,
                "checks": [
                    {
                        "nodeid": "t.py::test_a",
                        "suite": "security",
                        "outcome": "passed",
                        "duration_s": 1,
                    },
                    {"nodeid": "t.py::test_b", "suite": None, "outcome": "failed", "duration_s": 1},
                    {
                        "nodeid": "t.py::test_c",
                        "suite": None,
                        "outcome": "skipped",
                        "duration_s": 0,
                    },
                ],
                "comparisons": [
                    {"nodeid": "t.py::test_a", "kind": "limit", "status": "passed"},
                    {"nodeid": "t.py::test_b", "kind": "exact", "status": "failed"},
                ],
            }
        )
    )
    return path


def _ended(code: int | None, **changes: object) -> Outcome:
    fields: dict[str, object] = {
        "exit_code": code,
        "timed_out": False,
        "signal": None,
        "stopped_by": None,
        "started_at": time.time() - 2,
        "seconds": 2.0,
    }
    fields.update(changes)
    return Outcome(**fields)  # type: ignore[arg-type]


def test_a_run_that_exits_1_with_its_summary_is_a_completed_failed_run(tmp_path: Path) -> None:
    result = read_result(_ended(1), _summary(tmp_path / "s.json"), 630)
    assert (result.result, result.completed) == ("failed", True)
    assert result.counts == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    assert result.checks[0] == CheckState("t.py::test_a", "security", "passed", slo=True)
    assert result.checks[1] == CheckState("t.py::test_b", "", "failed", slo=False)


@pytest.mark.parametrize(
    ("code", "changes", "reason"),
    [
        (3, {}, "pytest exit 3 (pytest hit an internal error)"),
        (4, {}, "pytest exit 4 (pytest usage error)"),
        (5, {}, "pytest exit 5 (no checks were collected)"),
        (2, {"stopped_by": "SIGTERM"}, "pytest exit 2 (pytest was interrupted)"),
        (137, {"signal": "SIGKILL"}, "killed by SIGKILL"),
        (None, {}, "could not be started"),
    ],
)
def test_any_other_end_is_an_error_run(
    tmp_path: Path, code: int | None, changes: dict[str, object], reason: str
) -> None:
    result = read_result(_ended(code, **changes), _summary(tmp_path / "s.json"), 630)
    assert (result.result, result.completed, result.checks) == ("error", False, ())
    assert reason in result.reason


def test_a_run_past_its_bound_is_stopped_and_an_error(tmp_path: Path) -> None:
    outcome = run_bounded(
        [sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5, grace_s=1
    )
    result = read_result(outcome, tmp_path / "none.json", 0.5)
    assert (result.result, result.completed) == ("error", False)
    assert result.reason == "the run did not finish within 0.5 s; stopped"


def test_no_summary_an_old_one_or_an_unreachable_target_is_an_error(tmp_path: Path) -> None:
    assert read_result(_ended(0), tmp_path / "none.json", 630).reason == (
        "the run wrote no summary"
    )
    old = _summary(tmp_path / "old.json")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert "is not this run's" in read_result(_ended(1), old, 630).reason
    down = _summary(tmp_path / "down.json", unreachable="cannot connect to the API")
    result = read_result(_ended(1), down, 630)
    assert (result.result, result.completed) == ("error", False)
    assert "did not answer at the session's start: cannot connect" in result.reason


# --- the metrics ----------------------------------------------------------------------------


def _run(result: str, completed: bool, *checks: CheckState) -> RunResult:
    return RunResult(result, completed, "", 1_000.0, 3.5, tuple(checks))


def test_an_error_run_keeps_the_last_completed_runs_checks_and_slo_labels_are_sticky() -> None:
    metrics = WatchMetrics("prod", 60)
    before = generate_latest(metrics.registry).decode()
    assert 'prodval_run_interval_seconds{env="prod"} 60.0' in before
    assert 'prodval_runs_total{env="prod",result="error"} 0.0' in before
    assert "prodval_run_completed" not in before and "prodval_checks" not in before
    metrics.record(
        _run(
            "passed",
            True,
            CheckState("t::a", "security", "passed", slo=True),
            CheckState("t::s", "", "skipped", slo=False),
        )
    )
    metrics.record(_run("error", False))
    # The limit check now fails before its comparison: its series keeps slo="true".
    metrics.record(_run("failed", True, CheckState("t::a", "security", "failed", slo=False)))
    metrics.record(_run("error", False))
    text = generate_latest(metrics.registry).decode()
    assert 'prodval_run_completed{env="prod"} 0.0' in text
    assert 'prodval_runs_total{env="prod",result="error"} 2.0' in text
    assert 'prodval_runs_total{env="prod",result="passed"} 1.0' in text
    assert 'prodval_checks{env="prod",outcome="failed"} 1.0' in text
    assert 'prodval_check_passed{check="t::a",env="prod",slo="true",suite="security"} 0.0' in text
    assert 'check="t::s"' not in text  # skipped checks have no series


# --- the summary's checks, which the watch reads --------------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_summary_lists_every_check_with_its_suite_and_outcome(
    watched: Path, workers: list[str]
) -> None:
    (watched / "test_more.py").write_text(
        textwrap.dedent("""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no")

        @pytest.mark.security
        def test_errors_at_setup(broken):
            pass

        @pytest.mark.xfail(reason="known")
        def test_expected_to_fail():
            raise AssertionError

        class TestGroup:
            @pytest.mark.security
            def test_in_a_class(self):
                pass
    """)
    )
    (watched / "mode").write_text("fail")
    result = run_bounded(
        [
            sys.executable,
            "-m",
            "pytest",
            "--target-env=local",
            "--prodval-summary=s.json",
            "-p",
            "no:cacheprovider",
            *workers,
        ],
        timeout_s=120,
        cwd=watched,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
    )
    assert result.exit_code == 1
    summary = json.loads((watched / "s.json").read_text())
    got = {c["nodeid"]: (c["suite"], c["outcome"]) for c in summary["checks"]}
    assert got == {
        VERSION: ("security", "passed"),
        CONTROLLED: (None, "failed"),
        "test_checks.py::test_skipped": (None, "skipped"),
        "test_checks.py::test_writes_synthetic_data": (None, "passed"),
        "test_checks.py::test_destroys": (None, "passed"),
        "test_more.py::test_errors_at_setup": ("security", "error"),
        "test_more.py::test_expected_to_fail": (None, "skipped"),
        "test_more.py::TestGroup::test_in_a_class": ("security", "passed"),
    }
    assert summary["target"]["unreachable"] is None


# --- the loop, as a real process ------------------------------------------------------------


@pytest.fixture
def watch(watched: Path, tmp_path: Path) -> Iterator[Watch]:
    process = Watch(
        watched,
        "--env",
        "local",
        "--interval",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--reports",
        str(tmp_path / "reports"),
        log=tmp_path / "watch.log",
    )
    try:
        process.wait_serving()
        yield process
    finally:
        process.close()


def _runs(metrics: Metrics, result: str) -> float:
    return value(metrics, "prodval_runs_total", env="local", result=result) or 0.0


def test_a_failing_or_crashing_run_never_stops_the_loop(watch: Watch, watched: Path) -> None:
    metrics, _ = watch.wait_for("a passed run", lambda m: _runs(m, "passed") >= 1, 60)
    assert checks(metrics, "local") == {VERSION: 1.0, CONTROLLED: 1.0}  # read-only checks only
    assert value(metrics, "prodval_checks", env="local", outcome="skipped") == 1.0
    labels = [k[1] for k in metrics if k[0] == "prodval_check_passed"]
    assert (("check", VERSION), ("env", "local"), ("slo", "true"), ("suite", "security")) in labels
    assert not (watched / "synthetic-ran").exists() and not (watched / "destructive-ran").exists()

    (watched / "mode").write_text("fail")
    metrics, _ = watch.wait_for("a failed run", lambda m: _runs(m, "failed") >= 1, 60)
    assert checks(metrics, "local")[CONTROLLED] == 0.0
    assert value(metrics, "prodval_run_completed", env="local") == 1.0

    (watched / "mode").write_text("crash")
    metrics, _ = watch.wait_for("an error run", lambda m: _runs(m, "error") >= 1, 60)
    assert value(metrics, "prodval_run_completed", env="local") == 0.0
    assert checks(metrics, "local")[CONTROLLED] == 0.0  # the last completed run's

    (watched / "mode").write_text("pass")
    passed = _runs(metrics, "passed")
    metrics, _ = watch.wait_for(
        "a passed run after the crash", lambda m: _runs(m, "passed") > passed, 60
    )
    assert checks(metrics, "local")[CONTROLLED] == 1.0
    assert value(metrics, "prodval_run_completed", env="local") == 1.0
    assert "pytest exit 3 (pytest hit an internal error)" in watch.output()


def test_sigterm_stops_the_running_checks_closes_the_server_and_exits_0(
    watch: Watch, watched: Path
) -> None:
    (watched / "mode").write_text("hang")
    deadline = time.monotonic() + 60
    while not (watched / "hanging").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int((watched / "hanging").read_text())
    started = time.monotonic()
    assert watch.stop(signal.SIGTERM, timeout_s=30) == 0, watch.output()
    assert time.monotonic() - started < 15
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the run's pytest is gone
    host, port = watch.url.removeprefix("http://").split("/")[0].rsplit(":", 1)
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass
    assert watch.output().rstrip().endswith("prodval-watch: stopped by SIGTERM")


def test_sigint_between_runs_exits_0(watch: Watch) -> None:
    watch.wait_for("a run", lambda m: _runs(m, "passed") >= 1, 60)
    assert watch.stop(signal.SIGINT, timeout_s=30) == 0, watch.output()


def test_a_target_down_at_the_start_is_an_error_run_without_check_metrics(
    watched: Path, tmp_path: Path
) -> None:
    process = Watch(
        watched,
        "--env",
        "down",
        "--interval",
        "1",
        "--listen",
        "127.0.0.1:0",
        log=tmp_path / "down.log",
    )
    try:
        process.wait_serving()
        metrics, _ = process.wait_for(
            "an error run",
            lambda m: (value(m, "prodval_runs_total", env="down", result="error") or 0) >= 1,
            60,
        )
        assert value(metrics, "prodval_run_completed", env="down") == 0.0
        assert not [k for k in metrics if k[0] in ("prodval_checks", "prodval_check_passed")]
        assert "the target did not answer at the session's start" in process.output()
        assert process.stop() == 0
    finally:
        process.close()


def test_allow_synthetic_runs_synthetic_checks_and_destructive_ones_never(
    watched: Path, tmp_path: Path
) -> None:
    process = Watch(
        watched,
        "--env",
        "local",
        "--interval",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--allow-synthetic",
        "--",
        "-m",
        "not security",
        log=tmp_path / "synthetic.log",
    )
    try:
        process.wait_serving()
        metrics, _ = process.wait_for(
            "a run",
            lambda m: (value(m, "prodval_runs_total", env="local", result="passed") or 0) >= 1,
            60,
        )
        assert set(checks(metrics, "local")) == {
            CONTROLLED,
            "test_checks.py::test_writes_synthetic_data",
        }  # the user's -m kept; the destructive check deselected
        assert (watched / "synthetic-ran").exists()
        assert not (watched / "destructive-ran").exists()
        assert process.stop() == 0
    finally:
        process.close()
