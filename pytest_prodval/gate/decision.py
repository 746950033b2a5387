"""The release decision: a pure function of what happened in the gate's phases.

``decide(facts)`` looks at the preflight's problem (if any), the suites', the rollback's and
the verification's outcomes (``process.Outcome``: exit code, timed out, signal, stopped) and
the first signal the gate received, and answers with the next ``Step``: run the suites, roll
back, verify, or finish with a decision, an exit code and a one-line reason. The shell wrapper
runs what it is told; nothing here runs anything, so every combination is unit-tested
(tests/test_gate_decision.py).

pytest's exit codes mean the same here as everywhere else in the gate: ``PYTEST_MEANING``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..errors import InconsistentFacts
from ..process import Outcome

__all__ = [
    "EXIT_HUMAN",
    "EXIT_MISUSE",
    "EXIT_PASSED",
    "EXIT_ROLLED_BACK",
    "PHASES",
    "PYTEST_MEANING",
    "Facts",
    "Limits",
    "Step",
    "decide",
    "preflight_problem",
    "pytest_meaning",
    "pytest_problem",
]

EXIT_PASSED, EXIT_ROLLED_BACK, EXIT_HUMAN, EXIT_MISUSE = 0, 1, 2, 3

Action = Literal["suites", "rollback", "verification", "finish"]
Decision = Literal[
    "passed",
    "rolled_back",
    "rollback_failed",
    "verification_failed",
    "misconfigured",
    "interrupted",
]
# The gate's phases in order; a signal is attributed to the phase it arrived in.
PHASES = ("start", "preflight", "suites", "rollback", "verification", "record")

# pytest's exit codes, in the words the record and the reasons use.
PYTEST_MEANING = {
    0: "all checks passed",
    1: "checks failed",
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest usage error",
    5: "no checks were collected",
}
VERIFICATION_SKIPPED = "the rollback failed; the rolled-back state cannot be verified"


@dataclasses.dataclass(frozen=True)
class Limits:
    """The time limits, for the reasons' wording."""

    timeout_s: float
    verify_timeout_s: float
    rollback_timeout_s: float
    collect_s: float = 300.0


@dataclasses.dataclass(frozen=True)
class Facts:
    """Everything that happened so far; None for a phase that has not run."""

    preflight_problem: str | None  # None: the preflight passed (or has not run yet)
    suites: Outcome | None
    rollback: Outcome | None
    verification: Outcome | None
    interrupted_by: str | None  # the first signal the gate received, e.g. "SIGTERM"
    interrupted_during: str | None  # the phase it arrived in (one of PHASES)
    limits: Limits


@dataclasses.dataclass(frozen=True)
class Step:
    """What to do next; for ``finish``, the decision, its exit code and reason."""

    action: Action
    reason: str  # for a rollback: why the release failed
    decision: Decision | None = None
    exit_code: int | None = None
    verification_skipped: str | None = None


def _seconds(value: float) -> str:
    return f"{value:g}s"


def pytest_meaning(outcome: Outcome) -> str | None:
    """What a pytest run's end means in a word: ``checks failed``, ``killed by SIGKILL``."""
    if outcome.signal is not None:
        return f"pytest was killed by {outcome.signal}"
    if outcome.exit_code is None:
        return "pytest did not start"
    meaning = PYTEST_MEANING.get(outcome.exit_code)
    if meaning is None and outcome.exit_code > 128:
        return f"pytest was killed by signal {outcome.exit_code - 128}"
    return meaning or f"pytest exited with unexpected code {outcome.exit_code}"


def pytest_problem(outcome: Outcome, timeout_s: float, what: str) -> str | None:
    """Why a pytest phase (``what``: "the suites") did not pass; None when it did."""
    if outcome.timed_out:
        return f"{what} did not finish within {_seconds(timeout_s)}"
    if outcome.ok:
        return None
    meaning = pytest_meaning(outcome)
    if outcome.signal is None and outcome.exit_code is not None:
        return f"{meaning} (pytest exit {outcome.exit_code})"
    return meaning


def preflight_problem(
    outcome: Outcome | None,
    *,
    files_problem: str | None,
    last_line: str,
    verify_problem: str | None,
    collect_s: float,
) -> str | None:
    """Why the preflight failed, from its pytest run (``--collect-only``); None when it passed."""
    if files_problem is not None:
        return files_problem
    if outcome is None:
        return "the preflight did not run"
    if outcome.timed_out:
        return f"collecting the checks took longer than {_seconds(collect_s)}"
    if outcome.signal is not None:
        return f"the checks cannot be collected ({pytest_meaning(outcome)})"
    if outcome.exit_code == 0:
        return verify_problem
    if outcome.exit_code == 5:
        return "no checks were collected with this selection (pytest exit 5)"
    if outcome.exit_code == 4:
        return f"pytest refused to start (exit 4): {last_line}"
    return f"the checks cannot be collected (pytest exit {outcome.exit_code}): {last_line}"


def _before(phase: str | None, than: str) -> bool:
    """Did a signal in ``phase`` arrive no later than ``than``? Unknown phases count as early."""
    order = PHASES.index(phase) if phase in PHASES else 0
    return order <= PHASES.index(than)


def _finish(decision: Decision, code: int, reason: str, skipped: str | None = None) -> Step:
    return Step("finish", reason, decision, code, skipped)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise InconsistentFacts(what)


def decide(facts: Facts) -> Step:
    """The next step of the gate, given what happened so far (pure)."""
    limits = facts.limits
    if facts.suites is None:
        _require(facts.rollback is None, "a rollback without a suite run")
        _require(facts.verification is None, "a verification without a suite run")
        if facts.interrupted_by is not None:
            reason = f"interrupted by {facts.interrupted_by} during the preflight"
            return _finish("interrupted", EXIT_MISUSE, reason)
        if facts.preflight_problem is not None:
            return _finish("misconfigured", EXIT_MISUSE, f"preflight: {facts.preflight_problem}")
        return Step("suites", "the preflight passed")
    _require(facts.preflight_problem is None, "a suite run after a failed preflight")

    suites = facts.suites
    signal = facts.interrupted_by if _before(facts.interrupted_during, "suites") else None
    signal = signal or suites.stopped_by
    if signal is not None:
        started = suites.exit_code is not None
        state = f"pytest exit {suites.exit_code}" if started else pytest_meaning(suites)
        reason = f"interrupted by {signal} while the suites ran ({state})"
    else:
        problem = pytest_problem(suites, limits.timeout_s, "the suites")
        if problem is None:
            _require(facts.rollback is None, "a rollback after the suites passed")
            _require(facts.verification is None, "a verification after the suites passed")
            return _finish("passed", EXIT_PASSED, "all checks passed")
        if suites.exit_code in (4, 5) and not suites.timed_out:
            # Nothing was validated: a usage error or an empty selection is never a pass,
            # and no reason to roll back.
            _require(facts.rollback is None, "a rollback after a pytest usage error")
            _require(facts.verification is None, "a verification after a pytest usage error")
            if suites.exit_code == 5:
                problem += ": never a pass"
            return _finish("misconfigured", EXIT_MISUSE, problem)
        reason = problem

    rollback = facts.rollback
    if rollback is None:
        _require(facts.verification is None, "a verification without a rollback")
        return Step("rollback", reason)
    if not rollback.ok:
        _require(facts.verification is None, "a verification after a failed rollback")
        return _finish(
            "rollback_failed",
            EXIT_HUMAN,
            f"{reason}; the rollback {_rollback_failure(rollback, limits)}: a human must act",
            VERIFICATION_SKIPPED,
        )

    verification = facts.verification
    if verification is None:
        return Step("verification", reason)
    why = pytest_problem(verification, limits.verify_timeout_s, "it")
    if why is None:
        return _finish("rolled_back", EXIT_ROLLED_BACK, f"{reason}; rolled back and verified")
    return _finish(
        "verification_failed",
        EXIT_HUMAN,
        f"{reason}; rolled back, but the verification failed ({why}): a human must act",
    )


def _rollback_failure(rollback: Outcome, limits: Limits) -> str:
    if rollback.timed_out:
        return f"timed out after {_seconds(limits.rollback_timeout_s)} and was killed"
    if rollback.signal is not None:
        return f"was killed by {rollback.signal}"
    if rollback.exit_code is None:
        return "did not start"
    if rollback.stopped_by is not None and rollback.exit_code == 0:
        return f"was stopped by {rollback.stopped_by}"
    return f"failed (exit {rollback.exit_code})"
