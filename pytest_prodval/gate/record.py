"""The gate record: one JSON file saying what the gate decided, why, and what each phase did.

Built from in-memory data (the run's ``GateSettings``, each phase's ``PhaseResult``, the frozen
decision) plus the reports the pytest runs wrote. Failed checks and their messages come from
the JUnit XML and ``prodval-summary.json`` that the plugin already redacted, and pass the
environment's redactor once more; the rollback command and its output never went through the
plugin, so they are redacted here. docs/gate.md describes every field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..process import Outcome
from ..safety.redaction import Redactor
from .arguments import GateSettings
from .decision import Step, pytest_meaning, run_problem
from .state import PHASE_NAMES, PhaseResult

__all__ = ["GateRun", "build_record", "failed_checks", "tail"]

RECORD_SCHEMA = 1
# The phases of a gate run without --deploy, whose durations the record has always had.
CORE_PHASES = ("preflight", "suites", "rollback", "verification")
MESSAGE_CHARS = 1500
TAIL_LINES = 40
TAIL_CHARS = 6000


@dataclasses.dataclass(frozen=True)
class GateRun:
    """Everything the record is made of."""

    settings: GateSettings
    directory: Path  # the run directory, reports/gate/<UTC time>-<env>/
    step: Step  # the decision (action "finish")
    phases: dict[str, PhaseResult]  # the phases that ran
    verify_selection: str | None
    rollback_output: str | None  # raw; redacted here
    interrupted_by: str | None
    finished_at: float
    # The deployment run (--deploy): each command phase's raw output (redacted here), the data
    # phases' summaries (snapshot.py), the readiness selection.
    command_outputs: dict[str, str | None] = dataclasses.field(default_factory=dict)
    data: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)
    readiness_selection: str | None = None


def _redactor(config: Path, env: str) -> tuple[Redactor, str | None]:
    """The environment's redactor; an empty one (and why) when the config cannot be loaded."""
    from ..config import load_config
    from ..errors import ConfigError

    try:
        return load_config(config).environment(env).redactor(), None
    except ConfigError as exc:
        return Redactor(()), str(exc)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters."""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept if len(kept) <= chars else "…" + kept[-(chars - 1) :]


def _check_id(classname: str, name: str) -> str:
    """JUnit's classname + name back to a pytest node id (``pkg.mod.Class`` is a best guess)."""
    parts = classname.split(".")
    # The module is the last lower-case-initial part; what follows is a class.
    split_at = len(parts)
    while split_at > 1 and parts[split_at - 1][:1].isupper():
        split_at -= 1
    module = "/".join(parts[:split_at]) + ".py"
    return "::".join([module, *parts[split_at:], name])


def failed_checks(junit: Path, redactor: Redactor) -> list[dict[str, str]] | None:
    """Each failed or erroring check in a JUnit XML file: check id, outcome, message.

    None when the file is missing or unreadable (a run killed before pytest wrote it).
    """
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return None
    failed = []
    for case in root.iter("testcase"):
        for outcome in ("failure", "error"):
            element = case.find(outcome)
            if element is None:
                continue
            failed.append(
                {
                    "check": _check_id(case.get("classname", ""), case.get("name", "")),
                    "outcome": "failed" if outcome == "failure" else "error",
                    "message": redactor.redact_url(_clip(_failure_message(element))),
                }
            )
    return failed


def _failure_message(element: ET.Element) -> str:
    """The exception lines of a JUnit failure (pytest's ``E`` lines), else its message."""
    text = element.text or ""
    raised = [line[1:] for line in text.splitlines() if line[:1] == "E" and line[1:2] in " "]
    if raised:
        return textwrap.dedent("\n".join(raised))
    return element.get("message") or text.strip()


def _failed_comparisons(summary: dict[str, Any] | None, redactor: Redactor) -> list[Any]:
    if summary is None:
        return []
    return [
        {
            "key": comparison.get("key"),
            "status": comparison.get("status"),
            "message": redactor.redact_url(_clip(str(comparison.get("message", "")))),
        }
        for comparison in summary.get("comparisons", [])
        if comparison.get("status") in ("failed", "missing")
    ]


def _pytest_run(
    outcome: Outcome, junit: Path, summary_path: Path, redactor: Redactor, **extra: Any
) -> dict[str, Any]:
    summary = _read_json(summary_path)
    return {
        "pytest_exit_code": outcome.exit_code,
        "meaning": pytest_meaning(outcome),
        "timed_out": outcome.timed_out,
        "signal": outcome.signal,
        **extra,
        "counts": summary.get("counts") if summary else None,
        "failed_checks": failed_checks(junit, redactor),
        "failed_comparisons": _failed_comparisons(summary, redactor),
        "junit": str(junit) if junit.exists() else None,
        "summary": str(summary_path) if summary_path.exists() else None,
    }


def _checks(where: Path, name: str, outcome: Outcome) -> dict[str, Any]:
    """The evidence the decision saw: checks collected (suites), reported and executed."""
    from .state import COLLECTED, read_evidence

    evidence = read_evidence(
        where / f"{name}.xml", where / f"{name}-summary.json", outcome.started_at
    )
    collected = _read_json(where / COLLECTED) if name == "suites" else None
    return {
        "collected": collected.get("collected") if isinstance(collected, dict) else None,
        "reported": evidence.reported if evidence.junit else None,
        "executed": evidence.executed if evidence.junit else None,
    }


def _iso(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.replace(microsecond=0).isoformat()


def _baseline(path: Path, summary: dict[str, Any] | None) -> dict[str, Any]:
    if summary and summary.get("baseline"):
        return {"path": str(path), "provenance": summary["baseline"].get("provenance")}
    from ..baseline.store import BaselineFile
    from ..errors import BaselineError

    try:
        loaded = BaselineFile.load(path)
    except BaselineError as exc:
        return {"path": str(path), "provenance": None, "error": str(exc)}
    if not loaded.exists:
        return {"path": str(path), "provenance": None, "error": "file not found"}
    provenance = loaded.provenance.to_json() if loaded.provenance else None
    return {"path": str(path), "provenance": provenance}


def build_record(run: GateRun) -> dict[str, Any]:
    """The gate record as a JSON-able dict (see docs/gate.md for every field)."""
    settings, where, step = run.settings, run.directory, run.step
    redactor, config_problem = _redactor(Path(settings.config), settings.env)
    suites_summary = _read_json(where / "suites-summary.json")

    def outcome(name: str) -> Outcome | None:
        result = run.phases.get(name)
        return result.outcome if result is not None else None

    durations: dict[str, float | None] = {}
    names = PHASE_NAMES if settings.deploy is not None else CORE_PHASES
    for name in names:
        phase = run.phases.get(name)
        durations[name] = None
        if phase is not None:
            durations[name] = phase.outcome.seconds if phase.outcome else 0.0
    durations["total"] = round(run.finished_at - settings.started_at, 3)
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "decision": step.decision,
        "exit_code": step.exit_code,
        "reason": redactor.redact(step.reason),
        "environment": settings.env,
        "control_environment": settings.control_env,
        "config": settings.config,
        "started_at": _iso(settings.started_at),
        "finished_at": _iso(run.finished_at),
        "durations_s": durations,
        "target": (suites_summary or {}).get("target"),
        "baseline": _baseline(Path(settings.baseline), suites_summary),
        "pytest_args": [
            redactor.redact_url(arg) for arg in (*settings.common_args, *settings.pytest_args)
        ],
        "suites": None,
        "rollback": None,
        "verification": None,
        "interrupted_by": run.interrupted_by,
        "notification": None,
    }
    if config_problem:
        record["config_problem"] = config_problem
    suites = outcome("suites")
    if suites is not None:
        record["suites"] = _pytest_run(
            suites,
            where / "suites.xml",
            where / "suites-summary.json",
            redactor,
            timeout_s=settings.timeout_s,
        )
        record["suites"]["checks"] = _checks(where, "suites", suites)
    command = redactor.redact_url(settings.rollback)
    rollback = outcome("rollback")
    if rollback is not None:
        record["rollback"] = {
            "command": command,
            "exit_code": rollback.exit_code,
            "timed_out": rollback.timed_out,
            "signal": rollback.signal,
            "timeout_s": settings.rollback_timeout_s,
            "succeeded": rollback.ok,
            "output_tail": redactor.redact_url(tail(run.rollback_output or "")),
        }
    else:
        record["rollback"] = {"command": command, "ran": False}
    verification = outcome("verification")
    if verification is not None:
        record["verification"] = {
            "selection": redactor.redact(run.verify_selection or ""),
            "passed": _passed(run, "verification", verification),  # exit 0 and its evidence
            **_pytest_run(
                verification,
                where / "verification.xml",
                where / "verification-summary.json",
                redactor,
                timeout_s=settings.verify_timeout_s,
            ),
        }
        record["verification"]["checks"] = _checks(where, "verification", verification)
    elif step.verification_skipped:
        record["verification"] = {"skipped": step.verification_skipped}
    if settings.deploy is not None:
        record.update(_deployment_run(run, redactor))
    return record


def _passed(run: GateRun, name: str, outcome: Outcome) -> bool:
    """Did the readiness or verification run pass, by the decision's own rule? (Not read off
    the decision: in a deployment run, the data check decides a rollback too.)"""
    from .state import read_evidence

    where = run.directory
    evidence = read_evidence(
        where / f"{name}.xml", where / f"{name}-summary.json", outcome.started_at
    )
    return run_problem(outcome, evidence, run.settings.verify_timeout_s, "it") is None


def _command(
    run: GateRun, name: str, text: str | None, timeout_s: int, redactor: Redactor
) -> dict[str, Any] | None:
    """A command phase (deploy, backup, restore) for the record; None when not given."""
    if text is None:
        return None
    command = redactor.redact_url(text)
    result = run.phases.get(name)
    if result is None or result.outcome is None:
        return {"command": command, "ran": False}
    outcome = result.outcome
    return {
        "command": command,
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "signal": outcome.signal,
        "stopped_by": outcome.stopped_by,
        "timeout_s": timeout_s,
        "succeeded": outcome.ok,
        "output_tail": redactor.redact_url(tail(run.command_outputs.get(name) or "")),
    }


def _data(run: GateRun, name: str, redactor: Redactor) -> dict[str, Any]:
    """A data phase for the record: how its child ended and what it found."""
    result = run.phases.get(name)
    if result is None or result.outcome is None:
        return {"ran": False}
    outcome = result.outcome
    found = run.data.get(name) or {}
    entry: dict[str, Any] = {
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "signal": outcome.signal,
        "stopped_by": outcome.stopped_by,
        "seconds": outcome.seconds,
        "timeout_s": run.settings.snapshot_timeout_s,
    }
    entry.update(found)
    if entry.get("error"):
        entry["error"] = redactor.redact_url(str(entry["error"]))
    elif not found:
        entry["error"] = "no summary (the check did not finish)"
    return entry


def _deployment_run(run: GateRun, redactor: Redactor) -> dict[str, Any]:
    """The record's fields of a deployment run (--deploy): docs/gate.md, "The deployment run"."""
    settings, where = run.settings, run.directory
    readiness: dict[str, Any] | None = None
    result = run.phases.get("readiness")
    if result is not None and result.outcome is not None:
        outcome = result.outcome
        readiness = {
            "selection": redactor.redact(run.readiness_selection or ""),
            "passed": _passed(run, "readiness", outcome),
            **_pytest_run(
                outcome,
                where / "readiness.xml",
                where / "readiness-summary.json",
                redactor,
                timeout_s=settings.verify_timeout_s,
            ),
        }
    return {
        "readiness": readiness,
        "deployment": {
            "backup": _command(run, "backup", settings.backup, settings.backup_timeout_s, redactor),
            "deploy": _command(run, "deploy", settings.deploy, settings.deploy_timeout_s, redactor),
            "restore": _command(
                run, "restore", settings.restore, settings.restore_timeout_s, redactor
            ),
        },
        "integrity": {
            "snapshot": _data(run, "snapshot", redactor),
            "after_release": _data(run, "integrity", redactor),
            "after_rollback": _data(run, "rollback-integrity", redactor),
        },
    }


def outcome_lines(record: dict[str, Any]) -> list[str]:
    """What the gate prints about a record: failed checks, the rollback's output."""
    lines = []
    suites = record.get("suites") or {}
    for check in (suites.get("failed_checks") or [])[:20]:
        first = check["message"].splitlines()[0] if check["message"] else ""
        lines.append(f"prodval-gate:   {check['outcome']}: {check['check']}: {first[:160]}")
    rollback = record.get("rollback") or {}
    if rollback.get("output_tail"):
        lines.append("prodval-gate: rollback output (last lines, redacted):")
        lines.extend(f"  | {line}" for line in rollback["output_tail"].splitlines())
    verification = record.get("verification") or {}
    for check in (verification.get("failed_checks") or [])[:20]:
        lines.append(f"prodval-gate:   verification {check['outcome']}: {check['check']}")
    for name, entry in (record.get("deployment") or {}).items():
        if entry and entry.get("output_tail") and not entry.get("succeeded"):
            lines.append(f"prodval-gate: {name} output (last lines, redacted):")
            lines.extend(f"  | {line}" for line in entry["output_tail"].splitlines())
    for when, entry in (record.get("integrity") or {}).items():
        for line in (entry or {}).get("differences") or []:
            lines.append(f"prodval-gate:   data {when}: {line}")
    return lines
