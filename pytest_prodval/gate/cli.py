"""``python -m pytest_prodval.gate COMMAND``: the gate's rules, asked for by the shell wrapper.

The wrapper (``pytest_prodval/scripts/prodval-gate``) does process control only: it hands its
arguments to ``parse``, takes the lock, traps signals, and runs what ``next`` tells it, each
phase through ``run-phase``, then ``finish``. Every command takes ``--work DIR``, the run's
private work directory (see ``state.py``).

- ``parse -- ARGS...``: check the gate's arguments, save the settings, and write what the
  wrapper needs (the environment and the lock file, NUL-separated) to ``DIR/parsed``. Exit 3
  with one line on a usage error; ``--help`` prints the help and saves nothing.
- ``run-phase NAME``: run phase NAME (preflight, suites, rollback, verification) supervised,
  and save how it ended. Exit 0 whatever the phase did.
- ``next``: the next step from the pure decision: ``suites``, ``rollback``, ``verification``
  or ``finish N`` (N the gate's exit code, frozen once decided).
- ``finish``: write the record (whole or not at all), send the notification, print the
  decision. A signal meanwhile is named in the record and cuts the notification short.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import GateUsageError, InconsistentFacts
from .arguments import parse
from .decision import decide
from .phases import run_phase, say
from .record import GateRun, build_record, outcome_lines
from .state import COMMAND_PHASES, DATA_PHASES, PHASE_NAMES, Work, data_summary

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_MISUSE = 0, 1, 3


def cmd_parse(work: Work, argv: Sequence[str]) -> int:
    try:
        settings = parse(argv)
    except GateUsageError as exc:
        say(str(exc))
        print("Try 'prodval-gate --help'.", file=sys.stderr)
        return EXIT_MISUSE
    if settings is not None:
        work.save_settings(settings)
        work.parsed_path.write_text(f"{settings.env}\0{settings.lock_file}\0", encoding="utf-8")
    return EXIT_OK


def cmd_next(work: Work) -> int:
    step = work.decision()
    if step is None:
        try:
            step = decide(work.facts())
        except InconsistentFacts as exc:
            say(f"internal error: inconsistent phase results ({exc})")
            return EXIT_INTERNAL
        if step.action == "finish":
            work.save_decision(step)  # frozen: a later signal cannot change it
        elif step.action == "rollback":
            say(f"release failed: {step.reason}")
    print(step.action if step.action != "finish" else f"finish {step.exit_code}")
    return EXIT_OK


class _Interrupted(BaseException):
    """Raised by the finish step's signal handler to cut the notification short."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _FinishSignals:
    """SIGINT/SIGTERM while the record is written: noted (the record names the first signal),
    and a notification under way is abandoned; the decision and its exit code stand."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.cutting = False  # a signal now raises _Interrupted (the notification only)

    def install(self) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        # Named as the gate got it: the wrapper notes it first and forwards SIGINT for both.
        name = self.work.interruption()[0] or signal.Signals(number).name
        if not self.work.interrupted_path.exists():  # sent to this process alone
            with contextlib.suppress(OSError):
                self.work.interrupted_path.write_text(f"{name} record\n", encoding="utf-8")
        if self.cutting:
            self.cutting = False
            raise _Interrupted(name)


def _write_record(path: Path, record: dict[str, Any], code: int | None) -> bool:
    """Write the record whole (temp file, fsync, rename) or not at all; one line if not."""
    from ..baseline.store import atomic_write_text
    from ..errors import FileWriteError

    try:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    except FileWriteError as exc:
        say(f"gate record not written: {exc}; the decision stands (exit {code})")
        return False
    return True


def _command_output(work: Work, name: str) -> str | None:
    """The raw output of a command phase (redacted by the record); None when it did not run."""
    try:
        return work.command_log(name).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"(output unreadable: {exc.strerror})"


def cmd_finish(work: Work) -> int:
    from .notify import notify, notify_target

    signals = _FinishSignals(work)
    signals.install()
    step = work.decision()
    if step is None:
        say("internal error: finish before a decision")
        return EXIT_INTERNAL
    settings, run = work.settings(), work.run()
    phases = {name: phase for name in PHASE_NAMES if (phase := work.phase(name)) is not None}
    selection = None
    if "verification" in phases:
        selection, _ = work.verification_selection()
    outputs = {name: _command_output(work, name) for name in COMMAND_PHASES}
    data = {}
    for name in DATA_PHASES:
        phase = phases.get(name)
        if phase is not None and phase.outcome is not None:
            data[name] = data_summary(work.data_summary_path(name), phase.outcome.started_at)
    readiness = None
    if "readiness" in phases:
        readiness, _ = work.readiness_selection()
    record = build_record(
        GateRun(
            settings=settings,
            directory=run.directory,
            step=step,
            phases=phases,
            verify_selection=selection,
            rollback_output=outputs["rollback"],
            interrupted_by=work.interruption()[0],
            finished_at=time.time(),
            command_outputs=outputs,
            data=data,
            readiness_selection=readiness,
        )
    )
    written = _write_record(run.record, record, step.exit_code)
    for line in outcome_lines(record):
        print(line, file=sys.stderr)
    from .github import publish  # GitHub Actions: step summary and ::error annotations

    publish(record, settings.config, settings.env)
    if written:
        say(f"gate record: {run.record}")
    if settings.notify:
        try:
            signals.cutting = True
            result = notify(record, settings.notify, settings.notify_s)
        except _Interrupted as exc:
            result = {
                "target": notify_target(settings.notify),
                "sent": False,
                "error": f"interrupted by {exc.name} before the webhook answered",
            }
        finally:
            signals.cutting = False
        record["notification"] = result
        if result["sent"]:
            say(f"notification sent to {result['target']}")
        else:
            say(
                f"notification to {result['target']} failed ({result['error']}); "
                "exit code unchanged"
            )
    interrupted_by = work.interruption()[0]
    changed = record["notification"] is not None or interrupted_by != record["interrupted_by"]
    record["interrupted_by"] = interrupted_by
    if written and changed:
        _write_record(run.record, record, step.exit_code)
    say(f"decision: {step.decision} (exit {step.exit_code}): {record['reason']}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_prodval.gate")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("parse", "run-phase", "next", "finish"):
        command = sub.add_parser(name)
        command.add_argument("--work", type=Path, required=True, help="the private work dir")
        if name == "run-phase":
            command.add_argument("phase", choices=PHASE_NAMES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # parse hands everything after its own "--" to the gate's parser untouched.
    gate_args: list[str] = []
    if args[:1] == ["parse"] and "--" in args:
        split = args.index("--")
        args, gate_args = args[:split], args[split + 1 :]
    options = build_parser().parse_args(args)
    work = Work(options.work)
    if options.command == "parse":
        return cmd_parse(work, gate_args)
    if options.command == "next":
        return cmd_next(work)
    try:
        if options.command == "run-phase":
            run_phase(work, options.phase)
            return EXIT_OK
        return cmd_finish(work)
    finally:
        _ignore_late_signals()


def _ignore_late_signals() -> None:
    """The step is done: a signal the wrapper forwards now (it noted it already) must not kill
    this process on its way out. Python resets its handlers to the default at exit, so a
    late SIGINT would end it by the signal (status 130, read as an internal error); an ignored
    signal stays ignored."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
