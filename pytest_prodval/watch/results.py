"""One watch run's result: how its pytest process ended and what its summary says.

``read_result`` is the one place that decides what a run was:

- **completed** (a usable result): pytest exited 0 or 1 by itself, within its bound, and this
  run's ``prodval-summary.json`` has the target reached at the session's start and a ``checks``
  list. Its result is ``passed`` (exit 0) or ``failed`` (exit 1), and its checks become the
  check metrics.
- otherwise **error**: the run timed out, was killed, crashed (any other exit code), wrote no
  summary (or an unreadable or older one), or the target did not answer at the session's start.
  The check metrics keep the last completed run's values; ``prodval_run_completed`` says 0.

Nothing is read from pytest's terminal output.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..gate.decision import PYTEST_MEANING  # the one wording of pytest's exit codes
from ..gate.state import written_since
from ..process import Outcome
from ..report.checks import OUTCOMES

__all__ = ["CheckState", "RunResult", "read_result"]


@dataclasses.dataclass(frozen=True)
class CheckState:
    nodeid: str
    suite: str  # "" for a check without a suite marker
    outcome: str  # passed, failed, error, skipped
    slo: bool  # the check made a limit comparison (an SLO, a threshold)


@dataclasses.dataclass(frozen=True)
class RunResult:
    result: str  # passed, failed, error
    completed: bool
    reason: str  # one line: why, for the log
    finished_at: float  # unix time
    duration_s: float
    checks: tuple[CheckState, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(check.outcome for check in self.checks)
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}


def _error(reason: str, outcome: Outcome) -> RunResult:
    return RunResult("error", False, reason, outcome.started_at + outcome.seconds, outcome.seconds)


def _load(summary: Path, started_at: float) -> tuple[dict[str, Any] | None, str]:
    if not summary.exists():
        return None, "the run wrote no summary"
    if not written_since(summary, started_at):
        return None, f"the summary {summary} is not this run's"
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"the summary {summary} cannot be read: {exc}"
    if not isinstance(data, dict):
        return None, f"the summary {summary} is not a JSON object"
    return data, ""


def read_result(outcome: Outcome, summary: Path, limit_s: float) -> RunResult:
    """What the run that ended with ``outcome`` was, from ``summary`` (written by that run)."""
    if outcome.exit_code is None:
        return _error("pytest could not be started", outcome)
    if outcome.timed_out:
        return _error(f"the run did not finish within {limit_s:g} s; stopped", outcome)
    if outcome.signal is not None:
        return _error(f"the run was killed by {outcome.signal}", outcome)
    code = outcome.exit_code
    if code not in (0, 1):
        meaning = PYTEST_MEANING.get(code, "unexpected exit status")
        return _error(f"pytest exit {code} ({meaning})", outcome)
    data, problem = _load(summary, outcome.started_at)
    if data is None:
        return _error(problem, outcome)
    target = data.get("target") or {}
    unreachable = target.get("unreachable") if isinstance(target, dict) else None
    if unreachable:
        return _error(f"the target did not answer at the session's start: {unreachable}", outcome)
    raw_checks = data.get("checks")
    if not isinstance(raw_checks, list):
        return _error("the summary has no checks list (pytest-prodval too old?)", outcome)
    slo = {
        str(comparison.get("nodeid"))
        for comparison in data.get("comparisons") or []
        if isinstance(comparison, dict) and comparison.get("kind") == "limit"
    }
    checks = tuple(
        CheckState(
            nodeid=str(check["nodeid"]),
            suite=str(check.get("suite") or ""),
            outcome=str(check["outcome"]),
            slo=str(check["nodeid"]) in slo,
        )
        for check in raw_checks
        if isinstance(check, dict) and check.get("outcome") in OUTCOMES and "nodeid" in check
    )
    result = "passed" if code == 0 else "failed"
    counts = Counter(check.outcome for check in checks)
    shown = ", ".join(f"{counts[name]} {name}" for name in OUTCOMES if counts[name])
    return RunResult(
        result,
        True,
        f"{PYTEST_MEANING[code]} ({shown or 'no checks'})",
        outcome.started_at + outcome.seconds,
        outcome.seconds,
        checks,
    )
