"""prodval-gate's limits that are totals, its preflight's checks, and a record never half-written.

- the preflight's probe of the target and the notification each end within their limit, in
  total, against a server that trickles its answer a byte a second (tests/fake_servers.py);
- the verification selection is checked in the preflight, before anything runs: one that
  cannot be split, that the gate refuses, that pytest refuses or that collects nothing is a
  misuse (exit 3), not a failed verification after a rollback;
- a record that cannot be written (a full disk: RLIMIT_FSIZE) leaves no record at all, one
  line naming it and the OS error, and the decision's exit code.

Each gate test runs the real bash gate on the fake project of tests/gate_harness.py.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_prodval.config import load_config
from pytest_prodval.gate.notify import notify
from pytest_prodval.gate.preflight import probe

from .fake_servers import raw_server, trickle
from .gate_harness import FakeTarget, Project, gate_args, run_gate

# A complete, valid answer, sent one byte a second: every read succeeds, the whole takes 40 s.
TRICKLED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
SLACK_S = 2.0  # over a limit: clock and scheduling on a busy machine, not another attempt


@pytest.fixture(scope="module")
def target() -> Iterator[FakeTarget]:
    with FakeTarget() as server:
        yield server


@pytest.fixture
def trickling() -> Iterator[str]:
    with raw_server(trickle(TRICKLED, 1.0)) as url:
        yield url


@pytest.fixture
def project(tmp_path: Path, target: FakeTarget) -> Project:
    return Project(tmp_path / "project", target.url)


# --- the probe: a total ---------------------------------------------------------------------


def test_the_probe_ends_at_its_limit_against_a_target_that_trickles(
    tmp_path: Path, trickling: str
) -> None:
    project = Project(tmp_path / "project", trickling)
    env = load_config(project.path / "prodval.yaml").environment("fake")
    started = time.monotonic()
    with pytest.raises(pytest.UsageError) as raised:
        probe(env, 1.5)
    took = time.monotonic() - started
    assert took < 1.5 + SLACK_S, took
    message = str(raised.value)
    assert message.startswith("prodval-gate preflight: the target did not answer within 1.5 s")
    assert "ExchangeTimeout" in message and "\n" not in message


def test_a_trickling_target_is_blamed_within_the_probe_limit_not_collection(
    tmp_path: Path, trickling: str
) -> None:
    """The issue's case: a 15 s probe took 301 s, then blamed collection. Here the collection
    limit is shorter than the probe's: the preflight's own limit must still exceed the probe."""
    project = Project(tmp_path / "project", trickling)
    limits = {"PRODVAL_GATE_PROBE_S": "3", "PRODVAL_GATE_COLLECT_S": "1"}
    result = run_gate(project.path, gate_args(project), env=limits)
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured" and record["suites"] is None
    assert "the target did not answer within 3 s (PRODVAL_GATE_PROBE_S)" in record["reason"]
    assert "collect" not in record["reason"]
    # pytest's start-up and collection around the probe: seconds, not the trickle's 40.
    assert record["durations_s"]["preflight"] < 3 + 8, record["durations_s"]
    assert project.rollback_count() == 0


# --- the notification: a total ------------------------------------------------------------


def test_the_notification_ends_at_its_limit_against_a_webhook_that_trickles(
    trickling: str,
) -> None:
    record = {"decision": "passed", "exit_code": 0, "environment": "fake", "reason": "ok"}
    started = time.monotonic()
    result = notify(record, f"{trickling}/hooks/T0/secret-path", 1.5)
    took = time.monotonic() - started
    assert took < 1.5 + SLACK_S, took
    assert result == {
        "target": "http://127.0.0.1/…",
        "sent": False,
        "error": "timed out: no complete answer within 1.5 s",
    }


def test_a_trickling_webhook_costs_the_gate_its_notification_limit_and_no_exit_code(
    project: Project, trickling: str
) -> None:
    started = time.monotonic()
    result = run_gate(
        project.path,
        gate_args(project, "--notify", f"{trickling}/hooks/T0/secret-path"),
        env={"PRODVAL_GATE_NOTIFY_S": "2"},
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr  # the decision's: the suites passed
    record = project.record()
    assert record["decision"] == "passed"
    assert record["notification"] == {
        "target": "http://127.0.0.1/…",
        "sent": False,
        "error": "timed out: no complete answer within 2 s",
    }
    # What the gate spent after the record's end: the 2 s limit and its own exit, not 40 s.
    assert took - record["durations_s"]["total"] < 2 + 4, (took, record["durations_s"])
    assert "notification to http://127.0.0.1/… failed (timed out" in result.stderr
    assert "secret-path" not in result.stderr


# --- the verification selection, checked before anything runs -----------------------------


def _ini_selection(project: Project, value: str) -> None:
    ini = project.path / "pytest.ini"
    lines = ini.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith("prodval_gate_verify")]
    ini.write_text("".join(kept) + f"prodval_gate_verify = {value}\n")


@pytest.mark.parametrize(
    ("verify", "ini", "reason"),
    [
        (
            "-m nothing_has_this_marker",
            None,
            "the verification selection '-m nothing_has_this_marker' collects no checks "
            "(pytest exit 5)",
        ),
        (
            "--no-such-option",
            None,
            "the verification selection '--no-such-option': pytest refused it (exit 4): ",
        ),
        (None, "-m 'application", "ini prodval_gate_verify: cannot split '-m 'application'"),
        (None, "-m application --record-baseline", "in ini prodval_gate_verify: a gate compares"),
        (None, "-k no_check_is_called_this", "collects no checks (pytest exit 5)"),
    ],
    ids=[
        "--verify collects nothing",
        "--verify refused by pytest",
        "ini unsplittable",
        "ini records",
        "ini collects nothing",
    ],
)
def test_an_unusable_verification_selection_is_a_misuse_found_in_the_preflight(
    project: Project, verify: str | None, ini: str | None, reason: str
) -> None:
    project.set("suites", "fail")  # were the suites run, the gate would roll back
    if ini is not None:
        _ini_selection(project, ini)
    args = ["--verify", verify] if verify is not None else []
    result = run_gate(project.path, gate_args(project, *args))
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured", record["reason"]
    assert record["reason"].startswith("preflight: ") and reason in record["reason"]
    assert "\n" not in record["reason"]
    assert record["suites"] is None and record["verification"] is None
    assert project.rollback_count() == 0
    if verify == "--no-such-option":
        assert "unrecognized arguments: --no-such-option" in record["reason"]


# --- the record: whole or not at all ----------------------------------------------------

# PRODVAL_GATE_PYTHON runs every Python step of the gate; this one is the real interpreter
# with a small RLIMIT_FSIZE for the steps ``condition`` picks, so the others and their files
# are untouched. Python ignores SIGXFSZ: the write fails with EFBIG, a real "disk full" for
# root too.
FULL_DISK_PYTHON = """#!{python}
import os
import resource
import sys

if {condition}:
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def python_with_a_full_disk(tmp_path: Path, condition: str, limit: int) -> str:
    python = tmp_path / "python-full-disk"
    python.write_text(
        FULL_DISK_PYTHON.format(python=sys.executable, condition=condition, limit=limit)
    )
    python.chmod(0o755)
    return str(python)


def test_a_record_that_cannot_be_written_is_no_file_one_line_and_the_decisions_exit_code(
    project: Project, tmp_path: Path
) -> None:
    # The finish step alone: the record is larger than 1 KiB.
    finish = 'sys.argv[1:4] == ["-m", "pytest_prodval.gate", "finish"]'
    python = python_with_a_full_disk(tmp_path, finish, 1024)
    result = run_gate(project.path, gate_args(project), env={"PRODVAL_GATE_PYTHON": python})
    assert result.returncode == 0, result.stderr  # the suites passed: the decision stands
    lines = [line for line in result.stderr.splitlines() if "gate record" in line]
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(
        r"prodval-gate: gate record not written: \S*reports/gate/\d{8}T\d{6}Z-fake\.json: "
        r"cannot write \(File too large\); nothing was written; the decision stands \(exit 0\)",
        lines[0],
    ), lines[0]
    assert "decision: passed (exit 0): all checks passed" in result.stderr
    assert "Traceback" not in result.stderr
    gate_dir = project.path / "reports" / "gate"
    # No record, no empty placeholder, no temp file: only the run's directory of reports.
    assert [path.name for path in gate_dir.iterdir() if not path.is_dir()] == []
    [run_dir] = [path for path in gate_dir.iterdir() if path.is_dir()]
    assert (run_dir / "suites.xml").stat().st_size > 0


def test_a_full_disk_under_the_suites_reports_is_undecided_never_a_rollback(
    project: Project, tmp_path: Path
) -> None:
    # The suites' step and its pytest child: its reports and its log cannot be written, as
    # on a runner whose disk filled up during the run.
    suites = (
        'sys.argv[1:4] == ["-m", "pytest_prodval.gate", "run-phase"] and sys.argv[-1] == "suites"'
    )
    python = python_with_a_full_disk(tmp_path, suites, 512)
    result = run_gate(project.path, gate_args(project), env={"PRODVAL_GATE_PYTHON": python})
    assert result.returncode == 3, result.stderr
    assert project.rollback_count() == 0, result.stderr
    assert re.search(
        r"decision: undecided \(exit 3\): pytest \S.* before any check failed: nothing shows "
        r"the release bad or good, so it is not rolled back",
        result.stderr,
    ), result.stderr
    assert "Traceback" not in result.stderr
