"""The bounded-child helper (pytest_prodval/process.py) with real child processes.

Children block on a pipe or in ``sleep`` with a deadline; nothing here waits a fixed time for
something to happen. Elapsed-time bounds are loose: the machine may be busy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_prodval.process import Outcome, Supervisor, run_bounded

PY = sys.executable


def gone(pid: int, within_s: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)  # polling the kernel's process table, bounded by the deadline
    return False


def test_an_exit_code_is_reported_as_is_with_no_timeout_and_no_signal() -> None:
    outcome = run_bounded([PY, "-c", "raise SystemExit(7)"], timeout_s=30)
    assert outcome.exit_code == 7 and not outcome.timed_out and outcome.signal is None
    assert outcome.stopped_by is None and not outcome.ok
    assert 0 <= outcome.seconds < 30
    assert run_bounded([PY, "-c", "pass"], timeout_s=30).ok


def test_at_the_deadline_the_first_signal_lets_the_child_clean_up() -> None:
    # Like pytest under SIGINT: it tears down, says so, and exits 2.
    child = (
        "import sys\n"
        "try:\n"
        "    sys.stdin.read()\n"
        "except KeyboardInterrupt:\n"
        "    print('torn down', flush=True)\n"
        "    raise SystemExit(2)\n"
    )
    outcome = run_bounded(
        [PY, "-c", child],
        timeout_s=1,
        first_signal=signal.SIGINT,
        grace_s=30,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert outcome.timed_out and outcome.exit_code == 2 and outcome.signal is None
    assert 1 <= outcome.seconds < 25


def test_a_child_that_ignores_the_first_signal_is_killed_with_everything_it_started(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "grandchild"
    # Both the shell and its `sleep` ignore SIGTERM (an ignored signal is inherited).
    script = f"trap '' TERM; sleep 60 & echo $! > {pid_file}; wait"
    outcome = run_bounded(["sh", "-c", script], timeout_s=1, grace_s=1)
    assert outcome.timed_out and outcome.signal == "SIGKILL" and outcome.exit_code == 137
    assert 1 <= outcome.seconds < 25
    assert gone(int(pid_file.read_text()))


def test_a_child_that_exits_by_itself_leaves_its_daemons_alone(tmp_path: Path) -> None:
    # A rollback may restart a service in the background: it must outlive the rollback.
    pid_file = tmp_path / "daemon"
    script = f"sleep 60 > /dev/null 2>&1 & echo $! > {pid_file}"
    outcome = run_bounded(["sh", "-c", script], timeout_s=30)
    daemon = int(pid_file.read_text())
    try:
        assert outcome.ok
        assert not gone(daemon, within_s=0)
    finally:
        os.kill(daemon, signal.SIGKILL)


def test_stop_sends_the_first_signal_now_and_says_why() -> None:
    supervisor = Supervisor(
        [PY, "-c", "import sys; sys.stdin.read()"], timeout_s=60, stdin=subprocess.PIPE
    )
    with supervisor:
        # As the gate's signal handler does, while the child runs.
        outcome = supervisor.wait(tick_s=0.1, on_tick=lambda elapsed: supervisor.stop("SIGINT"))
    assert outcome.stopped_by == "SIGINT" and outcome.signal == "SIGTERM"
    assert outcome.exit_code == 128 + signal.SIGTERM and not outcome.timed_out
    assert outcome.seconds < 30


def test_stopped_before_it_started_nothing_starts() -> None:
    supervisor = Supervisor([PY, "-c", "raise SystemExit(0)"], timeout_s=60)
    supervisor.stop("SIGTERM")
    supervisor.start()
    outcome = supervisor.wait()
    assert supervisor.process is None
    assert outcome.exit_code is None and outcome.stopped_by == "SIGTERM" and not outcome.ok


def test_ticks_come_while_the_child_runs() -> None:
    ticks: list[float] = []
    supervisor = Supervisor(
        [PY, "-c", "import sys; sys.stdin.read()"], timeout_s=60, stdin=subprocess.PIPE
    )
    with supervisor:

        def tick(elapsed: float) -> None:
            ticks.append(elapsed)
            if len(ticks) == 2:
                assert supervisor.process is not None and supervisor.process.stdin is not None
                supervisor.process.stdin.close()  # the child reads EOF and exits 0

        outcome = supervisor.wait(tick_s=0.2, on_tick=tick)
    assert outcome.ok and len(ticks) == 2 and 0 < ticks[0] < ticks[1]


def test_leaving_early_kills_the_child() -> None:
    with pytest.raises(RuntimeError, match="caller"):
        with Supervisor([PY, "-c", "import time; time.sleep(60)"], timeout_s=60) as supervisor:
            raise RuntimeError("the caller gave up")
    assert supervisor.process is not None and supervisor.process.returncode == -signal.SIGKILL


def test_an_outcome_survives_json() -> None:
    outcome = Outcome(137, True, "SIGKILL", "SIGINT", 1700000000.5, 3.25)
    assert Outcome.from_json(outcome.to_json()) == outcome


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Supervisor([PY], timeout_s=0)
