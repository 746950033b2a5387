"""A baseline whose checksum matches but whose entries cannot be compared with is refused at
load, in one line naming the entry: before any check runs, never as a failing release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_prodval.baseline.store import BaselineError, BaselineFile

from .gate_harness import FakeTarget, Project, gate_args, run_gate
from .test_fuzz_loaders import recorded

TEST = "test_checks.py::test_x"
# Each is an entry a recording never writes; each loaded fine before and failed at compare time
# (KeyError, TypeError, AttributeError) — which a gate reads as a bad release and rolls back.
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "exact without a value": ({"kind": "exact"}, "missing 'value'"),
    "number without a value": ({"kind": "number"}, "'value' must be a finite number"),
    "number as text": ({"kind": "number", "value": "12"}, "'value' must be a finite number"),
    "number as a boolean": ({"kind": "number", "value": True}, "'value' must be a finite number"),
    "number with a numeric unit": ({"kind": "number", "value": 1, "unit": 5}, "'unit' must"),
    "shape without a shape": ({"kind": "shape"}, "'shape' must be a shape"),
    "shape with a number": ({"kind": "shape", "shape": 3}, "'shape' must be a shape"),
    "shape with an unknown type": ({"kind": "shape", "shape": {"a": "float"}}, "'shape' must"),
    "distribution without samples": ({"kind": "distribution"}, "'samples' must be a non-empty"),
    "distribution with no samples": (
        {"kind": "distribution", "samples": []},
        "'samples' must be a non-empty",
    ),
    "distribution with text samples": (
        {"kind": "distribution", "samples": ["1"]},
        "'samples' must be a non-empty",
    ),
    "distribution with bad windows": (
        {"kind": "distribution", "samples": [1.0], "windows": "fast"},
        "'windows' must be a non-empty",
    ),
    "an unknown kind": ({"kind": "median"}, "unknown kind 'median'"),
    "a test that is not text": ({"kind": "exact", "value": 1, "test": 7}, "'test' must"),
}


def write(path: Path, entry: dict[str, Any]) -> None:
    data = recorded({f"{TEST}::x": {"test": TEST, **entry}}, None)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_entry_with_a_matching_checksum_is_one_line_naming_it(
    tmp_path: Path, case: str
) -> None:
    entry, expected = MALFORMED[case]
    path = tmp_path / "local.json"
    write(path, entry)
    with pytest.raises(BaselineError) as raised:
        BaselineFile.load(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: entry '{TEST}::x': ")
    assert expected in message
    assert message.endswith("re-record it with --record-baseline")


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "exact", "value": None},
        {"kind": "number", "value": 3.5, "unit": "ms"},
        {"kind": "shape", "shape": {"a": ["integer|null"], "b?": "any", "c": []}},
        {"kind": "distribution", "samples": [1, 2.5], "windows": [1.0], "control": [0.2]},
    ],
)
def test_every_kind_as_recorded_loads(tmp_path: Path, entry: dict[str, Any]) -> None:
    path = tmp_path / "local.json"
    write(path, entry)
    assert BaselineFile.load(path).entries[f"{TEST}::x"]["kind"] == entry["kind"]


def test_pytest_refuses_such_a_baseline_before_any_check_runs(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", prodval="environments:\n  local:\n    api: {base_url: 'http://127.0.0.1:9'}\n"
    )
    pytester.makepyfile(test_checks="def test_x(baseline):\n    baseline.exact('x', 1)\n")
    write(pytester.path / "local.json", {"kind": "exact"})
    result = pytester.runpytest("--target-env=local", "--baseline=local.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*local.json: entry 'test_checks.py::test_x::x': missing 'value'*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


# -- a baseline with no entries at all ---------------------------------------------------------

EMPTY_BASELINE_CHECKS = """
from pathlib import Path


def test_compares(baseline):
    Path("ran").write_text("a check ran")
    baseline.exact("x", 1)


def test_plain():
    Path("ran").write_text("a check ran")
"""
EMPTY = (
    "ERROR: local.json: the baseline has no entries, but 1 selected check uses the baseline "
    "fixture; record it first with --record-baseline against a known-good release"
)


@pytest.fixture
def empty_baseline(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(test_checks=EMPTY_BASELINE_CHECKS)
    data = recorded({}, None)
    (project.path / "local.json").write_text(json.dumps(data), encoding="utf-8")
    return project


@pytest.mark.parametrize(
    "extra", [[], ["--collect-only"], ["-n", "2"]], ids=["run", "collect-only", "xdist"]
)
def test_comparing_with_an_empty_baseline_is_a_usage_error_before_any_check_runs(
    empty_baseline: pytest.Pytester, extra: list[str]
) -> None:
    # Before: every comparing check failed as "no baseline entry", which a gate rolls back for.
    # The gate's preflight collects with --collect-only: it sees the usage error too.
    result = empty_baseline.runpytest("--target-env=local", "--baseline=local.json", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [EMPTY]
    assert not (empty_baseline.path / "ran").exists()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_an_empty_baseline_is_fine_when_no_selected_check_uses_it(
    empty_baseline: pytest.Pytester,
) -> None:
    # The gate's own fake project: a baseline without entries, checks that are plain asserts.
    result = empty_baseline.runpytest("--target-env=local", "--baseline=local.json", "-k", "plain")
    result.assert_outcomes(passed=1, deselected=1)


def test_an_empty_baseline_may_be_recorded_into(empty_baseline: pytest.Pytester) -> None:
    result = empty_baseline.runpytest(
        "--target-env=local", "--baseline=local.json", "--record-baseline"
    )
    result.assert_outcomes(passed=2)
    assert BaselineFile.load(empty_baseline.path / "local.json").entries


def test_a_baseline_with_entries_but_none_for_a_check_fails_only_that_check(
    empty_baseline: pytest.Pytester,
) -> None:
    other = {"kind": "exact", "value": 1, "test": "test_other.py::test_y"}
    data = recorded({"test_other.py::test_y::y": other}, None)
    (empty_baseline.path / "local.json").write_text(json.dumps(data), encoding="utf-8")
    result = empty_baseline.runpytest("--target-env=local", "--baseline=local.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no baseline entry 'test_checks.py::test_compares::x'*"])


@pytest.mark.parametrize(
    "extra", [[], ["--collect-only"], ["-n", "2"]], ids=["run", "collect-only", "xdist"]
)
def test_a_named_baseline_file_that_does_not_exist_is_a_usage_error_before_any_check_runs(
    empty_baseline: pytest.Pytester, extra: list[str]
) -> None:
    # Before: a typo in --baseline failed every comparing check, one by one, as missing.
    result = empty_baseline.runpytest("--target-env=local", "--baseline=locl.json", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: locl.json: no such baseline file, but 1 selected check uses the baseline "
        "fixture; check the --baseline path, or record one with --record-baseline against a "
        "known-good release"
    ]
    assert not (empty_baseline.path / "ran").exists()


def test_the_default_baseline_path_may_not_exist_yet(empty_baseline: pytest.Pytester) -> None:
    # baselines/local.json is the default: a project's first run, before anything was recorded.
    result = empty_baseline.runpytest("--target-env=local")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no baseline entry 'test_checks.py::test_compares::x'*"])


def test_the_gates_preflight_refuses_an_empty_baseline_without_a_rollback(tmp_path: Path) -> None:
    # Before: the gate ran the suites, every comparison failed as missing, and it rolled back.
    with FakeTarget() as target:
        project = Project(tmp_path / "project", target.url)  # its baseline has no entries
        (project.path / "test_compares.py").write_text(
            "def test_compares(baseline):\n    baseline.exact('x', 1)\n"
        )
        result = run_gate(project.path, gate_args(project))
    assert result.returncode == 3, result.stdout + result.stderr
    assert project.rollback_count() == 0
    output = result.stdout + result.stderr
    assert "pytest refused to start (exit 4)" in output, output
    assert "baselines/fake.json: the baseline has no entries" in output, output


@pytest.mark.parametrize("control", [True, False], ids=["beside-a-control", "historic"])
def test_beside_a_control_the_load_checks_do_not_need_the_named_baseline_file(
    project: pytest.Pytester, control: bool
) -> None:
    # Paired mode judges the load checks against the control deployment measured with them.
    project.makepyfile(test_paired="def test_paired(prodval_load, baseline):\n    pass\n")
    extra = ["--control-env=production"] if control else []
    result = project.runpytest("--target-env=local", "--baseline=none.json", "--co", *extra)
    if control:
        assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    else:
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert "none.json: no such baseline file, but 1 selected check" in result.stderr.str()
