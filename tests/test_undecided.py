"""A check that raises ``Undecided`` ends the session without a verdict: skipped with its
reason, no further check run, exit 3, and the summary says why (the gate reads it)."""

from __future__ import annotations

import json

import pytest

CHECKS = """
import pytest

from pytest_prodval import Undecided

@pytest.fixture(scope="session")
def control():
    raise Undecided("the control deployment blue failed under load")

def test_passes_first(target):
    pass

def test_needs_the_control(control):
    pass

def test_never_runs(target):
    pass
"""


def test_an_undecided_check_stops_the_session_with_exit_3_and_its_reason(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=CHECKS)
    result = project.runpytest("--target-env=local", "-p", "no:cacheprovider", "-rs")
    assert result.ret == 3
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *undecided: the control deployment blue failed under load",
            "*Interrupted: prodval: undecided: the control deployment blue failed under load*",
        ]
    )
    assert "test_never_runs" not in result.stdout.str()
    summary = json.loads((project.path / "reports" / "prodval-summary.json").read_text())
    assert summary["undecided"] == "the control deployment blue failed under load"
    assert summary["pytest_exit_status"] == 3
    assert summary["counts"]["failed"] == 0


def test_a_run_that_decides_says_undecided_null(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks="def test_passes(target):\n    pass\n")
    result = project.runpytest("--target-env=local", "-p", "no:cacheprovider")
    assert result.ret == 0
    summary = json.loads((project.path / "reports" / "prodval-summary.json").read_text())
    assert summary["undecided"] is None
