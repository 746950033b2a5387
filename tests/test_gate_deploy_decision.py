"""The deployment run's decision (``prodval-gate --deploy``) and the data comparison, purely.

``decide()`` is walked from the start over every combination of the phases' outcomes (each
step answered from the combination, as the wrapper would run it) and its promises are checked
at every step; a few runs are spelled out with their reasons. ``integrity.compare_table`` is
tried on the kinds of difference it names.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from pytest_prodval.errors import GateUsageError
from pytest_prodval.gate.arguments import parse
from pytest_prodval.gate.decision import (
    EXIT_HUMAN,
    EXIT_MISUSE,
    EXIT_PASSED,
    EXIT_ROLLED_BACK,
    DataCheck,
    Deployment,
    Evidence,
    Facts,
    Limits,
    Step,
    decide,
)
from pytest_prodval.gate.integrity import IN_FLIGHT_S, checksum, compare, compare_table
from pytest_prodval.process import Outcome

LIMITS = Limits(timeout_s=900, verify_timeout_s=600, rollback_timeout_s=300, collect_s=300)
COMPLETE = Evidence(junit=True, summary=True, reported=2, executed=2)
FAILED = Evidence(junit=True, summary=True, reported=2, executed=2, failed=1)
EXIT_OF = {
    "passed": EXIT_PASSED,
    "rolled_back": EXIT_ROLLED_BACK,
    "rollback_failed": EXIT_HUMAN,
    "verification_failed": EXIT_HUMAN,
    "restore_failed": EXIT_HUMAN,
    "data_lost": EXIT_HUMAN,
    "misconfigured": EXIT_MISUSE,
    "interrupted": EXIT_MISUSE,
    "undecided": EXIT_MISUSE,
    "not_deployed": EXIT_MISUSE,
}
LOSS = ("documents: 2 missing (a, b); 1 changed (c) of the snapshot's 10 rows",)


def outcome(
    code: int | None, timed_out: bool = False, signal: str | None = None, stopped: str | None = None
) -> Outcome:
    return Outcome(code, timed_out, signal, stopped, 0.0, 1.0)


OK = outcome(0)
COMMANDS = [OK, outcome(1), outcome(143, timed_out=True, signal="SIGTERM")]
PYTEST_RUNS = [OK, outcome(1), outcome(5), outcome(2, timed_out=True)]
MATCHED = DataCheck(OK, True)
DIFFERS = DataCheck(OK, False, differences=LOSS)
CHECKS = [MATCHED, DIFFERS, DataCheck(outcome(1), None, error="cannot read documents: denied")]
CHECKS_SLOW = [*CHECKS, DataCheck(outcome(143, timed_out=True, signal="SIGTERM"), None)]
SNAPSHOTS = [DataCheck(OK, None), DataCheck(outcome(1), None, error="cannot connect")]
SIGNALS = [(None, None), ("SIGTERM", "readiness"), ("SIGTERM", "deploy"), ("SIGINT", "suites")]


def run(answers: dict[str, object], signal: tuple[str | None, str | None]) -> list[Step]:
    """Walk decide() from the start, each step answered from ``answers``; the steps taken."""
    known: dict[str, object] = {}
    steps = []
    for _ in range(14):
        reached = signal[1] in known or signal[1] in ("start", "preflight")
        sig, during = signal if reached else (None, None)
        deployment = Deployment(
            readiness=known.get("readiness"),  # type: ignore[arg-type]
            readiness_evidence=COMPLETE if "readiness" in known else None,
            snapshot=known.get("snapshot"),  # type: ignore[arg-type]
            backup_given="backup" in answers,
            backup=known.get("backup"),  # type: ignore[arg-type]
            deploy=known.get("deploy"),  # type: ignore[arg-type]
            integrity=known.get("integrity"),  # type: ignore[arg-type]
            restore_given="restore" in answers,
            restore=known.get("restore"),  # type: ignore[arg-type]
            rollback_integrity=known.get("rollback-integrity"),  # type: ignore[arg-type]
        )
        suites = known.get("suites")
        facts = Facts(
            preflight_problem=None,
            suites=suites,  # type: ignore[arg-type]
            rollback=known.get("rollback"),  # type: ignore[arg-type]
            verification=known.get("verification"),  # type: ignore[arg-type]
            interrupted_by=sig,
            interrupted_during=during,
            limits=LIMITS,
            collected=2,
            suites_evidence=(FAILED if suites != OK else COMPLETE) if suites else None,
            verification_evidence=COMPLETE if "verification" in known else None,
            deployment=deployment,
        )
        step = decide(facts)
        steps.append(step)
        assert step.reason and "\n" not in step.reason
        if step.action == "finish":
            assert step.decision is not None and step.exit_code == EXIT_OF[step.decision]
            return steps
        assert step.action not in known, (step, known)
        known[step.action] = answers[step.action]
    raise AssertionError(f"no decision: {known}")


def combinations() -> Iterator[tuple[dict[str, object], tuple[str | None, str | None]]]:
    for (
        readiness,
        snapshot,
        backup,
        deploy,
        suites,
        integrity,
        rollback,
        restore,
    ) in itertools.product(
        PYTEST_RUNS[:2],
        SNAPSHOTS,
        [None, *COMMANDS[:2]],
        COMMANDS,
        PYTEST_RUNS,
        CHECKS_SLOW,
        COMMANDS[:2],
        [None, *COMMANDS[:2]],
    ):
        for verification, after, signal in itertools.product(PYTEST_RUNS[:2], CHECKS, SIGNALS):
            answers: dict[str, object] = {
                "readiness": readiness,
                "snapshot": snapshot,
                "deploy": deploy,
                "suites": suites,
                "integrity": integrity,
                "rollback": rollback,
                "verification": verification,
                "rollback-integrity": after,
            }
            if backup is not None:
                answers["backup"] = backup
            if restore is not None:
                answers["restore"] = restore
            yield answers, signal


def test_every_deployment_run_keeps_the_gates_promises() -> None:
    walks = 0
    for answers, signal in combinations():
        steps = run(answers, signal)
        actions = [step.action for step in steps[:-1]]
        final = steps[-1]
        walks += 1
        # The deploy only after every prerequisite passed and no signal came.
        if "deploy" in actions:
            before = actions[: actions.index("deploy")]
            assert before[:2] == ["readiness", "snapshot"]
            assert answers["readiness"] == OK and answers["snapshot"] == SNAPSHOTS[0]
            assert "backup" not in answers or answers["backup"] == OK
            assert signal[1] != "readiness"
        else:
            assert final.exit_code == EXIT_MISUSE and "rollback" not in actions
        # A pass: the suites passed and the data matched the snapshot after the release.
        if final.exit_code == EXIT_PASSED:
            assert answers["deploy"] == OK and answers["suites"] == OK
            assert answers["integrity"] == MATCHED and "rollback" not in actions
            assert signal[1] not in ("deploy", "suites")
        # A failed deploy or data changed by the release is rolled back, never a pass.
        if "deploy" in actions and (answers["deploy"] != OK or answers["integrity"] != MATCHED):
            assert final.exit_code != EXIT_PASSED
        if "deploy" in actions and answers["deploy"] != OK:
            assert "rollback" in actions and "suites" not in actions
        # The restore only after a rollback that succeeded, when given.
        if "restore" in actions:
            assert actions.index("restore") > actions.index("rollback")
            assert answers["rollback"] == OK
        if "rollback" in actions and answers["rollback"] == OK and "restore" in answers:
            assert "restore" in actions
        if "restore" in actions and answers["restore"] != OK:
            assert final.decision == "restore_failed" and final.verification_skipped
        # Exit 1 only with the data as the snapshot had it after the rollback.
        if final.exit_code == EXIT_ROLLED_BACK:
            assert answers["rollback-integrity"] == MATCHED and answers["verification"] == OK
        # Data that differs after the rollback is data_lost, its differences named.
        if "rollback-integrity" in actions and answers["rollback-integrity"] == DIFFERS:
            assert final.decision == "data_lost" and final.exit_code == EXIT_HUMAN
            assert LOSS[0] in final.reason
        if final.decision == "data_lost":
            assert answers["rollback-integrity"] == DIFFERS
    assert walks > 20_000


def test_without_a_deployment_nothing_changes() -> None:
    facts = Facts(None, None, None, None, None, None, LIMITS)
    assert decide(facts) == Step("suites", "the preflight passed")


def walk(**answers: object) -> Step:
    defaults: dict[str, object] = {
        "readiness": OK,
        "snapshot": SNAPSHOTS[0],
        "deploy": OK,
        "suites": OK,
        "integrity": MATCHED,
        "rollback": OK,
        "verification": OK,
        "rollback-integrity": MATCHED,
    }
    merged = {key.replace("_", "-"): value for key, value in answers.items()}
    return run({**defaults, **merged}, (None, None))[-1]


def test_a_clean_release_passes_with_the_data_matched() -> None:
    step = walk()
    assert (step.decision, step.exit_code) == ("passed", EXIT_PASSED)
    assert step.reason == "all checks passed; the data matched the snapshot"


def test_data_changed_by_a_release_that_passed_its_checks_is_rolled_back_then_named() -> None:
    step = walk(integrity=DIFFERS, rollback_integrity=DIFFERS)
    assert (step.decision, step.exit_code) == ("data_lost", EXIT_HUMAN)
    assert step.reason.startswith(
        "all checks passed, but the release changed data the snapshot holds (documents: 2 "
        "missing; 1 changed of the snapshot's 10 rows); rolled back, but the data differs "
        "from the snapshot: documents: 2 missing (a, b); 1 changed (c)"
    )


def test_a_restore_that_brings_the_data_back_is_exit_1() -> None:
    step = walk(integrity=DIFFERS, restore=OK)
    assert (step.decision, step.exit_code) == ("rolled_back", EXIT_ROLLED_BACK)
    assert step.reason.endswith(
        "; rolled back and restored and verified; the data matched the snapshot"
    )


def test_a_restore_that_fails_is_exit_2_and_nothing_is_verified() -> None:
    step = walk(suites=outcome(1), restore=outcome(7))
    assert (step.decision, step.exit_code) == ("restore_failed", EXIT_HUMAN)
    assert step.reason == (
        "checks failed (pytest exit 1); rolled back, but the restore failed (exit 7): the data "
        "is in an unknown state, a human must act"
    )


def test_a_failed_deploy_is_rolled_back_without_running_the_suites() -> None:
    steps = run(
        {"readiness": OK, "snapshot": SNAPSHOTS[0], "deploy": outcome(1), "rollback": OK,
         "verification": OK, "rollback-integrity": MATCHED},
        (None, None),
    )  # fmt: skip
    assert [s.action for s in steps] == [
        "readiness", "snapshot", "deploy", "rollback", "verification", "rollback-integrity",
        "finish",
    ]  # fmt: skip
    assert steps[-1].reason.startswith("the deploy failed (exit 1); rolled back and verified")


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"readiness": outcome(1)}, "the current release failed its readiness checks"),
        ({"snapshot": SNAPSHOTS[1]}, "the data snapshot failed: cannot connect"),
        ({"backup": outcome(1)}, "the backup failed (exit 1)"),
    ],
)
def test_a_failed_prerequisite_deploys_nothing(answers: dict[str, object], reason: str) -> None:
    step = walk(**answers)
    assert (step.decision, step.exit_code) == ("not_deployed", EXIT_MISUSE)
    assert step.reason.startswith(reason) and step.reason.endswith("nothing was deployed")


def test_an_integrity_check_that_cannot_read_is_a_failure_never_a_pass() -> None:
    step = walk(integrity=CHECKS[2])
    assert (step.decision, step.exit_code) == ("rolled_back", EXIT_ROLLED_BACK)
    assert step.reason.startswith("the data integrity check failed: cannot read documents")
    step = walk(suites=outcome(1), rollback_integrity=CHECKS_SLOW[3])
    assert (step.decision, step.exit_code) == ("verification_failed", EXIT_HUMAN)
    assert "the data integrity check did not finish within 300s" in step.reason


def test_a_signal_before_the_deploy_started_keeps_it_from_running() -> None:
    never = outcome(None, stopped="SIGTERM")
    step = walk(deploy=never)
    assert (step.decision, step.exit_code) == ("interrupted", EXIT_MISUSE)
    assert step.reason == "interrupted by SIGTERM before the deploy started: nothing was deployed"


# --- the comparison ---------------------------------------------------------------------------

BEFORE = {"a": "1", "b": "2", "c": "3"}
TAKEN_AT = 1_000_000.0


def test_identical_tables_match_with_equal_checksums() -> None:
    table = compare_table(BEFORE, dict(BEFORE), {k: 0.0 for k in BEFORE}, TAKEN_AT)
    assert table.matched and table.difference("documents") is None
    assert table.checksum_before == table.checksum_after == checksum(BEFORE)


def test_rows_added_after_the_snapshot_are_accounted_for_not_differences() -> None:
    after = {**BEFORE, "d": "4", "e": "5"}
    created = {"a": 0.0, "b": 0.0, "c": 0.0, "d": TAKEN_AT + 5, "e": TAKEN_AT - IN_FLIGHT_S / 2}
    table = compare_table(BEFORE, after, created, TAKEN_AT)
    assert table.matched and table.added == 2 and table.rows_after == 5
    assert table.checksum_after == table.checksum_before


def test_missing_changed_and_appeared_rows_are_named() -> None:
    after = {"a": "1", "c": "X", "old": "9"}
    created = {"a": 0.0, "c": 0.0, "old": TAKEN_AT - IN_FLIGHT_S - 1}
    table = compare_table(BEFORE, after, created, TAKEN_AT)
    assert (table.missing, table.changed, table.appeared, table.added) == (
        ("b",),
        ("c",),
        ("old",),
        0,
    )
    assert table.difference("documents") == (
        "documents: 1 missing (b); 1 changed (c); 1 appeared (old) of the snapshot's 3 rows"
    )
    assert table.checksum_after != table.checksum_before
    assert table.to_json()["examples"] == {"missing": ["b"], "changed": ["c"], "appeared": ["old"]}


def test_rows_erased_on_purpose_are_accounted_for_not_missing() -> None:
    after = {"a": "1"}
    table = compare_table(BEFORE, after, {"a": 0.0}, TAKEN_AT, erased={"b", "c", "zz"})
    assert table.matched and table.difference("documents") is None
    assert (table.missing, table.erased) == ((), ("b", "c"))
    assert table.to_json()["erased"] == 2
    assert table.to_json()["examples"] == {"erased": ["b", "c"]}
    # only what the query names: a row gone without it is still lost
    lost = compare_table(BEFORE, after, {"a": 0.0}, TAKEN_AT, erased={"b"})
    assert (lost.missing, lost.erased) == (("c",), ("b",)) and not lost.matched


def test_without_created_at_every_new_row_counts_as_added() -> None:
    table = compare_table(BEFORE, {**BEFORE, "z": "0"}, None, TAKEN_AT)
    assert table.matched and table.added == 1


def test_a_long_list_of_differences_is_cut_but_counted() -> None:
    before = {f"k{n:03}": "x" for n in range(25)}
    table = compare_table(before, {}, {}, TAKEN_AT)
    line = table.difference("t")
    assert line is not None and line.startswith("t: 25 missing (k000, k001,") and ", …)" in line
    assert table.to_json()["missing"] == 25 and len(table.to_json()["examples"]["missing"]) == 10


def test_the_report_covers_every_table_of_the_snapshot() -> None:
    report = compare({"documents": BEFORE, "tenants": {"t": "1"}}, {"documents": BEFORE}, {}, 0.0)
    assert not report.matched
    assert report.differences == ["tenants: 1 missing (t) of the snapshot's 1 rows"]
    assert report.to_json()["tables"]["documents"]["matched"] is True


# --- the arguments ----------------------------------------------------------------------------

BASE = ["--env", "local", "--baseline", "b.json", "--rollback", "docpipe rollback"]


def test_the_deployment_options_need_deploy() -> None:
    with pytest.raises(GateUsageError, match=r"^--restore needs --deploy"):
        parse([*BASE, "--restore", "restore-db"])
    with pytest.raises(GateUsageError, match=r"^--deploy: expected a shell command"):
        parse([*BASE, "--deploy", " "])
    with pytest.raises(GateUsageError, match=r"^--snapshot-timeout expects a whole number"):
        parse([*BASE, "--deploy", "d", "--snapshot-timeout", "0"])
    settings = parse([*BASE, "--deploy", "d", "--backup", "b", "--deploy-timeout", "60"])
    assert settings is not None
    assert (settings.deploy, settings.backup, settings.restore) == ("d", "b", None)
    assert settings.deploy_timeout_s == 60
    plain = parse(BASE)
    assert plain is not None and plain.deploy is None
