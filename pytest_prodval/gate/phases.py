"""Each phase of the gate as one supervised child: its command, limits, signals and output.

``run_phase(work, name)`` builds the phase's command from the run's settings, runs it under
``process.Supervisor`` (own process group, deadline, first signal, SIGKILL after
``PRODVAL_GATE_KILL_AFTER``) and saves its ``PhaseResult``. Signals that reach this process
(the wrapper forwards SIGINT) stop the preflight and the suites; the rollback and the
verification run on to their own limits.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ..process import Outcome, Supervisor
from .arguments import GateSettings
from .state import COLLECTED, PhaseResult, Run, Work, last_line

__all__ = ["Phase", "phase_for", "run_phase"]

PREFLIGHT_PLUGIN = "pytest_prodval.gate.preflight"


def say(message: str) -> None:
    print(f"prodval-gate: {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    command: list[str]
    timeout_s: float
    first_signal: signal.Signals
    stoppable: bool  # a signal to the gate stops it (preflight, suites)
    output: Path | None  # None: the gate's own stdout and stderr


# Last on every pytest command line, belt and braces: whatever an ini file says, the gate's runs
# compare (the arguments that record are refused at parse; preflight.py refuses a run whose
# resolved options still record).
NEVER_RECORD = ("-o", "prodval_record_baseline=false", "-o", "prodval_prune=false")


def _pytest(settings: GateSettings, *args: str) -> list[str]:
    return [
        settings.python,
        "-m",
        "pytest",
        *settings.common_args,
        *settings.pytest_args,
        *args,
        *NEVER_RECORD,
    ]


def phase_for(work: Work, name: str) -> Phase:
    """The command and limits of phase ``name`` for this run."""
    settings, run = work.settings(), work.run()
    where = run.directory
    if name == "preflight":
        command = _pytest(
            settings,
            f"--prodval-summary={where / 'preflight-summary.json'}",
            "--collect-only",
            "-q",
            "-p",
            PREFLIGHT_PLUGIN,
            f"--prodval-gate-verify-out={work.verify_ini}",
            f"--prodval-gate-collected-out={where / COLLECTED}",
        )
        return Phase(
            name, command, settings.collect_s, signal.SIGINT, True, where / "preflight.log"
        )
    if name == "suites":
        command = _pytest(
            settings,
            f"--junitxml={where / 'suites.xml'}",
            f"--prodval-summary={where / 'suites-summary.json'}",
        )
        return Phase(name, command, settings.timeout_s, signal.SIGINT, True, None)
    if name == "rollback":
        command = [shutil.which("bash") or "bash", "-c", settings.rollback]
        # The raw output stays in the private work dir; the record gets a redacted tail.
        return Phase(
            name, command, settings.rollback_timeout_s, signal.SIGTERM, False, work.rollback_log
        )
    if name == "verification":
        _, words = work.verification_selection()
        command = _pytest(
            settings,
            *words,
            f"--junitxml={where / 'verification.xml'}",
            f"--prodval-summary={where / 'verification-summary.json'}",
        )
        return Phase(name, command, settings.verify_timeout_s, signal.SIGINT, False, None)
    raise ValueError(f"unknown phase {name!r}")


def _preflight_files(settings: GateSettings) -> str | None:
    config, baseline = Path(settings.config), Path(settings.baseline)
    if not (config.is_file() and os.access(config, os.R_OK)):
        return f"config {config}: not found or unreadable"
    if not (baseline.is_file() and os.access(baseline, os.R_OK)):
        return f"baseline {baseline}: not found or unreadable (a gate needs one)"
    return None


def _announce(work: Work, phase: Phase) -> None:
    settings = work.settings()
    if phase.name == "preflight":
        say(
            f"preflight: config {settings.config}, environment {settings.env}, "
            f"baseline {settings.baseline}"
        )
    elif phase.name == "suites":
        say(f"running the suites (timeout {settings.timeout_s}s)")
    elif phase.name == "rollback":
        say(f"rolling back: running the rollback command (timeout {settings.rollback_timeout_s}s)")
    else:
        text, _ = work.verification_selection()
        say(
            f"verifying the rolled-back deployment: pytest ... {text} "
            f"(timeout {settings.verify_timeout_s}s)"
        )


def _conclude(work: Work, run: Run, phase: Phase, outcome: Outcome) -> None:
    if phase.name == "rollback":
        if outcome.timed_out:
            say(f"rollback: did not finish within {phase.timeout_s:g}s; killed")
        elif not outcome.ok:
            say(f"rollback: the command failed (exit {outcome.exit_code})")
        else:
            say("rollback: the command succeeded")
    elif phase.name == "preflight" and outcome.ok:
        log = run.directory / "preflight.log"
        collected = last_line(log, containing=" collected") or last_line(log)
        say(f"preflight: {collected}; config, baseline and target ok")


def run_phase(work: Work, name: str) -> PhaseResult:
    """Run phase ``name`` under supervision and save how it ended."""
    settings, run = work.settings(), work.run()
    phase = phase_for(work, name)
    supervisor = Supervisor(
        phase.command,
        timeout_s=phase.timeout_s,
        first_signal=phase.first_signal,
        grace_s=settings.kill_after_s,
        stdin=subprocess.DEVNULL,
    )

    def on_signal(number: int, frame: FrameType | None) -> None:
        if phase.stoppable:
            supervisor.stop(signal.Signals(number).name)

    # Handlers, not SIG_IGN: a handled signal is reset to its default in the child at exec,
    # an ignored one would stay ignored (and pytest could not be interrupted).
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, on_signal)
    # The wrapper writes the signal's file before it forwards the signal: a signal that came
    # before the handlers above is found here.
    if phase.stoppable and work.interrupted_path.exists():
        supervisor.stop(work.interruption()[0] or "a signal")
    if name == "preflight":
        problem = _preflight_files(settings)
        if problem is not None:
            result = PhaseResult(None, problem)
            work.save_phase(name, result)
            return result
    # The evidence of a pass must be this run's: nothing of an earlier run may stand in for it.
    for stale in (
        f"{name}.xml",
        f"{name}-summary.json",
        *((COLLECTED,) if name == "preflight" else ()),
    ):
        (run.directory / stale).unlink(missing_ok=True)
    _announce(work, phase)
    output: IO[Any] | None = None
    extra: dict[str, Any] = {}
    if phase.output is not None:
        output = phase.output.open("wb")
        extra = {"stdout": output, "stderr": subprocess.STDOUT}
    supervisor.popen.update(extra)
    try:
        try:
            supervisor.start()
        except OSError as exc:
            outcome = Outcome(None, False, None, None, time.time(), 0.0)
            result = PhaseResult(outcome, f"cannot start {phase.command[0]}: {exc.strerror}")
            say(f"{name}: {result.problem}")
        else:
            try:
                outcome = supervisor.wait()
            finally:
                supervisor.close()
            result = PhaseResult(outcome)
    finally:
        if output is not None:
            output.close()
    work.save_phase(name, result)
    if result.outcome is not None:
        _conclude(work, run, phase, result.outcome)
    return result
