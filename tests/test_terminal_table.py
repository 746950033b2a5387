"""The comparison table in the terminal: as wide as the terminal, failures first, -q folds."""

from __future__ import annotations

import pytest

from pytest_prodval.report.terminal import clip, fit_name, short_name

CHECKS = """
import os

import pytest


@pytest.mark.parametrize("n", range(6))
def test_a_document_route_answers_with_the_baseline_status_and_shape(baseline, n):
    baseline.exact(f"GET /documents/{{id}}/result?page={n} status code and its body shape", {
        "status": 200, "fields": ["id", "state", "pages", "chunks", "embedding_model"],
    })


def test_the_release_reports_its_version(baseline):
    baseline.exact("version", os.environ.get("RELEASE", "1"))
"""


@pytest.fixture
def table_project(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    project.makepyfile(test_checks=CHECKS)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=7)
    monkeypatch.setenv("RELEASE", "2")
    monkeypatch.setenv("COLUMNS", "100")
    return project


def table_lines(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "prodval baseline comparisons" in line)
    end = next(i for i, line in enumerate(lines[start:], start) if line.startswith("prodval:"))
    return lines[start:end]


def test_the_table_fits_the_terminal_with_the_failure_first(table_project: pytest.Pytester) -> None:
    result = table_project.runpytest("--target-env=local")
    result.assert_outcomes(passed=6, failed=1)
    lines = table_lines(result)
    assert lines[0].startswith("=") and "1 of 7 failed" in lines[0]
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert lines[1].split() == ["verdict", "comparison", "baseline", "target", "change"]
    assert lines[2].startswith("failed   test_checks.py::test_")
    assert "_reports_its_version::version" in lines[2]
    # Parametrized rows stay apart: their parameters are kept when names are cut.
    assert len({line.split("  ")[1] for line in lines[3:]}) == 6
    assert '"1"' in lines[2] and '"2"' in lines[2]
    assert [line.split()[0] for line in lines[3:]] == ["passed"] * 6


def test_under_q_the_passes_are_counted_not_listed(table_project: pytest.Pytester) -> None:
    result = table_project.runpytest("--target-env=local", "-q")
    lines = table_lines(result)
    assert [line.split()[0] for line in lines[2:-1]] == ["failed"]
    assert lines[-1] == "... and 6 passed (listed without -q)"


def test_under_qq_there_is_no_table(table_project: pytest.Pytester) -> None:
    result = table_project.runpytest("--target-env=local", "-qq")
    assert "prodval baseline comparisons" not in result.stdout.str()


UNUSED = """
import os


def test_a_document_route_answers_with_the_baseline_status_and_shape(baseline):
    if os.environ.get("PHASE") == "record":
        for n in range(6):
            baseline.exact(f"GET /documents/{{id}}/result?page={n} status code and body shape", n)
    baseline.exact("count", 6)
"""


def test_unused_entries_fit_the_terminal_and_fold_under_q(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_checks=UNUSED)
    monkeypatch.setenv("PHASE", "record")
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=1)
    monkeypatch.setenv("PHASE", "compare")  # the six comparisons are not made: unused entries
    monkeypatch.setenv("COLUMNS", "100")
    result = project.runpytest("--target-env=local")
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "6 baseline entries unused" in line)
    listed = lines[start + 1 : start + 7]
    assert all(line.startswith("  test_checks.py::test_a_") for line in listed), listed
    assert max(len(line) for line in listed) <= 100, listed
    assert len(set(listed)) == 6  # each keeps its own page number
    quiet = project.runpytest("--target-env=local", "-q").stdout.str()
    assert "6 baseline entries unused" in quiet and "(listed without -q)" in quiet
    assert "test_checks.py::test_a_document" not in quiet


def test_a_long_name_keeps_its_file_parameters_and_comparison_name() -> None:
    key = (
        "suites/application/test_contract.py::test_document_route_answers_with_the_baseline_"
        'status_and_shape[method="GET",path="/documents/{id}"]::status and shape of the answer'
    )
    name = short_name(key)
    assert name.startswith("test_contract.py::test_document_route")
    shown = fit_name(name, 70)
    assert len(shown) == 70
    test, _, own = shown.rpartition("::")
    assert test.startswith("test_contract.py::")
    assert test.endswith('/documents/{id}"]')
    assert own.startswith("status and shape")


def test_a_value_is_one_line_however_it_was_written() -> None:
    assert clip("a\nb  c", 20) == "a b c"
    assert clip("x" * 30, 10) == "xxxx…xxxxx"
