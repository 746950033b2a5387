"""What one gate run knows, as files: the settings, each phase's outcome, the first signal.

Two directories:

- the private work directory (``mktemp -d``, removed by the shell wrapper at exit): the parsed
  settings (they hold the raw rollback command and webhook URL), the preflight's report of the
  ini selection, the rollback's raw output, the first signal the wrapper got (a line
  ``SIGTERM suites`` it writes from its trap) and the frozen decision;
- the run directory next to the record, ``reports/gate/<UTC time>-<env>/``, claimed when the run
  starts (the record itself is written whole at the end, or not at all): the pytest reports,
  ``preflight.log``, and one ``phase-<name>.json`` per phase (exit code, timed out, signal,
  start, seconds; no command line, so nothing there needs redaction).

``Work.facts()`` loads all of it into the ``decision.Facts`` the pure decision takes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from ..errors import GateUsageError
from ..process import Outcome
from .arguments import GateSettings, verify_words
from .decision import (
    PHASES,
    DataCheck,
    Deployment,
    Evidence,
    Facts,
    Limits,
    Step,
    preflight_problem,
)

__all__ = [
    "COLLECTED",
    "COMMAND_PHASES",
    "DATA_PHASES",
    "PhaseResult",
    "Run",
    "Work",
    "data_summary",
    "read_evidence",
    "written_since",
]

# The phases with a result file of their own: the gate's order (decision.PHASES), without the
# gate's own start and record, so that a phase added there cannot be missing here.
PHASE_NAMES = tuple(name for name in PHASES if name not in ("start", "record"))
# The deployment run's phases that run a command of the operator's (output kept privately).
COMMAND_PHASES = ("backup", "deploy", "rollback", "restore")
# Its data phases: the child's summary in the run directory, named after the phase.
DATA_PHASES = ("snapshot", "integrity", "rollback-integrity")
COLLECTED = "preflight-collected.json"  # in the run directory, from the preflight's plugin
NO_SELECTION = (
    "no verification selection: pass --verify SELECTION, or set the ini key "
    "prodval_gate_verify in the validation project's pytest configuration"
)


@dataclasses.dataclass(frozen=True)
class PhaseResult:
    """A phase's end: the supervised child's outcome, or the problem that kept it from running."""

    outcome: Outcome | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.to_json() if self.outcome else None,
            "problem": self.problem,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhaseResult:
        outcome = data.get("outcome")
        return cls(Outcome.from_json(outcome) if outcome else None, data.get("problem"))


@dataclasses.dataclass(frozen=True)
class Run:
    record: Path
    directory: Path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def written_since(path: Path, started_at: float) -> bool:
    """Was ``path`` written by a run that started at ``started_at``? An older file (mtime
    before the start, with a second's slack for coarse file-system clocks) is an earlier run's;
    a missing one is no run's."""
    try:
        return path.stat().st_mtime >= started_at - 1.0
    except OSError:
        return False


def read_evidence(junit: Path, summary: Path, started_at: float) -> Evidence:
    """What a pytest run that started at ``started_at`` left in its JUnit XML and summary.

    A file older than the run (mtime before its start, with a second's slack for coarse
    file-system clocks) is not this run's: phases.py also deletes both before the run.
    """
    import xml.etree.ElementTree as ET

    reported = executed = failed = 0
    junit_ok = written_since(junit, started_at)
    if junit_ok:
        try:
            cases = list(ET.parse(junit).getroot().iter("testcase"))
        except (OSError, ET.ParseError):
            junit_ok = False
        else:
            reported = len(cases)
            executed = sum(1 for case in cases if case.find("skipped") is None)
            failed = sum(
                1
                for case in cases
                if case.find("failure") is not None or case.find("error") is not None
            )
    data = _read_json(summary) if written_since(summary, started_at) else None
    recorded = isinstance(data, dict) and (
        (data.get("baseline") or {}).get("mode") == "record"
        or data.get("baseline_written") is not None
    )
    undecided = data.get("undecided") if isinstance(data, dict) else None
    return Evidence(
        junit=junit_ok,
        summary=isinstance(data, dict),
        reported=reported,
        executed=executed,
        recorded=bool(recorded),
        failed=failed,
        undecided=undecided if isinstance(undecided, str) else None,
    )


def data_summary(path: Path, started_at: float) -> dict[str, Any] | None:
    """What a data phase's child wrote (``snapshot.py``), if it is this run's."""
    if not written_since(path, started_at):
        return None
    data = _read_json(path)
    return data if isinstance(data, dict) else None


def last_line(path: Path, containing: str = "") -> str:
    """The last non-empty line of a file (that contains ``containing``), for one-line messages."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    found = (line.strip() for line in reversed(lines) if line.strip() and containing in line)
    return next(found, "")


class Work:
    """The private work directory of one gate run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings_path = path / "settings.json"
        self.parsed_path = path / "parsed"  # for the wrapper: env and lock file, NUL-separated
        self.rollback_log = path / "rollback.log"
        self.snapshot_rows = path / "snapshot-rows.json"  # the snapshot's keys and digests
        self.verify_ini = path / "verify-ini.json"
        self.interrupted_path = path / "interrupted"
        self._decision = path / "decision.json"
        self._run = path / "run.json"
        self._verify = path / "verify.json"

    # settings and the run's names

    def save_settings(self, settings: GateSettings) -> None:
        _write_json(self.settings_path, settings.to_json())

    def settings(self) -> GateSettings:
        return GateSettings.from_json(json.loads(self.settings_path.read_text(encoding="utf-8")))

    def run(self) -> Run:
        """The record's path and the run directory; claimed on first use."""
        data = _read_json(self._run)
        if data is not None:
            return Run(Path(data["record"]), Path(data["directory"]))
        settings = self.settings()
        gate_dir = Path(settings.reports) / "gate"
        gate_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        # The run directory is the claim (mkdir is exclusive); the record next to it is written
        # once, whole, at the end (cli.finish): never an empty placeholder.
        n = 1
        while True:
            suffix = "" if n == 1 else f"-{n}"
            record = gate_dir / f"{stamp}-{settings.env}{suffix}.json"
            directory = record.with_suffix("")
            n += 1
            if record.exists():
                continue
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            break
        _write_json(self._run, {"record": str(record), "directory": str(directory)})
        return Run(record, directory)

    def command_log(self, name: str) -> Path:
        """The raw output of a command phase (backup, deploy, rollback, restore)."""
        return self.rollback_log if name == "rollback" else self.path / f"{name}.log"

    def data_summary_path(self, name: str) -> Path:
        return self.run().directory / f"{name}.json"

    def data_check(self, name: str) -> DataCheck | None:
        result = self.phase(name)
        if result is None:
            return None
        outcome = result.outcome or Outcome(None, False, None, None, 0.0, 0.0)
        data = data_summary(self.data_summary_path(name), outcome.started_at) or {}
        error = data.get("error") if isinstance(data.get("error"), str) else result.problem
        matched = data.get("matched") if isinstance(data.get("matched"), bool) else None
        found = data.get("differences")
        differences = tuple(str(line) for line in found) if isinstance(found, list) else ()
        return DataCheck(outcome, matched, error, differences, _accounted(data.get("tables")))

    def readiness_selection(self) -> tuple[str, list[str]]:
        """--readiness, else the verification selection."""
        settings = self.settings()
        if settings.readiness is not None:
            return settings.readiness, verify_words(settings.readiness, "--readiness")
        return self.verification_selection()

    # phases

    def phase_path(self, name: str) -> Path:
        return self.run().directory / f"phase-{name}.json"

    def save_phase(self, name: str, result: PhaseResult) -> None:
        _write_json(self.phase_path(name), {"phase": name, **result.to_json()})

    def phase(self, name: str) -> PhaseResult | None:
        data = _read_json(self.phase_path(name))
        return PhaseResult.from_json(data) if isinstance(data, dict) else None

    def interruption(self) -> tuple[str | None, str | None]:
        """The first signal the wrapper got and the phase it arrived in."""
        try:
            words = self.interrupted_path.read_text(encoding="utf-8").split()
        except OSError:
            return None, None
        return (words[0] if words else "a signal"), (words[1] if len(words) > 1 else None)

    # the verification selection: --verify, else the project's ini key

    def verification_selection(self) -> tuple[str, list[str]]:
        """The selection's text and words; GateUsageError when there is none or it is unusable."""
        cached = _read_json(self._verify)
        if isinstance(cached, dict):  # checked once (checking imports pytest: 0.2 s a call)
            return str(cached["text"]), [str(word) for word in cached["words"]]
        settings = self.settings()
        if settings.verify is not None:
            text, words = settings.verify, verify_words(settings.verify, "--verify")
        else:
            data = _read_json(self.verify_ini)
            value = data.get("prodval_gate_verify") if isinstance(data, dict) else None
            if not value or not str(value).strip():
                raise GateUsageError(NO_SELECTION)
            text, words = str(value), verify_words(str(value), "ini prodval_gate_verify")
        _write_json(self._verify, {"text": text, "words": words})
        return text, words

    # the decision

    def facts(self) -> Facts:
        settings = self.settings()
        outcomes = {name: self.phase(name) for name in PHASE_NAMES}
        problem: str | None = None
        preflight = outcomes["preflight"]
        if preflight is not None:
            verify_problem = None
            try:
                self.verification_selection()
            except GateUsageError as exc:
                verify_problem = str(exc)
            problem = preflight_problem(
                preflight.outcome,
                files_problem=preflight.problem,
                last_line=last_line(self.run().directory / "preflight.log"),
                verify_problem=verify_problem,
                collect_s=settings.collect_s,
            )
        signal, during = self.interruption()

        def outcome(name: str) -> Outcome | None:
            result = outcomes[name]
            return result.outcome if result is not None else None

        def evidence(name: str) -> Evidence | None:
            ran = outcome(name)
            if ran is None:
                return None
            where = self.run().directory
            return read_evidence(
                where / f"{name}.xml", where / f"{name}-summary.json", ran.started_at
            )

        deployment = None
        if settings.deploy is not None:
            deployment = Deployment(
                readiness=outcome("readiness"),
                readiness_evidence=evidence("readiness"),
                snapshot=self.data_check("snapshot"),
                backup_given=settings.backup is not None,
                backup=outcome("backup"),
                deploy=outcome("deploy"),
                integrity=self.data_check("integrity"),
                restore_given=settings.restore is not None,
                restore=outcome("restore"),
                rollback_integrity=self.data_check("rollback-integrity"),
            )
        return Facts(
            preflight_problem=problem,
            suites=outcome("suites"),
            rollback=outcome("rollback"),
            verification=outcome("verification"),
            interrupted_by=signal,
            interrupted_during=during,
            limits=Limits(
                timeout_s=settings.timeout_s,
                verify_timeout_s=settings.verify_timeout_s,
                rollback_timeout_s=settings.rollback_timeout_s,
                collect_s=settings.collect_s,
                deploy_timeout_s=settings.deploy_timeout_s,
                backup_timeout_s=settings.backup_timeout_s,
                restore_timeout_s=settings.restore_timeout_s,
                snapshot_timeout_s=settings.snapshot_timeout_s,
            ),
            collected=self.collected(),
            suites_evidence=evidence("suites"),
            verification_evidence=evidence("verification"),
            deployment=deployment,
        )

    def collected(self) -> int | None:
        """How many checks the preflight collected (its plugin writes the count)."""
        data = _read_json(self.run().directory / COLLECTED)
        value = data.get("collected") if isinstance(data, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def save_decision(self, step: Step) -> None:
        _write_json(self._decision, dataclasses.asdict(step))

    def decision(self) -> Step | None:
        data = _read_json(self._decision)
        return Step(**data) if isinstance(data, dict) else None


def _accounted(tables: object) -> tuple[str, ...]:
    """One line per table whose rows the check accounted for: "documents: 2 added, 1 erased"."""
    lines = []
    for name, table in tables.items() if isinstance(tables, dict) else ():
        counts = [
            f"{table[kind]} {kind}"
            for kind in ("added", "erased")
            if isinstance(table, dict) and isinstance(table.get(kind), int) and table[kind]
        ]
        if counts:
            lines.append(f"{name}: {', '.join(counts)}")
    return tuple(lines)
