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
- ``finish``: write the record, send the notification, print the decision.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import GateUsageError, InconsistentFacts
from .arguments import parse
from .decision import decide
from .phases import run_phase, say
from .record import GateRun, build_record, outcome_lines
from .state import PHASE_NAMES, Work

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


def cmd_finish(work: Work) -> int:
    from ..baseline.store import atomic_write_text
    from .notify import notify

    step = work.decision()
    if step is None:
        say("internal error: finish before a decision")
        return EXIT_INTERNAL
    settings, run = work.settings(), work.run()
    phases = {name: phase for name in PHASE_NAMES if (phase := work.phase(name)) is not None}
    selection = None
    if "verification" in phases:
        selection, _ = work.verification_selection()
    try:
        output = work.rollback_log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        output = None
    except OSError as exc:
        output = f"(output unreadable: {exc.strerror})"
    record = build_record(
        GateRun(
            settings=settings,
            directory=run.directory,
            step=step,
            phases=phases,
            verify_selection=selection,
            rollback_output=output,
            interrupted_by=work.interruption()[0],
            finished_at=time.time(),
        )
    )
    atomic_write_text(run.record, json.dumps(record, indent=2) + "\n")
    for line in outcome_lines(record):
        print(line, file=sys.stderr)
    say(f"gate record: {run.record}")
    if settings.notify:
        from .arguments import NOTIFY_S

        result = notify(record, settings.notify, NOTIFY_S)
        record["notification"] = result
        atomic_write_text(run.record, json.dumps(record, indent=2) + "\n")
        if result["sent"]:
            say(f"notification sent to {result['target']}")
        else:
            say(
                f"notification to {result['target']} failed ({result['error']}); "
                "exit code unchanged"
            )
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
    if options.command == "run-phase":
        run_phase(work, options.phase)
        return EXIT_OK
    if options.command == "next":
        return cmd_next(work)
    return cmd_finish(work)
