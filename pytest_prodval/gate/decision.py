"""The release decision: a pure function of what happened in the gate's phases.

``decide(facts)`` looks at the preflight's problem (if any), the suites', the rollback's and
the verification's outcomes (``process.Outcome``: exit code, timed out, signal, stopped) and
the first signal the gate received, and answers with the next ``Step``: run the suites, roll
back, verify, or finish with a decision, an exit code and a one-line reason. The shell wrapper
runs what it is told; nothing here runs anything, so every combination is unit-tested
(tests/test_gate_decision.py).

pytest's exit codes mean the same here as everywhere else in the gate, and in prodval-watch's
run results: ``PYTEST_MEANING``.

A pass needs positive evidence, not only exit code 0 (``Evidence``, ``evidence_problem``): the
JUnit XML and the summary written by this run, every check the preflight collected reported,
at least one of them executed (not skipped), and the run in compare mode. A run that exits 0
without its reports, or that reported fewer checks than were collected, is a failure (the
release may have killed the runner: ``os._exit(0)`` in a check); a run whose every check was
skipped, or that recorded a baseline, validated nothing and is a misuse (exit 3).

pytest's internal error (exit 3: a full disk under the reports, a broken plugin, or a check
that raised ``Undecided``, e.g. a control deployment that failed) says nothing about the
release: rolled back only when its JUnit shows a check that had already failed, else
undecided (exit 3), so that a runner's problem never rolls back a good release.
"""

from __future__ import annotations

import dataclasses
import re
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
    "DataCheck",
    "Deployment",
    "Evidence",
    "Facts",
    "Limits",
    "Step",
    "command_failure",
    "data_problem",
    "decide",
    "evidence_problem",
    "preflight_problem",
    "pytest_meaning",
    "pytest_problem",
    "run_problem",
]

EXIT_PASSED, EXIT_ROLLED_BACK, EXIT_HUMAN, EXIT_MISUSE = 0, 1, 2, 3

Action = Literal[
    "suites",
    "rollback",
    "verification",
    "finish",
    "readiness",
    "snapshot",
    "backup",
    "deploy",
    "integrity",
    "restore",
    "rollback-integrity",
]
Decision = Literal[
    "passed",
    "rolled_back",
    "rollback_failed",
    "verification_failed",
    "misconfigured",
    "interrupted",
    "undecided",
    # --deploy only:
    "not_deployed",
    "restore_failed",
    "data_lost",
]
# The gate's phases in order; a signal is attributed to the phase it arrived in. The
# deployment run's (--deploy) are among them: readiness to deploy, integrity, restore and
# rollback-integrity.
PHASES = (
    "start",
    "preflight",
    "readiness",
    "snapshot",
    "backup",
    "deploy",
    "suites",
    "integrity",
    "rollback",
    "restore",
    "verification",
    "rollback-integrity",
    "record",
)

# pytest's exit codes, in the words the record, the reasons and prodval-watch's results use.
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
    # --deploy only
    deploy_timeout_s: float = 600.0
    backup_timeout_s: float = 900.0
    restore_timeout_s: float = 900.0
    snapshot_timeout_s: float = 300.0


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What a pytest run left behind that proves it ran (``state.py`` reads it from the files)."""

    junit: bool  # the JUnit XML exists, was written after the run started, and parses
    summary: bool  # prodval-summary.json likewise, and is a JSON object
    reported: int  # test cases in the JUnit XML
    executed: int  # of them, not skipped
    recorded: bool = False  # the summary says the run recorded a baseline (record mode)
    failed: int = 0  # of them, failed or errored
    undecided: str | None = None  # the summary's reason for stopping without a verdict


# Kinds of evidence problems: a failure is rolled back, a misuse validated nothing (exit 3).
EvidenceKind = Literal["failure", "misuse"]


def evidence_problem(
    evidence: Evidence | None, collected: int | None
) -> tuple[EvidenceKind, str] | None:
    """Why a run that exited 0 is still no pass; None when its evidence is complete.

    ``collected``: how many checks the preflight collected with the same selection (None: not
    compared, as for the verification, whose selection the preflight does not collect).
    """
    if evidence is None or not evidence.junit:
        return "failure", "pytest exited 0 but wrote no JUnit report (the run did not finish)"
    if not evidence.summary:
        return "failure", "pytest exited 0 but wrote no prodval summary (the run did not finish)"
    if evidence.recorded:
        return "misuse", "the run recorded a baseline: a gate compares, never records"
    if collected is not None and evidence.reported != collected:
        return "failure", (
            f"pytest exited 0 but reported {evidence.reported} of the {collected} checks "
            "the preflight collected"
        )
    if evidence.reported == 0:
        return "failure", "pytest exited 0 but reported no checks"
    if evidence.executed == 0:
        return "misuse", (
            f"every one of the {evidence.reported} checks was skipped: nothing was validated"
        )
    return None


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
    collected: int | None = None  # checks the preflight collected (None: not known)
    suites_evidence: Evidence | None = None  # None: no reports at all
    verification_evidence: Evidence | None = None
    deployment: Deployment | None = None  # --deploy: the deployment run's phases


@dataclasses.dataclass(frozen=True)
class DataCheck:
    """The data snapshot or one of its checks (``integrity.py``): how its child ended, whether
    the data matched the snapshot, what differs."""

    outcome: Outcome
    matched: bool | None  # None: no comparison (the snapshot itself, or the check failed)
    error: str | None = None  # the child's one line when it could not read the tables
    differences: tuple[str, ...] = ()
    # Rows the check accounted for without a difference (added, erased on purpose), per table;
    # said on stderr, never part of the decision.
    accounted: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Deployment:
    """What the deployment run (``--deploy``) did so far; None for a phase not run."""

    readiness: Outcome | None = None
    readiness_evidence: Evidence | None = None
    snapshot: DataCheck | None = None
    backup_given: bool = False
    backup: Outcome | None = None
    deploy: Outcome | None = None
    integrity: DataCheck | None = None  # after the suites passed
    restore_given: bool = False
    restore: Outcome | None = None
    rollback_integrity: DataCheck | None = None  # after the rollback (and restore)


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
    if facts.deployment is not None:
        return _decide_deployment(facts, facts.deployment)
    return _decide_gate(facts)


def _decide_gate(facts: Facts) -> Step:
    """The gate after someone else deployed (no ``--deploy``)."""
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
            found = evidence_problem(facts.suites_evidence, facts.collected)
            if found is None and facts.collected is None:
                found = "failure", "the preflight's count of collected checks is missing"
            if found is None:
                _require(facts.rollback is None, "a rollback after the suites passed")
                _require(facts.verification is None, "a verification after the suites passed")
                return _finish("passed", EXIT_PASSED, "all checks passed")
            kind, problem = found
            if kind == "misuse":
                _require(facts.rollback is None, "a rollback after a run that validated nothing")
                _require(facts.verification is None, "a verification after a misuse")
                return _finish("misconfigured", EXIT_MISUSE, f"{problem}: never a pass")
        if _internal_error(suites) and not _failed_checks(facts.suites_evidence):
            _require(facts.rollback is None, "a rollback after an internal error, no check failed")
            _require(facts.verification is None, "a verification after an undecided run")
            undecided = facts.suites_evidence.undecided if facts.suites_evidence else None
            if undecided is not None:
                return _finish(
                    "undecided",
                    EXIT_MISUSE,
                    f"undecided: {undecided}; nothing shows the release bad or good, so it "
                    "is not rolled back",
                )
            return _finish(
                "undecided",
                EXIT_MISUSE,
                f"{problem} before any check failed: nothing shows the release bad or good, "
                "so it is not rolled back (see the suites' log: a full disk, a broken plugin)",
            )
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
    why = _verification_problem(verification, facts.verification_evidence, limits)
    if why is None:
        return _finish("rolled_back", EXIT_ROLLED_BACK, f"{reason}; rolled back and verified")
    return _finish(
        "verification_failed",
        EXIT_HUMAN,
        f"{reason}; rolled back, but the verification failed ({why}): a human must act",
    )


def _verification_problem(
    verification: Outcome, evidence: Evidence | None, limits: Limits
) -> str | None:
    """Why the verification did not pass; None when it did (exit 0 and its evidence)."""
    why = run_problem(verification, evidence, limits.verify_timeout_s, "it")
    stopped = verification.stopped_by is not None and not verification.timed_out
    if why is not None and stopped and not verification.ok:  # pytest's own failure: say why
        started = verification.exit_code is not None
        why = f"it was stopped by {verification.stopped_by}" + (
            f" (pytest exit {verification.exit_code})" if started else " before it started"
        )
    return why


def run_problem(
    outcome: Outcome, evidence: Evidence | None, timeout_s: float, what: str
) -> str | None:
    """Why a readiness or verification run (``what``: "they", "it") did not pass; None when it
    did: pytest exited 0 within ``timeout_s`` and its JUnit and summary are this run's."""
    why = pytest_problem(outcome, timeout_s, what)
    if why is None:
        found = evidence_problem(evidence, None)
        why = found[1] if found is not None else None
    return why


def _internal_error(run: Outcome) -> bool:
    return run.exit_code == 3 and not run.timed_out and run.signal is None


def _failed_checks(evidence: Evidence | None) -> int:
    """Checks the run's own JUnit shows failed (0 without a JUnit of this run)."""
    return evidence.failed if evidence is not None and evidence.junit else 0


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


# --- the deployment run (--deploy) ------------------------------------------------------------

NOTHING_DEPLOYED = "nothing was deployed"
RESTORE_SKIPPED = "the restore failed; the restored state cannot be verified"


def command_failure(outcome: Outcome, limit_s: float) -> str:
    """How a command phase (deploy, backup, restore) failed, after ``the deploy``."""
    if outcome.timed_out:
        return f"timed out after {_seconds(limit_s)} and was killed"
    if outcome.signal is not None:
        return f"was killed by {outcome.signal}"
    if outcome.exit_code is None:
        return "did not start"
    if outcome.stopped_by is not None:
        return f"was stopped by {outcome.stopped_by}"
    return f"failed (exit {outcome.exit_code})"


def data_problem(check: DataCheck, limit_s: float, what: str) -> str | None:
    """Why the data snapshot or a check (``what``) gave no answer; None when it did."""
    outcome = check.outcome
    if outcome.timed_out:
        return f"{what} did not finish within {_seconds(limit_s)}"
    if outcome.stopped_by is not None:
        started = outcome.exit_code is not None
        return f"{what} was stopped by {outcome.stopped_by}" + ("" if started else " first")
    if outcome.signal is not None:
        return f"{what} was killed by {outcome.signal}"
    if outcome.exit_code is None:
        return f"{what} did not start"
    if check.error is not None:
        return f"{what} failed: {check.error}"
    if outcome.exit_code != 0:
        return f"{what} failed (exit {outcome.exit_code})"
    return None


def _check_answer(check: DataCheck, limit_s: float) -> tuple[str | None, tuple[str, ...]]:
    """(why the integrity check gave no answer, the differences it found)."""
    problem = data_problem(check, limit_s, "the data integrity check")
    if problem is None and check.matched is None:
        problem = "the data integrity check wrote no comparison"
    if problem is not None:
        return problem, ()
    if check.matched:
        return None, ()
    return None, check.differences or ("(differences not named)",)


def _nothing_after(facts: Facts, what: str, *, suites: bool = True, integrity: bool = True) -> None:
    d = facts.deployment
    assert d is not None
    if suites:
        _require(facts.suites is None, f"a suite run {what}")
    _require(facts.rollback is None, f"a rollback {what}")
    _require(facts.verification is None, f"a verification {what}")
    if integrity:
        _require(d.integrity is None, f"an integrity check {what}")
    _require(d.restore is None, f"a restore {what}")
    _require(d.rollback_integrity is None, f"an integrity check after a rollback {what}")


def _decide_deployment(facts: Facts, d: Deployment) -> Step:
    """The deployment run: prerequisites, snapshot, backup, deploy, the suites, the data; on
    failure rollback, restore, verification and the data again (docs/gate.md)."""
    limits = facts.limits
    if d.deploy is None:
        _nothing_after(facts, "before the deploy")
        if facts.interrupted_by is not None:
            during = facts.interrupted_during
            where = during if during in PHASES[2:6] else "preflight"
            reason = f"interrupted by {facts.interrupted_by} during the {where}: {NOTHING_DEPLOYED}"
            return _finish("interrupted", EXIT_MISUSE, reason)
        if facts.preflight_problem is not None:
            return _finish("misconfigured", EXIT_MISUSE, f"preflight: {facts.preflight_problem}")
        if d.readiness is None:
            _require(d.snapshot is None and d.backup is None, "a snapshot before the readiness")
            return Step("readiness", "the preflight passed")
        why = run_problem(d.readiness, d.readiness_evidence, limits.verify_timeout_s, "they")
        if why is not None:
            _require(d.snapshot is None and d.backup is None, "a snapshot after no readiness")
            reason = f"the current release failed its readiness checks ({why}): {NOTHING_DEPLOYED}"
            return _finish("not_deployed", EXIT_MISUSE, reason)
        if d.snapshot is None:
            _require(d.backup is None, "a backup before the snapshot")
            return Step("snapshot", "the current release is ready")
        problem = data_problem(d.snapshot, limits.snapshot_timeout_s, "the data snapshot")
        if problem is not None:
            _require(d.backup is None, "a backup after a failed snapshot")
            return _finish("not_deployed", EXIT_MISUSE, f"{problem}: {NOTHING_DEPLOYED}")
        if not d.backup_given:
            _require(d.backup is None, "a backup without a backup command")
        elif d.backup is None:
            return Step("backup", "the data snapshot was taken")
        elif not d.backup.ok:
            failure = command_failure(d.backup, limits.backup_timeout_s)
            return _finish("not_deployed", EXIT_MISUSE, f"the backup {failure}: {NOTHING_DEPLOYED}")
        return Step("deploy", "the prerequisites passed")

    _require(facts.preflight_problem is None, "a deploy after a failed preflight")
    _require(d.readiness is not None and d.snapshot is not None, "a deploy without prerequisites")
    deploy = d.deploy
    if deploy.exit_code is None and deploy.stopped_by is not None:  # the signal came first
        _nothing_after(facts, "after a deploy that never started")
        reason = f"interrupted by {deploy.stopped_by} before the deploy started: {NOTHING_DEPLOYED}"
        return _finish("interrupted", EXIT_MISUSE, reason)
    signal = facts.interrupted_by if _before(facts.interrupted_during, "deploy") else None
    if not deploy.ok:
        _require(d.integrity is None, "an integrity check after a failed deploy")
        _require(facts.suites is None, "a suite run after a failed deploy")
        reason = f"the deploy {command_failure(deploy, limits.deploy_timeout_s)}"
    elif signal is not None:
        _require(facts.suites is None, "a suite run after a signal during the deploy")
        _require(d.integrity is None, "an integrity check after a signal during the deploy")
        reason = f"interrupted by {signal} while the release was deployed"
    elif facts.suites is None:
        _nothing_after(facts, "before the suites", suites=False)
        return Step("suites", "the release is deployed")
    else:
        during = facts.interrupted_during
        in_suites = facts.interrupted_by if during == "suites" else None
        core = _decide_gate(
            dataclasses.replace(
                facts,
                rollback=None,
                verification=None,
                deployment=None,
                interrupted_by=in_suites,
                interrupted_during="suites" if in_suites else None,
            )
        )
        if core.action == "finish" and core.decision != "passed":
            _nothing_after(facts, "after a run that validated nothing", suites=False)
            return core
        if core.action == "finish":  # the checks passed: now the data
            if d.integrity is None:
                _nothing_after(facts, "before the integrity check", suites=False)
                return Step("integrity", "all checks passed")
            problem, differences = _check_answer(d.integrity, limits.snapshot_timeout_s)
            late = facts.interrupted_by if during == "integrity" else None
            if problem is None and late is not None:
                problem = f"interrupted by {late} during the data integrity check"
            if problem is None and not differences:
                _nothing_after(facts, "after a pass", suites=False, integrity=False)
                return _finish(
                    "passed", EXIT_PASSED, "all checks passed; the data matched the snapshot"
                )
            reason = problem or (
                "all checks passed, but the release changed data the snapshot holds ("
                + "; ".join(_without_examples(line) for line in differences)
                + ")"
            )
        else:
            _require(d.integrity is None, "an integrity check after failed suites")
            reason = core.reason
    return _after_release_failed(facts, d, reason)


def _without_examples(line: str) -> str:
    """A difference line without its keys: ``documents: 2 missing; 1 changed of ...``."""
    return re.sub(r" \([^()]*\)", "", line)


def _after_release_failed(facts: Facts, d: Deployment, reason: str) -> Step:
    limits = facts.limits
    rollback = facts.rollback
    if rollback is None:
        _require(facts.verification is None, "a verification without a rollback")
        _require(d.restore is None, "a restore without a rollback")
        _require(d.rollback_integrity is None, "an integrity check without a rollback")
        return Step("rollback", reason)
    if not rollback.ok:
        _require(facts.verification is None, "a verification after a failed rollback")
        _require(d.restore is None, "a restore after a failed rollback")
        _require(d.rollback_integrity is None, "an integrity check after a failed rollback")
        return _finish(
            "rollback_failed",
            EXIT_HUMAN,
            f"{reason}; the rollback {_rollback_failure(rollback, limits)}: a human must act",
            VERIFICATION_SKIPPED,
        )
    restored = ""
    if not d.restore_given:
        _require(d.restore is None, "a restore without a restore command")
    elif d.restore is None:
        _require(facts.verification is None, "a verification before the restore")
        _require(d.rollback_integrity is None, "an integrity check before the restore")
        return Step("restore", reason)
    elif not d.restore.ok:
        _require(facts.verification is None, "a verification after a failed restore")
        _require(d.rollback_integrity is None, "an integrity check after a failed restore")
        failure = command_failure(d.restore, limits.restore_timeout_s)
        return _finish(
            "restore_failed",
            EXIT_HUMAN,
            f"{reason}; rolled back, but the restore {failure}: the data is in an unknown "
            "state, a human must act",
            RESTORE_SKIPPED,
        )
    else:
        restored = " and restored"
    verification = facts.verification
    if verification is None:
        _require(d.rollback_integrity is None, "an integrity check before the verification")
        return Step("verification", reason)
    if d.rollback_integrity is None:
        return Step("rollback-integrity", reason)
    why = _verification_problem(verification, facts.verification_evidence, limits)
    problem, differences = _check_answer(d.rollback_integrity, limits.snapshot_timeout_s)
    also = f"; the verification failed too ({why})" if why is not None else ""
    if differences:
        return _finish(
            "data_lost",
            EXIT_HUMAN,
            f"{reason}; rolled back{restored}, but the data differs from the snapshot: "
            f"{'; '.join(differences)}{also}: a human must act",
        )
    if problem is not None:
        return _finish(
            "verification_failed",
            EXIT_HUMAN,
            f"{reason}; rolled back{restored}, but {problem}{also}: a human must act",
        )
    if why is not None:
        return _finish(
            "verification_failed",
            EXIT_HUMAN,
            f"{reason}; rolled back{restored}, but the verification failed ({why}); the data "
            "matched the snapshot: a human must act",
        )
    return _finish(
        "rolled_back",
        EXIT_ROLLED_BACK,
        f"{reason}; rolled back{restored} and verified; the data matched the snapshot",
    )
