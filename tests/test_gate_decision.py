"""The gate's release decision (pytest_prodval/gate/decision.py) over every combination.

``decide`` is pure, so every combination of phase outcomes is tried: each either raises
``InconsistentFacts`` (a state no gate run can reach) or gives a step that keeps the gate's
promises. A walk from an empty run, answering each step from one combination, checks that the
steps chain: no phase asked twice, a finish within four steps. The runs' evidence (JUnit,
summary, reported and executed checks against the preflight's collected count) is part of
every combination: exit 0 alone is never a pass.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from pytest_prodval.errors import InconsistentFacts
from pytest_prodval.gate.decision import (
    EXIT_HUMAN,
    EXIT_MISUSE,
    EXIT_PASSED,
    EXIT_ROLLED_BACK,
    Evidence,
    Facts,
    Limits,
    Step,
    decide,
    evidence_problem,
    preflight_problem,
    pytest_problem,
)
from pytest_prodval.process import Outcome

LIMITS = Limits(timeout_s=900, verify_timeout_s=600, rollback_timeout_s=300, collect_s=300)
EXIT_OF = {
    "passed": EXIT_PASSED,
    "rolled_back": EXIT_ROLLED_BACK,
    "rollback_failed": EXIT_HUMAN,
    "verification_failed": EXIT_HUMAN,
    "misconfigured": EXIT_MISUSE,
    "interrupted": EXIT_MISUSE,
    "undecided": EXIT_MISUSE,
}


def outcome(
    code: int | None,
    timed_out: bool = False,
    signal: str | None = None,
    stopped_by: str | None = None,
) -> Outcome:
    return Outcome(code, timed_out, signal, stopped_by, 0.0, 1.0)


def pytest_outcomes() -> Iterator[Outcome]:
    """pytest's codes 0-5 and an odd one, each plain, timed out, killed, stopped; not started."""
    for code, timed_out, killed, stopped in itertools.product(
        (0, 1, 2, 3, 4, 5, 7), (False, True), (False, True), (None, "SIGINT")
    ):
        yield outcome(137 if killed else code, timed_out, "SIGKILL" if killed else None, stopped)
    yield outcome(None)
    yield outcome(None, stopped_by="SIGTERM")


ROLLBACKS = [
    outcome(0),
    outcome(1),
    outcome(137, timed_out=True, signal="SIGKILL"),
    outcome(0, timed_out=True),  # exited at its SIGTERM: still a timed-out rollback
    outcome(None),
]
VERIFICATIONS = [
    outcome(0),
    outcome(1),
    outcome(5),
    outcome(2, timed_out=True),
    outcome(137, timed_out=True, signal="SIGKILL"),
    outcome(137, signal="SIGKILL"),
]
INTERRUPTIONS = [
    (None, None),
    ("SIGTERM", "start"),
    ("SIGTERM", "preflight"),
    ("SIGINT", "suites"),
    ("SIGTERM", "rollback"),
    ("SIGINT", "verification"),
]
PREFLIGHTS = [None, "pytest refused to start (exit 4): bad config"]
COLLECTED = 2  # what the preflight collected
COMPLETE = Evidence(junit=True, summary=True, reported=COLLECTED, executed=1)
# What a run that exited 0 may have left: everything, nothing, or less than a pass needs.
SUITES_EVIDENCE: list[Evidence | None] = [
    COMPLETE,
    None,  # os._exit(0) before the reports, --collect-only, --fixtures, ...
    Evidence(junit=False, summary=True, reported=0, executed=0),
    Evidence(junit=True, summary=False, reported=COLLECTED, executed=COLLECTED),
    Evidence(junit=True, summary=True, reported=1, executed=1),  # 1 of the 2 collected
    Evidence(junit=True, summary=True, reported=0, executed=0),
    Evidence(junit=True, summary=True, reported=COLLECTED, executed=0),  # all skipped
    Evidence(junit=True, summary=True, reported=COLLECTED, executed=1, recorded=True),
]
VERIFICATION_EVIDENCE: list[Evidence | None] = [
    COMPLETE,
    None,
    Evidence(junit=True, summary=True, reported=1, executed=0),
]


def complete(evidence: Evidence | None, collected: int | None) -> bool:
    """All a pass needs (written without evidence_problem's help)."""
    return (
        evidence is not None
        and evidence.junit
        and evidence.summary
        and not evidence.recorded
        and evidence.reported > 0
        and evidence.executed > 0
        and (collected is None or evidence.reported == collected)
    )


def validated_nothing(evidence: Evidence | None) -> bool:
    """Exit 0 with reports that show nothing was validated: a misuse, not a failure."""
    return (
        evidence is not None
        and evidence.junit
        and evidence.summary
        and (
            evidence.recorded
            or (evidence.reported == COLLECTED and evidence.reported > 0 and not evidence.executed)
        )
    )


# A run whose JUnit shows a failed check; and one that left no reports (an internal error).
FAILED_EVIDENCE = Evidence(junit=True, summary=True, reported=COLLECTED, executed=2, failed=1)


def with_evidence(
    outcomes: list[Outcome], variants: list[Evidence | None]
) -> list[tuple[Outcome, Evidence | None]]:
    """Each outcome with complete evidence; those that exited 0 with every variant too, and
    the others with reports that show a failed check, or no reports at all, too."""
    pairs: list[tuple[Outcome, Evidence | None]] = []
    for run in outcomes:
        others = [COMPLETE, FAILED_EVIDENCE, None]
        pairs.extend((run, evidence) for evidence in (variants if run.ok else others))
    return pairs


def undecided(f: Facts) -> bool:
    """pytest's internal error, and its own JUnit shows no failed check: nothing judged."""
    run, evidence = f.suites, f.suites_evidence
    return (
        run is not None
        and run.exit_code == 3
        and not run.timed_out
        and run.signal is None
        and not (evidence is not None and evidence.junit and evidence.failed)
    )


SUITE_RUNS = with_evidence(list(pytest_outcomes()), SUITES_EVIDENCE)
VERIFICATION_RUNS = with_evidence(VERIFICATIONS, VERIFICATION_EVIDENCE)


def facts(
    preflight: str | None,
    suites: Outcome | None,
    rollback: Outcome | None,
    verification: Outcome | None,
    interruption: tuple[str | None, str | None],
    suites_evidence: Evidence | None = COMPLETE,
    verification_evidence: Evidence | None = COMPLETE,
) -> Facts:
    return Facts(
        preflight,
        suites,
        rollback,
        verification,
        *interruption,
        limits=LIMITS,
        collected=COLLECTED,
        suites_evidence=suites_evidence if suites is not None else None,
        verification_evidence=verification_evidence if verification is not None else None,
    )


def suites_clean(f: Facts) -> bool:
    """The suites' own facts allow a pass: exit 0 with complete evidence, not interrupted."""
    signal, during = f.interrupted_by, f.interrupted_during
    interrupted = signal is not None and during in ("start", "preflight", "suites")
    return (
        f.suites is not None
        and f.suites.ok
        and not interrupted
        and complete(f.suites_evidence, f.collected)
    )


def check_invariants(f: Facts, step: Step) -> None:
    assert step.reason and "\n" not in step.reason
    if step.action == "finish":
        assert step.decision is not None and step.exit_code == EXIT_OF[step.decision]
    else:
        assert step.decision is None and step.exit_code is None
    # Exit 0 only for a clean suite run and nothing rolled back.
    if step.exit_code == EXIT_PASSED:
        assert suites_clean(f)
        assert f.rollback is None and f.verification is None
        assert step.reason == "all checks passed"
    # Never a rollback twice, never a verification after a failed rollback.
    if step.action == "rollback":
        assert f.rollback is None and f.suites is not None
        assert not suites_clean(f)
    if step.action == "verification":
        assert f.rollback is not None and f.rollback.ok and f.verification is None
    if f.rollback is not None and not f.rollback.ok:
        assert step.action == "finish" and step.exit_code == EXIT_HUMAN
        assert step.decision == "rollback_failed" and step.verification_skipped
    # Once a rollback ran, the answer is 1 or 2, never "passed" nor "nothing happened".
    if f.rollback is not None and step.action == "finish":
        assert step.exit_code in (EXIT_ROLLED_BACK, EXIT_HUMAN)
    if step.exit_code == EXIT_ROLLED_BACK:
        assert f.rollback is not None and f.rollback.ok
        assert f.verification is not None and f.verification.ok
        assert complete(f.verification_evidence, None)
    # Exit 0 without the reports of all the collected checks is never a pass.
    if f.suites is not None and not complete(f.suites_evidence, f.collected):
        assert step.exit_code != EXIT_PASSED
    # A killed or timed-out pytest run is never a pass, and exits 4/5 are never 0.
    if f.suites is not None and (f.suites.signal or f.suites.timed_out):
        assert step.exit_code != EXIT_PASSED
    if f.suites is not None and f.suites.exit_code in (4, 5):
        assert step.exit_code != EXIT_PASSED
    # No suites without a clean preflight; a failed preflight is exit 3 and nothing else runs.
    if step.action == "suites":
        assert f.preflight_problem is None and f.interrupted_by is None and f.suites is None
    if f.preflight_problem is not None:
        assert step.action == "finish" and step.exit_code == EXIT_MISUSE
    # pytest's internal error before any check failed is never rolled back, never a pass.
    signal, during = f.interrupted_by, f.interrupted_during
    stopped = f.suites is not None and f.suites.stopped_by is not None
    if undecided(f) and not stopped and not (signal and during in ("start", "preflight", "suites")):
        assert (step.decision, step.exit_code) == ("undecided", EXIT_MISUSE)


def all_facts() -> Iterator[Facts]:
    for preflight, (suites, evidence), rollback, (
        verification,
        checked,
    ), interruption in itertools.product(
        PREFLIGHTS,
        [(None, None), *SUITE_RUNS],
        [None, *ROLLBACKS],
        [(None, None), *VERIFICATION_RUNS],
        INTERRUPTIONS,
    ):
        yield facts(preflight, suites, rollback, verification, interruption, evidence, checked)


def reachable(f: Facts) -> bool:
    """Could a gate run have produced these facts? (Written without decide's help.)"""
    if f.suites is None:
        return f.rollback is None and f.verification is None
    if f.preflight_problem is not None:
        return False
    signal, during = f.interrupted_by, f.interrupted_during
    interrupted = f.suites.stopped_by is not None or (
        signal is not None and during in ("start", "preflight", "suites")
    )
    if f.rollback is not None:
        nothing_validated = (
            (f.suites.exit_code in (4, 5) and not f.suites.timed_out)
            or (f.suites.ok and validated_nothing(f.suites_evidence))
            or undecided(f)
        )
        if not interrupted and (suites_clean(f) or nothing_validated):
            return False
    if f.verification is not None:
        return f.rollback is not None and f.rollback.ok
    return True


def test_every_combination_is_refused_as_impossible_or_keeps_the_gates_promises() -> None:
    decided = refused = 0
    for f in all_facts():
        try:
            step = decide(f)
        except InconsistentFacts:
            refused += 1
            assert not reachable(f), f
            continue
        decided += 1
        assert reachable(f), f
        check_invariants(f, step)
    assert decided > 1000 and refused > 1000


def test_every_run_walked_from_the_start_finishes_and_never_repeats_a_phase() -> None:
    walks = 0
    for preflight, (suites, evidence), rollback, (
        verification,
        checked,
    ), interruption in itertools.product(
        PREFLIGHTS, SUITE_RUNS, ROLLBACKS, VERIFICATION_RUNS, INTERRUPTIONS
    ):
        signal, during = interruption
        known: dict[str, Outcome] = {}
        answers = {"suites": suites, "rollback": rollback, "verification": verification}
        for _ in range(4):
            # A signal counts once the gate has reached the phase it arrived in.
            reached = during in ("start", "preflight") or during in known
            f = facts(
                preflight,
                known.get("suites"),
                known.get("rollback"),
                known.get("verification"),
                (signal, during) if reached else (None, None),
                evidence,
                checked,
            )
            step = decide(f)
            check_invariants(f, step)
            if step.action == "finish":
                break
            assert step.action not in known
            known[step.action] = answers[step.action]
        else:
            pytest.fail(f"no decision after four steps: {known}")
        walks += 1
    runs = len(SUITE_RUNS) * len(VERIFICATION_RUNS)
    assert walks == len(PREFLIGHTS) * runs * len(ROLLBACKS) * len(INTERRUPTIONS)


@pytest.mark.parametrize(
    ("suites", "reason"),
    [
        (outcome(1), "checks failed (pytest exit 1)"),
        (outcome(2), "pytest was interrupted (pytest exit 2)"),
        (outcome(137, signal="SIGKILL"), "pytest was killed by SIGKILL"),
        (outcome(2, timed_out=True), "the suites did not finish within 900s"),
        (outcome(137, True, "SIGKILL"), "the suites did not finish within 900s"),
        (outcome(7), "pytest exited with unexpected code 7 (pytest exit 7)"),
    ],
)
def test_a_failed_suite_run_is_rolled_back_with_its_reason(suites: Outcome, reason: str) -> None:
    step = decide(facts(None, suites, None, None, (None, None)))
    assert step == Step("rollback", reason)


def test_a_sigkilled_verification_is_reported_like_a_sigkilled_suite_run() -> None:
    killed = outcome(137, timed_out=True, signal="SIGKILL")
    step = decide(facts(None, outcome(1), outcome(0), killed, (None, None)))
    assert step.decision == "verification_failed"
    assert "the verification failed (it did not finish within 600s)" in step.reason
    assert pytest_problem(killed, 600, "the suites") == "the suites did not finish within 600s"
    untimed = outcome(137, signal="SIGKILL")
    assert pytest_problem(untimed, 600, "it") == "pytest was killed by SIGKILL"


def test_usage_errors_and_empty_selections_are_never_a_pass_and_never_rolled_back() -> None:
    for code, words in ((4, "pytest usage error"), (5, "never a pass")):
        step = decide(facts(None, outcome(code), None, None, (None, None)))
        assert (step.decision, step.exit_code) == ("misconfigured", EXIT_MISUSE)
        assert words in step.reason


def test_a_signal_while_the_suites_ran_rolls_back_even_if_they_passed() -> None:
    step = decide(facts(None, outcome(0), None, None, ("SIGTERM", "suites")))
    assert step == Step("rollback", "interrupted by SIGTERM while the suites ran (pytest exit 0)")


def test_a_signal_during_the_rollback_changes_nothing() -> None:
    step = decide(facts(None, outcome(1), outcome(0), outcome(0), ("SIGTERM", "rollback")))
    assert step.decision == "rolled_back"
    assert step.reason == "checks failed (pytest exit 1); rolled back and verified"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"files_problem": "config x: not found or unreadable"}, "config x: not found"),
        ({"outcome": outcome(5)}, "no checks were collected with this selection (pytest exit 5)"),
        ({"outcome": outcome(4)}, "pytest refused to start (exit 4): last"),
        ({"outcome": outcome(2, timed_out=True)}, "collecting the checks took longer than 300s"),
        ({"outcome": outcome(0), "verify_problem": "no selection"}, "no selection"),
        ({"outcome": outcome(0)}, None),
    ],
)
def test_the_preflight_problem_names_what_went_wrong(
    kwargs: dict[str, object], problem: str | None
) -> None:
    arguments: dict[str, object] = {
        "outcome": None,
        "files_problem": None,
        "last_line": "last",
        "verify_problem": None,
        "collect_s": 300.0,
        **kwargs,
    }
    found = preflight_problem(**arguments)  # type: ignore[arg-type]
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("evidence", "decision", "words"),
    [
        (None, "rollback", "wrote no JUnit report (the run did not finish)"),
        (SUITES_EVIDENCE[2], "rollback", "wrote no JUnit report"),
        (SUITES_EVIDENCE[3], "rollback", "wrote no prodval summary"),
        (SUITES_EVIDENCE[4], "rollback", "reported 1 of the 2 checks the preflight collected"),
        (SUITES_EVIDENCE[6], "misconfigured", "every one of the 2 checks was skipped"),
        (SUITES_EVIDENCE[7], "misconfigured", "recorded a baseline"),
    ],
    ids=["no reports", "no junit", "no summary", "fewer reported", "all skipped", "recorded"],
)
def test_exit_0_without_evidence_is_a_failure_or_a_misuse_never_a_pass(
    evidence: Evidence | None, decision: str, words: str
) -> None:
    step = decide(facts(None, outcome(0), None, None, (None, None), evidence))
    assert (step.decision or step.action) == decision
    assert words in step.reason
    assert step.exit_code == (EXIT_MISUSE if decision == "misconfigured" else None)


def test_a_verification_that_exited_0_without_evidence_failed() -> None:
    step = decide(facts(None, outcome(1), outcome(0), outcome(0), (None, None), COMPLETE, None))
    assert step.decision == "verification_failed" and step.exit_code == EXIT_HUMAN
    assert "the verification failed (pytest exited 0 but wrote no JUnit report" in step.reason


def test_the_collected_count_is_compared_only_when_known() -> None:
    fewer = Evidence(junit=True, summary=True, reported=1, executed=1)
    assert evidence_problem(fewer, None) is None
    assert evidence_problem(fewer, 2) is not None
    assert evidence_problem(COMPLETE, 2) is None


def test_suites_are_no_pass_without_the_preflights_count() -> None:
    unknown = Facts(None, outcome(0), None, None, None, None, LIMITS, None, COMPLETE, None)
    step = decide(unknown)
    assert step == Step("rollback", "the preflight's count of collected checks is missing")


def test_an_internal_error_before_any_check_failed_is_undecided_never_a_rollback() -> None:
    # A full disk under the reports or a broken plugin: nothing about the release.
    for evidence in (None, COMPLETE):
        step = decide(facts(None, outcome(3), None, None, (None, None), evidence))
        assert (step.decision, step.exit_code) == ("undecided", EXIT_MISUSE)
        assert step.reason.startswith("pytest hit an internal error (pytest exit 3) before any")
    # Its JUnit shows a check that had failed: that is the release's, rolled back.
    step = decide(facts(None, outcome(3), None, None, (None, None), FAILED_EVIDENCE))
    assert step == Step("rollback", "pytest hit an internal error (pytest exit 3)")


def test_an_undecided_run_names_its_reason_and_is_rolled_back_only_after_a_failed_check() -> None:
    reason = "the control deployment blue failed under load (error ratio 40.0% ...)"
    for evidence in (COMPLETE, FAILED_EVIDENCE):
        says = dataclasses.replace(evidence, undecided=reason)
        step = decide(facts(None, outcome(3), None, None, (None, None), says))
        if evidence is COMPLETE:
            assert (step.decision, step.exit_code) == ("undecided", EXIT_MISUSE)
            assert step.reason.startswith(f"undecided: {reason}; nothing shows the release")
        else:
            assert step == Step("rollback", "pytest hit an internal error (pytest exit 3)")
