"""prodval-gate's modes on a fake project: exit codes, rollbacks (at most one), gate records.

The passing and the fail-and-roll-back paths against the real docpipe are in
test_gate_docpipe.py. Each test here runs the real bash gate and real pytest; see
tests/gate_harness.py for the fake project.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_prodval.gate import SCRIPT

from .gate_harness import (
    GATE,
    SECRET,
    FakeTarget,
    Project,
    gate_args,
    run_gate,
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


def test_a_second_gate_on_the_same_environment_exits_3(project: Project) -> None:
    project.set("suites", "block")
    first = start_gate(project.path, gate_args(project))
    try:
        wait_for(project.control / "started", first)
        second = run_gate(project.path, gate_args(project))
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
    assert project.rollback_count() == 0
    [path] = project.records()  # only the first gate wrote one: <UTC time>-<env>.json
    assert len(path.name) == len("20260101T000000Z-fake.json") and path.name.endswith("Z-fake.json")
    record = project.record()
    assert record["decision"] == "passed" and record["exit_code"] == 0
    assert record["reason"] == "all checks passed"
    assert record["rollback"]["ran"] is False and record["verification"] is None
    assert record["suites"]["failed_checks"] == []
    with (project.path / "reports" / "gate" / "fake.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


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
