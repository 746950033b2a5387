"""prodval-gate's modes on a fake project: exit codes, rollbacks (at most one), gate records.

The passing and the fail-and-roll-back paths against the real docpipe are in
test_gate_docpipe.py. Each test here runs the real bash gate and real pytest; see
tests/gate_harness.py for the fake project.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_prodval.errors import GateUsageError
from pytest_prodval.gate import SCRIPT
from pytest_prodval.gate.arguments import default_lock_file, parse, refused
from pytest_prodval.gate.state import read_evidence

from .gate_harness import (
    GATE,
    SECRET,
    FakeTarget,
    Project,
    gate_args,
    run_gate,
    runtime_dir,
    start_gate,
    wait_for,
)


@pytest.fixture(scope="module")
def target() -> Iterator[FakeTarget]:
    with FakeTarget() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, target: FakeTarget) -> Project:
    return Project(tmp_path / "project", target.url)


def assert_no_secret(project: Project) -> None:
    for path in (project.path / "reports").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


# --- the script itself ----------------------------------------------------------------------


def test_the_repository_script_is_the_packaged_script() -> None:
    assert GATE.resolve() == SCRIPT.resolve()


def test_the_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it with apt-get)")
    result = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout


def test_the_installed_command_explains_every_option_and_exit_code() -> None:
    command = Path(sys.executable).parent / "prodval-gate"
    assert command.exists(), "prodval-gate is not installed next to this Python"
    result = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0
    for option in (
        "--env",
        "--baseline",
        "--rollback",
        "--verify",
        "--timeout",
        "--rollback-timeout",
        "--notify",
        "--config",
        "--reports",
        "-- PYTEST_ARGS",
    ):
        assert option in result.stdout, option
    for code in ("0  ", "1  ", "2  ", "3  "):
        assert f"\n  {code}" in result.stdout, code


# --- usage and preflight --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "fake", "--baseline", "baselines/fake.json"], "--rollback is required"),
        (
            ["--env", "fake", "--baseline", "b", "--rollback", "r", "--timeout", "soon"],
            "--timeout expects a whole number",
        ),
        (
            ["--env", "fake", "--baseline", "b", "--rollback", "r", "--", "--record-baseline"],
            "never records",
        ),
        (["--env", "fake", "--bogus"], "unknown argument '--bogus'"),
    ],
    ids=["missing rollback", "bad timeout", "recording", "unknown option"],
)
def test_a_usage_error_exits_3_without_running_anything(
    project: Project, args: list[str], message: str
) -> None:
    result = run_gate(project.path, ["bash", str(GATE), *args])
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert project.rollback_count() == 0
    assert not (project.path / "reports").exists()


def test_a_corrupt_baseline_exits_3_with_a_record_and_no_rollback(project: Project) -> None:
    baseline = project.path / "baselines" / "fake.json"
    baseline.write_text(baseline.read_text().replace('"fake"', '"edited"'))
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stderr
    assert "checksum mismatch" in result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured"
    assert record["exit_code"] == 3
    assert "pytest refused to start (exit 4)" in record["reason"]
    assert record["suites"] is None
    assert record["rollback"] == {"command": record["rollback"]["command"], "ran": False}
    assert project.rollback_count() == 0


def test_a_selection_without_checks_is_never_a_pass(project: Project) -> None:
    result = run_gate(project.path, gate_args(project, "--", "-m", "performance"))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured"
    assert "no checks were collected" in record["reason"]
    assert project.rollback_count() == 0


# --- failing, rolling back, verifying -------------------------------------------------------


def test_failing_checks_roll_back_once_verify_and_exit_1(
    project: Project, target: FakeTarget
) -> None:
    project.set("suites", "fail")
    result = run_gate(
        project.path, gate_args(project, "--notify", f"{target.url}/hooks/T0/B0/s3cr3tpath")
    )
    assert result.returncode == 1, result.stderr
    assert project.rollback_count() == 1
    record = project.record()
    assert record["decision"] == "rolled_back"
    assert record["exit_code"] == 1
    assert record["reason"] == "checks failed (pytest exit 1); rolled back and verified"
    suites = record["suites"]
    assert suites["pytest_exit_code"] == 1 and suites["meaning"] == "checks failed"
    [failed] = suites["failed_checks"]
    assert failed["check"] == "test_release.py::test_the_release_behaves"
    assert failed["message"] == "Failed: the release misbehaves (it answered with the key ***)"
    rollback = record["rollback"]
    assert rollback["exit_code"] == 0 and rollback["succeeded"] and not rollback["timed_out"]
    assert rollback["output_tail"] == "helm: using token ***"
    verification = record["verification"]
    assert verification["passed"] and verification["pytest_exit_code"] == 0
    assert verification["selection"] == "-m application -k 'not expected_release'"
    assert verification["counts"] is not None
    assert record["baseline"]["provenance"]["environment"] == "fake"
    assert all(
        record["durations_s"][name] is not None
        for name in ("preflight", "suites", "rollback", "verification")
    )
    assert_no_secret(project)
    # The notification: Slack-compatible, the failed check in it, the webhook path not recorded.
    [(_, message)] = [post for post in target.posts if post[0].endswith("s3cr3tpath")]
    assert set(message) == {"text", "blocks"}
    assert "rolled_back" in message["text"]
    assert "test_the_release_behaves" in json.dumps(message["blocks"])
    assert record["notification"]["sent"] is True
    assert "s3cr3tpath" not in json.dumps(record)


def test_a_failing_rollback_exits_2_and_skips_the_verification(project: Project) -> None:
    project.set("suites", "fail")
    unreachable = "http://127.0.0.1:9/hook"  # the notification fails too: the code stands
    result = run_gate(
        project.path,
        gate_args(project, "--notify", unreachable, rollback=project.rollback_command("exit 7")),
    )
    assert result.returncode == 2, result.stderr
    assert project.rollback_count() == 1
    record = project.record()
    assert record["decision"] == "rollback_failed"
    assert record["rollback"]["exit_code"] == 7 and not record["rollback"]["succeeded"]
    assert "the rollback failed (exit 7): a human must act" in record["reason"]
    assert record["verification"] == {
        "skipped": "the rollback failed; the rolled-back state cannot be verified"
    }
    assert record["notification"]["sent"] is False
    assert record["notification"]["error"]


def test_a_hanging_rollback_is_killed_at_its_timeout_and_exits_2(project: Project) -> None:
    project.set("suites", "fail")
    hang = project.rollback_command("trap '' TERM; sleep 60")  # ignores SIGTERM: needs SIGKILL
    result = run_gate(
        project.path,
        gate_args(project, "--rollback-timeout", "1", rollback=hang),
        env={"PRODVAL_GATE_KILL_AFTER": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert project.rollback_count() == 1
    record = project.record()
    assert record["decision"] == "rollback_failed"
    assert record["rollback"]["timed_out"] is True
    assert record["rollback"]["exit_code"] == 137
    assert "timed out after 1s and was killed" in record["reason"]
    assert record["durations_s"]["rollback"] < 30


def test_a_failing_verification_exits_2(project: Project) -> None:
    project.set("suites", "fail")
    project.set("verify", "fail")
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 2, result.stderr
    assert project.rollback_count() == 1
    record = project.record()
    assert record["decision"] == "verification_failed"
    assert record["rollback"]["succeeded"] is True
    verification = record["verification"]
    assert verification["passed"] is False and verification["pytest_exit_code"] == 1
    [failed] = verification["failed_checks"]
    assert failed["check"] == "test_release.py::test_the_deployment_is_healthy"
    assert "the deployment is unhealthy" in failed["message"]


def test_suites_over_the_timeout_are_stopped_rolled_back_and_verified(project: Project) -> None:
    project.set("suites", "block")
    result = run_gate(project.path, gate_args(project, "--timeout", "3", "--verify-timeout", "120"))
    assert result.returncode == 1, result.stderr
    assert project.rollback_count() == 1
    record = project.record()
    assert record["decision"] == "rolled_back"
    assert record["reason"].startswith("the suites did not finish within 3s")
    assert record["suites"]["timed_out"] is True and record["suites"]["timeout_s"] == 3
    assert record["verification"]["passed"] is True


def test_sigterm_while_the_suites_run_rolls_back_once_and_records_it(project: Project) -> None:
    signal_number = signal.SIGTERM
    project.set("suites", "block")
    gate = start_gate(project.path, gate_args(project))
    try:
        wait_for(project.control / "started", gate)
        gate.send_signal(signal_number)
        output, _ = gate.communicate(timeout=60)
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()
    assert gate.returncode == 1, output
    assert project.rollback_count() == 1
    record = project.record()
    name = signal_number.name
    assert record["interrupted_by"] == name
    assert record["decision"] == "rolled_back"
    assert record["reason"].startswith(f"interrupted by {name} while the suites ran")
    assert record["verification"]["passed"] is True


def refused_while_another_gate_runs(
    project: Project, first_args: list[str], second_args: list[str]
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Start a gate whose suites block, run a second one meanwhile, then let the first pass.

    Returns the second gate's result (asserted refused with exit 3) and the first's output,
    once the first (asserted to pass) has finished.
    """
    project.set("suites", "block")
    first = start_gate(project.path, first_args)
    try:
        wait_for(project.control / "started", first)
        second = run_gate(project.path, second_args)
        assert second.returncode == 3, second.stderr
        assert "another prodval-gate is running for environment 'fake'" in second.stderr
        (project.control / "release").touch()
        output, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The first gate (a passing run) was not disturbed, and let go of the lock at its end.
    assert first.returncode == 0, output
    return second, output


def test_a_second_gate_on_the_same_environment_exits_3(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused_while_another_gate_runs(project, gate_args(project), gate_args(project))
    assert project.rollback_count() == 0
    [path] = project.records()  # only the first gate wrote one: <UTC time>-<env>.json
    assert len(path.name) == len("20260101T000000Z-fake.json") and path.name.endswith("Z-fake.json")
    record = project.record()
    assert record["decision"] == "passed" and record["exit_code"] == 0
    assert record["reason"] == "all checks passed"
    assert record["rollback"]["ran"] is False and record["verification"] is None
    assert record["suites"]["failed_checks"] == []
    assert record["suites"]["checks"] == {"collected": 2, "reported": 2, "executed": 2}
    lock_file = runtime_dir(project.path) / "prodval-gate-locks"
    [lock_path] = lock_file.glob("*-fake.lock")
    with monkeypatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(runtime_dir(project.path)))
        patch.delenv("PRODVAL_GATE_LOCK_DIR", raising=False)
        assert default_lock_file(str(project.path / "prodval.yaml"), "fake") == lock_path
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_the_lock_is_per_environment_whatever_reports_says(project: Project) -> None:
    refused_while_another_gate_runs(
        project,
        gate_args(project, "--reports", "reports-a"),
        gate_args(project, "--reports", "reports-b"),
    )
    assert not (project.path / "reports-b").exists()


def test_the_default_lock_ignores_reports_and_the_lock_dir_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRODVAL_GATE_LOCK_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.chdir(tmp_path)
    common = ["--env", "fake", "--baseline", "b.json", "--rollback", "true"]
    a = parse([*common, "--reports", "a"])
    b = parse([*common, "--reports", "b", "--config", str(tmp_path / "prodval.yaml")])
    assert a is not None and b is not None
    assert a.lock_file == b.lock_file
    assert a.lock_file.startswith(str(tmp_path / "run" / "prodval-gate-locks"))
    assert a.lock_file.endswith("-fake.lock")
    other = parse([*common, "--config", "elsewhere/prodval.yaml"])
    assert other is not None and other.lock_file != a.lock_file
    monkeypatch.setenv("PRODVAL_GATE_LOCK_DIR", str(tmp_path / "locks"))
    overridden = parse(common)
    assert overridden is not None
    assert overridden.lock_file == str(tmp_path / "locks" / "fake.lock")


# --- a pass needs evidence: the reports of this run, every collected check reported ----------


@pytest.mark.parametrize(
    "option",
    [
        "--collect-only",
        "--setup-plan",
        "--setup-only",
        "--fixtures",
        "--markers",
        "--help",
        "--version",
    ],
)
def test_options_that_run_no_checks_are_refused_before_anything_runs(
    project: Project, option: str
) -> None:
    result = run_gate(project.path, gate_args(project, "--", option))
    assert result.returncode == 3, result.stderr
    assert f"'{option}' after --: runs no checks" in result.stderr
    assert project.rollback_count() == 0
    assert not (project.path / "reports").exists()


def test_every_spelling_of_an_option_that_runs_no_checks_is_refused() -> None:
    for args in (
        ["--co"],
        ["-h"],
        ["-V"],
        ["-qV"],
        ["-vh"],
        ["--funcargs"],
        ["--fixtures-per-test"],
        ["--cache-show"],
        ["--collect-only=yes"],
    ):
        assert refused(args) and "runs no checks" in (refused(args) or ""), args
    # Values of options that take one are not options: -k h, -mV, -rV are selections.
    assert refused(["-k", "h", "-mV", "-rV", "-n", "2", "--setup-show", "-q"]) is None


EXITS_EARLY = """
import os


def test_zz_ends_the_process():
    os._exit(0)
"""


def test_a_check_that_ends_the_run_with_exit_0_is_a_failure_not_a_pass(project: Project) -> None:
    (project.path / "test_zz.py").write_text(EXITS_EARLY)
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 1, result.stderr
    record = project.record()
    assert record["decision"] == "rolled_back"
    assert record["reason"].startswith("pytest exited 0 but wrote no JUnit report")
    assert record["suites"]["pytest_exit_code"] == 0 and record["suites"]["junit"] is None
    assert record["suites"]["checks"] == {"collected": 3, "reported": None, "executed": None}
    assert project.rollback_count() == 1


SKIP_ALL = """
import pytest


def pytest_runtest_setup(item):
    pytest.skip("skipped by the project")
"""


def test_a_run_whose_every_check_was_skipped_is_a_misuse_not_a_pass(project: Project) -> None:
    (project.path / "conftest.py").write_text(SKIP_ALL)
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured"
    assert record["reason"] == (
        "every one of the 2 checks was skipped: nothing was validated: never a pass"
    )
    assert project.rollback_count() == 0


UNDECIDED = """
from pytest_prodval import Undecided


def pytest_runtest_setup(item):
    raise Undecided("the control deployment blue failed under load")
"""


def test_an_undecided_run_is_neither_a_pass_nor_a_rollback(project: Project) -> None:
    (project.path / "conftest.py").write_text(UNDECIDED)
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "undecided"
    assert record["reason"] == (
        "undecided: the control deployment blue failed under load; nothing shows the release "
        "bad or good, so it is not rolled back"
    )
    assert project.rollback_count() == 0


def test_reports_older_than_the_run_are_no_evidence(tmp_path: Path) -> None:
    junit, summary = tmp_path / "suites.xml", tmp_path / "suites-summary.json"
    junit.write_text('<testsuites><testsuite><testcase name="a"/></testsuite></testsuites>')
    summary.write_text('{"baseline": {"mode": "compare"}, "baseline_written": null}')
    now = time.time()
    fresh = read_evidence(junit, summary, now)
    assert (fresh.junit, fresh.summary, fresh.reported, fresh.executed) == (True, True, 1, 1)
    os.utime(junit, (now - 3600, now - 3600))
    os.utime(summary, (now - 3600, now - 3600))
    stale = read_evidence(junit, summary, now)
    assert not stale.junit and not stale.summary
    junit.write_text("<testsuites")
    assert not read_evidence(junit, summary, now).junit


# --- the gate owns recording: no route records through it ---------------------------------


def test_the_ini_cannot_make_a_gate_record(project: Project) -> None:
    baseline = project.path / "baselines" / "fake.json"
    before = baseline.read_bytes()
    ini = project.path / "pytest.ini"
    ini.write_text(ini.read_text() + "prodval_record_baseline = true\nprodval_prune = true\n")
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 0, result.stderr  # the gate's own -o ... last: it compared
    summary = json.loads((project.path / project.record()["suites"]["summary"]).read_text())
    assert summary["baseline"]["mode"] == "compare" and summary["baseline_written"] is None
    assert baseline.read_bytes() == before


def test_an_ini_addopts_that_records_is_refused_by_the_preflight(project: Project) -> None:
    baseline = project.path / "baselines" / "fake.json"
    before = baseline.read_bytes()
    ini = project.path / "pytest.ini"
    ini.write_text(ini.read_text().replace("addopts = ", "addopts = --record-baseline "))
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured" and record["suites"] is None
    assert (
        "(--record-baseline in an ini addopts, say): a gate compares, never records"
        in record["reason"]
    )
    assert baseline.read_bytes() == before
    assert project.rollback_count() == 0


@pytest.mark.parametrize(
    "addopts",
    ["--record-baseline", "-o prodval_record_baseline=true", "--co", "@more-args"],
)
def test_pytest_addopts_that_a_gate_refuses_are_refused_at_parse(
    project: Project, addopts: str
) -> None:
    result = run_gate(project.path, gate_args(project), env={"PYTEST_ADDOPTS": addopts})
    assert result.returncode == 3, result.stderr
    assert "in PYTEST_ADDOPTS" in result.stderr
    assert not (project.path / "reports").exists()


# --- rules that come from Python: the option table, the ini selection, exit meanings ---------


def test_the_refused_pytest_options_are_every_spelling_the_plugin_defines() -> None:
    from pytest_prodval.gate.arguments import GATE_SET, RECORDING, refused
    from pytest_prodval.options import OPTIONS

    table = {opt.dest: opt.flags for opt in OPTIONS}
    for dest in (*GATE_SET, *RECORDING):
        for flag in table[dest]:
            assert refused([flag]), flag
            assert refused([f"{flag}=x"]), flag
    assert refused(["-n", "2", "-m", "not performance", "--allow-destructive"]) is None
    assert refused(["-o", "console_output_style=classic", "--override-ini=xfail_strict=1"]) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", "--record-base"], "abbreviates --record-baseline: a gate compares with the"),
        (["--", "--prodval-confirm-record=prod"], "never records"),
        (["--", "--prune"], "never records"),
        (["--", "--baseline=other.json"], "the gate sets it"),
        (["--", "--junit-xml=x.xml"], "the gate sets it"),
        (["--", "--target-e", "prod"], "abbreviates --target-env: the gate sets it"),
        (["--verify", "-m application --record-baseline"], "in --verify: a gate compares"),
        (["--verify", "-m 'application"], "--verify: cannot split"),
        (["--", "-o", "prodval_record_baseline=true"], "overrides ini prodval_record_baseline"),
        (["--", "-oprodval_record_baseline=1"], "overrides ini prodval_record_baseline"),
        (["--", "-qo", "prodval_prune=true"], "overrides ini prodval_prune"),
        (["--", "--override-ini=prodval_record_baseline=true"], "never records"),
        (["--", "--override-ini", "prodval_confirm_record=prod"], "never records"),
        (["--", "-o", "prodval_allow_destructive=true"], "a production guard is not overridden"),
        (["--", "@args.txt"], "pytest would read arguments from that file"),
        (["--verify", "-m application -o prodval_record_baseline=true"], "in --verify: overr"),
        (["--verify", "@args.txt"], "in --verify: pytest would read arguments"),
    ],
    ids=[
        "abbreviated",
        "confirm-record=",
        "prune",
        "baseline=",
        "junit-xml",
        "target-e",
        "in --verify",
        "unsplittable --verify",
        "-o record",
        "-oKEY=1",
        "-qo prune",
        "--override-ini=",
        "--override-ini confirm",
        "-o destructive",
        "@argfile",
        "-o in --verify",
        "@argfile in --verify",
    ],
)
def test_options_the_gate_owns_are_refused_in_every_spelling(
    project: Project, args: list[str], message: str
) -> None:
    result = run_gate(project.path, gate_args(project, *args))
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert project.rollback_count() == 0
    assert not (project.path / "reports").exists()


def test_without_a_verification_selection_the_gate_exits_3_naming_both_ways(
    project: Project,
) -> None:
    ini = project.path / "pytest.ini"
    ini.write_text(
        "".join(
            line
            for line in ini.read_text().splitlines(keepends=True)
            if not line.startswith("prodval_gate_verify")
        )
    )
    project.set("suites", "fail")
    result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured" and record["suites"] is None
    assert "--verify" in record["reason"] and "prodval_gate_verify" in record["reason"]
    assert project.rollback_count() == 0


def test_verify_overrides_the_projects_selection(project: Project) -> None:
    project.set("suites", "fail")
    result = run_gate(project.path, gate_args(project, "--verify", "-m application -q"))
    assert result.returncode == 1, result.stderr
    verification = project.record()["verification"]
    assert verification["selection"] == "-m application -q" and verification["passed"]


def test_sigint_while_the_suites_run_is_forwarded_and_rolls_back(project: Project) -> None:
    project.set("suites", "block")
    gate = start_gate(project.path, gate_args(project))
    try:
        wait_for(project.control / "started", gate)
        gate.send_signal(signal.SIGINT)
        output, _ = gate.communicate(timeout=60)
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()
    assert gate.returncode == 1, output
    record = project.record()
    assert record["interrupted_by"] == "SIGINT" and record["decision"] == "rolled_back"
    # pytest got the SIGINT itself (exit 2, reports written), not a SIGKILL.
    assert record["suites"]["pytest_exit_code"] == 2 and record["suites"]["signal"] is None
    assert record["suites"]["junit"] is not None
    assert project.rollback_count() == 1


def test_a_run_killed_at_its_timeout_reads_the_same_in_the_suites_and_the_verification(
    project: Project,
) -> None:
    project.set("suites", "stubborn")  # ignores SIGINT, so both runs end by SIGKILL
    limits = ["--timeout", "2", "--verify-timeout", "2", "--verify", "-m security"]
    result = run_gate(
        project.path, gate_args(project, *limits), env={"PRODVAL_GATE_KILL_AFTER": "1"}
    )
    assert result.returncode == 2, result.stderr
    record = project.record()
    assert record["decision"] == "verification_failed"
    assert record["reason"].startswith("the suites did not finish within 2s")
    assert "the verification failed (it did not finish within 2s)" in record["reason"]
    for run in (record["suites"], record["verification"]):
        assert run["timed_out"] is True and run["signal"] == "SIGKILL"
        assert run["pytest_exit_code"] == 137 and run["meaning"] == "pytest was killed by SIGKILL"
    assert project.rollback_count() == 1


def test_a_stop_that_lands_while_the_phase_starts_stops_it(tmp_path: Path) -> None:
    """A signal just as the suites start (the handler runs inside Popen) is not lost."""
    from pytest_prodval.process import Supervisor

    class StopsWhenAskedForItsFd:
        """The output file; Popen asks for its descriptor mid-start: the signal lands then."""

        def __init__(self, path: Path) -> None:
            self.file = path.open("wb")

        def fileno(self) -> int:
            supervisor.stop("SIGTERM")
            return self.file.fileno()

    output = StopsWhenAskedForItsFd(tmp_path / "out")
    supervisor = Supervisor(
        ["sleep", "60"], timeout_s=30, first_signal=signal.SIGINT, grace_s=5, stdout=output
    )
    try:
        supervisor.start()
        outcome = supervisor.wait()
    finally:
        supervisor.close()
        output.file.close()
    assert outcome.stopped_by == "SIGTERM" and outcome.signal == "SIGINT"
    assert not outcome.timed_out and outcome.seconds < 10


WORDS = [
    "--record-baseline",
    "-o",
    "prodval_record_baseline=true",
    "--override-ini",
    "-q",
    "-k",
    "h",
    "-m",
    "application",
    "--co",
    "@x",
    "-qo",
    "--",
    "-V",
    "--prune=1",
]


@given(
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=8),
)
@settings(max_examples=300, deadline=None)
def test_any_pytest_arguments_are_accepted_or_refused_in_one_line(words: list[str]) -> None:
    """Fuzzing the gate's arguments: never a traceback, and recording never gets through."""
    common = ["--env", "fake", "--baseline", "b.json", "--rollback", "true", "--"]
    try:
        settings_ = parse([*common, *words])
    except GateUsageError as exc:
        assert "\n" not in str(exc)
        return
    assert settings_ is not None
    flat = " ".join(words)
    for route in ("--record-baseline", "--co", "@x", "--prune", "-V"):
        assert not any(word.startswith(route) for word in words), flat
    for option, value in itertools.pairwise(words):
        if option in ("-o", "-qo", "--override-ini"):
            assert not value.startswith("prodval_record_baseline="), flat


# --- Allure results per phase ------------------------------------------------------------


def test_alluredir_after_the_separator_is_refused_for_the_gates_own_option(
    project: Project,
) -> None:
    result = run_gate(project.path, [*gate_args(project), "--", "--alluredir=allure"])
    assert result.returncode == 3
    assert "'--alluredir=allure' after --: the gate gives each phase its own Allure" in (
        result.stderr
    )
    assert project.rollback_count() == 0


def test_each_phase_has_its_own_allure_results_and_a_failure_never_shows_passed(
    project: Project,
) -> None:
    # Before: the verification wrote into the suites' directory, and Allure showed the
    # release's failed check as "passed with 1 retry".
    ini = project.path / "pytest.ini"
    ini.write_text(ini.read_text().replace(" -p no:allure_pytest", ""))
    project.set("suites", "fail")
    result = run_gate(project.path, gate_args(project, "--allure-dir", "allure"))
    assert result.returncode == 1, result.stderr

    def statuses(phase: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for path in (project.path / "allure" / phase).glob("*-result.json"):
            data = json.loads(path.read_text())
            found.setdefault(data["name"], set()).add(data["status"])
        return found

    suites, verification = statuses("suites"), statuses("verification")
    assert suites["test_the_release_behaves"] == {"failed"}
    assert "test_the_release_behaves" not in verification
    assert verification["test_the_deployment_is_healthy"] == {"passed"}
