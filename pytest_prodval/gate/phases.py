"""Each phase of the gate as one supervised child: its command, limits, signals and output.

``run_phase(work, name)`` builds the phase's command from the run's settings, runs it under
``process.Supervisor`` (own process group, deadline, first signal, SIGKILL after
``PRODVAL_GATE_KILL_AFTER``) and saves its ``PhaseResult``. Signals that reach this process
(the wrapper forwards SIGINT) stop the pytest phases (preflight, suites, verification); the
rollback always runs to its end or its own limit (stopping it half-way would leave the
deployment in neither release), and its verification follows it.

The preflight is two pytest runs with ``--collect-only``: the suites' selection (config,
baseline, the target's probe, the count a pass must report) and, once the project's ini has
named it, the verification selection, so that one that cannot be used or collects nothing is a
misuse found before anything runs, not after a rollback.
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

from ..errors import GateUsageError
from ..process import Outcome, Supervisor
from .arguments import GateSettings
from .state import COLLECTED, COMMAND_PHASES, DATA_PHASES, PhaseResult, Run, Work, last_line

__all__ = ["Phase", "phase_for", "run_phase"]

PREFLIGHT_PLUGIN = "pytest_prodval.gate.preflight"
VERIFY_LOG = "preflight-verification.log"
# The preflight's limit is the probe's (a total, preflight.probe) plus collecting: a slow
# target is then reported as the probe's reason, never as a slow collection.
PROBE_SLACK_S = 5.0
# A signal in the phase named on the right stops the phase on the left before it starts.
_STOPS_NEXT = {
    "preflight": ("start",),
    "readiness": ("preflight",),
    "snapshot": ("readiness",),
    "backup": ("snapshot",),
    "rollback-integrity": ("verification",),
}
# Commands that, once started, run to their end or their limit: stopped half-way, the
# deployment would be in neither release (or its data half restored). A signal before the
# deploy starts keeps it from starting.
UNSTOPPABLE = ("deploy", "rollback", "restore")
SNAPSHOT_MODULE = "pytest_prodval.gate.snapshot"
# The statements' own timeout is this share of the phase's limit: the child reports a slow
# table itself before the supervisor has to stop it.
STATEMENT_SHARE = 0.9


def say(message: str) -> None:
    print(f"prodval-gate: {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    command: list[str]
    timeout_s: float
    first_signal: signal.Signals
    stoppable: bool  # a signal to the gate stops it (the pytest phases, not the rollback)
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
            *(("--prodval-gate-needs-integrity",) if settings.deploy is not None else ()),
        )
        probes = 2 if settings.control_env else 1  # the target, then the control deployment
        limit = probes * settings.probe_s + PROBE_SLACK_S + settings.collect_s
        return Phase(name, command, limit, signal.SIGINT, True, where / "preflight.log")
    if name == "suites":
        command = _pytest(
            settings,
            f"--junitxml={where / 'suites.xml'}",
            f"--prodval-summary={where / 'suites-summary.json'}",
            *settings.allure_args("suites"),
        )
        return Phase(name, command, settings.timeout_s, signal.SIGINT, True, None)
    if name in COMMAND_PHASES:
        text, limit = {
            "rollback": (settings.rollback, settings.rollback_timeout_s),
            "deploy": (settings.deploy, settings.deploy_timeout_s),
            "backup": (settings.backup, settings.backup_timeout_s),
            "restore": (settings.restore, settings.restore_timeout_s),
        }[name]
        if text is None:
            raise ValueError(f"no {name} command")
        command = [shutil.which("bash") or "bash", "-c", text]
        # The raw output stays in the private work dir; the record gets a redacted tail.
        stoppable = name not in UNSTOPPABLE
        return Phase(name, command, limit, signal.SIGTERM, stoppable, work.command_log(name))
    if name in DATA_PHASES:
        command = [
            settings.python,
            "-m",
            SNAPSHOT_MODULE,
            "take" if name == "snapshot" else "check",
            "--config",
            settings.config,
            "--env",
            settings.env,
            "--rows",
            str(work.snapshot_rows),
            "--summary",
            str(work.data_summary_path(name)),
            "--timeout",
            f"{settings.snapshot_timeout_s * STATEMENT_SHARE:g}",
        ]
        return Phase(name, command, settings.snapshot_timeout_s, signal.SIGTERM, True, None)
    if name in ("readiness", "verification"):  # a read-only selection, before or after
        ready = name == "readiness"
        _, words = work.readiness_selection() if ready else work.verification_selection()
        command = _pytest(
            settings,
            *words,
            f"--junitxml={where / f'{name}.xml'}",
            f"--prodval-summary={where / f'{name}-summary.json'}",
            *(() if ready else settings.allure_args("verification")),
        )
        return Phase(name, command, settings.verify_timeout_s, signal.SIGINT, True, None)
    raise ValueError(f"unknown phase {name!r}")


def verification_collection(work: Work, words: list[str]) -> Phase:
    """The preflight's second run: collect the verification selection (no probe)."""
    settings, where = work.settings(), work.run().directory
    command = _pytest(
        settings,
        *words,
        f"--prodval-summary={where / 'preflight-verification-summary.json'}",
        "--collect-only",
        "-q",
        "-p",
        PREFLIGHT_PLUGIN,
        "--prodval-gate-no-probe",
    )
    return Phase("preflight", command, settings.collect_s, signal.SIGINT, True, where / VERIFY_LOG)


def _verification_problem(text: str, outcome: Outcome, log: Path, collect_s: float) -> str | None:
    """Why the verification selection cannot be used, from its collection; None when it can."""
    shown = f"the verification selection '{text}'"
    if outcome.ok:
        return None
    if outcome.stopped_by is not None:
        return f"collecting {shown} was stopped by {outcome.stopped_by}"
    if outcome.timed_out:
        return f"collecting {shown} took longer than {collect_s:g}s"
    if outcome.exit_code == 5:
        return f"{shown} collects no checks (pytest exit 5): nothing could verify a rollback"
    if outcome.exit_code == 4:
        return f"{shown}: pytest refused it (exit 4): {_error_line(log)}"
    how = f"killed by {outcome.signal}" if outcome.signal else f"pytest exit {outcome.exit_code}"
    return f"{shown} cannot be collected ({how}): {_error_line(log)}"


def _error_line(log: Path) -> str:
    """The last line of ``log`` that names an error (pytest ends with its rootdir), else its
    last line."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if "error" in line.lower()]
    return errors[-1] if errors else last_line(log)


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
    elif phase.name in ("deploy", "backup", "restore"):
        say(f"{phase.name}: running the {phase.name} command (timeout {phase.timeout_s:g}s)")
    elif phase.name == "readiness":
        text, _ = work.readiness_selection()
        say(
            f"readiness of the current release: pytest ... {text} "
            f"(timeout {settings.verify_timeout_s}s)"
        )
    elif phase.name == "snapshot":
        say(f"taking the data snapshot (timeout {phase.timeout_s:g}s)")
    elif phase.name in DATA_PHASES:
        after = "release" if phase.name == "integrity" else "rollback"
        say(
            f"checking the data against the snapshot after the {after} "
            f"(timeout {phase.timeout_s:g}s)"
        )
    else:
        text, _ = work.verification_selection()
        say(
            f"verifying the rolled-back deployment: pytest ... {text} "
            f"(timeout {settings.verify_timeout_s}s)"
        )


def _conclude(work: Work, run: Run, phase: Phase, outcome: Outcome) -> None:
    if phase.name in ("deploy", "backup", "restore"):
        if outcome.exit_code is None:
            say(f"{phase.name}: not started")
        elif outcome.timed_out:
            say(f"{phase.name}: did not finish within {phase.timeout_s:g}s; killed")
        elif not outcome.ok:
            say(f"{phase.name}: the command failed (exit {outcome.exit_code})")
        else:
            say(f"{phase.name}: the command succeeded")
    elif phase.name in DATA_PHASES:
        check = work.data_check(phase.name)
        if check is None or check.outcome.timed_out:
            say(f"{phase.name}: did not finish within {phase.timeout_s:g}s")
        elif phase.name == "snapshot":
            if check.error is None and outcome.ok:
                say("snapshot: taken")
        elif check.matched:
            accounted = f" ({'; '.join(check.accounted)})" if check.accounted else ""
            say(f"{phase.name}: the data matched the snapshot{accounted}")
        elif check.matched is False:
            for line in check.differences:
                say(f"{phase.name}: differs: {line}")
    elif phase.name == "rollback":
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


class _Stopper:
    """The phase's current supervisor, and the first signal that asked the phase to stop."""

    def __init__(self) -> None:
        self.supervisor: Supervisor | None = None
        self.why: str | None = None

    def stop(self, why: str) -> None:
        self.why = self.why or why
        if self.supervisor is not None:
            self.supervisor.stop(why)


def _supervise(settings: GateSettings, phase: Phase, stopper: _Stopper) -> PhaseResult:
    """Run one child of a phase under a supervisor, its output where the phase says."""
    supervisor = Supervisor(
        phase.command,
        timeout_s=phase.timeout_s,
        first_signal=phase.first_signal,
        grace_s=settings.kill_after_s,
        stdin=subprocess.DEVNULL,
    )
    stopper.supervisor = supervisor
    if stopper.why is not None:  # stopped before this child: it never starts
        supervisor.stop(stopper.why)
    output: IO[Any] | None = None
    if phase.output is not None:
        output = phase.output.open("wb")
        supervisor.popen.update(stdout=output, stderr=subprocess.STDOUT)
    try:
        try:
            supervisor.start()
        except OSError as exc:
            outcome = Outcome(None, False, None, None, time.time(), 0.0)
            result = PhaseResult(outcome, f"cannot start {phase.command[0]}: {exc.strerror}")
            say(f"{phase.name}: {result.problem}")
            return result
        try:
            return PhaseResult(supervisor.wait())
        finally:
            supervisor.close()
    finally:
        if output is not None:
            output.close()


def _check_verification(work: Work, first: PhaseResult, stopper: _Stopper) -> PhaseResult:
    """The preflight's second half: the verification selection exists, splits, collects."""
    settings, run = work.settings(), work.run()
    assert first.outcome is not None
    try:
        text, words = work.verification_selection()
    except GateUsageError as exc:
        return PhaseResult(first.outcome, str(exc))
    collection = verification_collection(work, words)
    second = _supervise(settings, collection, stopper)
    if second.problem is not None or second.outcome is None:
        return PhaseResult(first.outcome, second.problem)
    seconds = round(first.outcome.seconds + second.outcome.seconds, 3)
    outcome = dataclasses.replace(
        first.outcome, seconds=seconds, stopped_by=second.outcome.stopped_by
    )
    log = run.directory / VERIFY_LOG
    problem = _verification_problem(text, second.outcome, log, settings.collect_s)
    if problem is None:
        collected = last_line(log, containing=" collected") or last_line(log)
        say(f"preflight: the verification selection '{text}': {collected}")
    return PhaseResult(outcome, problem)


def run_phase(work: Work, name: str) -> PhaseResult:
    """Run phase ``name`` under supervision and save how it ended."""
    settings, run = work.settings(), work.run()
    phase = phase_for(work, name)
    stopper = _Stopper()

    def on_signal(number: int, frame: FrameType | None) -> None:
        if phase.stoppable:  # named as the gate got it (the wrapper forwards SIGINT for both)
            stopper.stop(work.interruption()[0] or signal.Signals(number).name)

    # Handlers, not SIG_IGN: a handled signal is reset to its default in the child at exec,
    # an ignored one would stay ignored (and pytest could not be interrupted).
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, on_signal)
    # The wrapper writes the signal's file before it forwards the signal: a signal that came
    # in this phase before the handlers above is found here. One from an earlier phase is not
    # this phase's to act on: after a signal during the suites or the rollback, the rollback
    # and its verification still run (each bounded by its timeout).
    first, during = work.interruption()
    if phase.stoppable and first is not None and during in (name, *_STOPS_NEXT.get(name, ())):
        stopper.stop(first)
    if name == "deploy" and first is not None:  # any signal so far: never start the deploy
        stopper.stop(first)
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
        f"{name}.json",
        *((COLLECTED,) if name == "preflight" else ()),
    ):
        (run.directory / stale).unlink(missing_ok=True)
    _announce(work, phase)
    result = _supervise(settings, phase, stopper)
    if name == "preflight" and result.outcome is not None and result.outcome.ok:
        _conclude(work, run, phase, result.outcome)
        result = _check_verification(work, result, stopper)
        work.save_phase(name, result)
        return result
    work.save_phase(name, result)
    if result.outcome is not None:
        _conclude(work, run, phase, result.outcome)
    return result
