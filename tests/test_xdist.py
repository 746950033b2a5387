"""Under pytest-xdist the controller merges the workers' recordings and writes once."""

from __future__ import annotations

import json
from typing import Any

import pytest

CHECKS = """
import pytest

@pytest.mark.parametrize("n", range(12))
def test_many(baseline, n):
    baseline.exact("value", n * 10)
    baseline.number("number", n + 0.5, rel=0.1)


def test_shape(baseline):
    baseline.shape("body", {"a": [1, 2], "b": {"c": None}})
"""


def entries(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / "baselines/local.json").read_text())
    result: dict[str, Any] = data["entries"]
    return result


def test_recording_with_two_workers_equals_a_serial_recording(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=13)
    serial = entries(project)
    (project.path / "baselines/local.json").unlink()

    result = project.runpytest("--target-env=local", "--record-baseline", "-n", "2")
    result.assert_outcomes(passed=13)
    assert entries(project) == serial
    assert len(serial) == 25
    result.stdout.fnmatch_lines(["prodval: baseline written to *(25 recorded, 25 entries)"])


def test_comparing_with_two_workers_reports_every_comparison_once(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=CHECKS)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=13)
    project.makepyfile(test_checks=CHECKS.replace("n * 10", "n * 10 + (n == 3)"))
    result = project.runpytest("--target-env=local", "-n", "2")
    result.assert_outcomes(passed=12, failed=1)
    summary = json.loads((project.path / "reports/prodval-summary.json").read_text())
    # The failing test stops at its first mismatch, so its "number" comparison never runs.
    assert summary["counts"]["passed"] == 23
    assert summary["counts"]["failed"] == 1
    keys = [c["key"] for c in summary["comparisons"]]
    assert len(keys) == len(set(keys)) == 24
    result.stdout.fnmatch_lines(["failed *test_many[[]n=3[]]::value*30*31*"])


def test_unused_entries_are_found_under_xdist_too(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=13)
    project.makepyfile(test_checks=CHECKS.replace("range(12)", "range(11)"))
    result = project.runpytest("--target-env=local", "-n", "2")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*2 baseline entries unused by this run*"])
