"""Record, then compare: each assertion kind through pytest as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CHECKS = """
import json
import pathlib

import pytest


def observed():
    return json.loads(pathlib.Path("observed.json").read_text())


def test_status(baseline):
    baseline.exact("status code", observed()["status"])


def test_latency(baseline):
    baseline.number("p95", observed()["p95"], rel=0.10, direction="higher_is_worse", unit="ms")


def test_contract(baseline):
    baseline.shape("body", observed()["body"], optional=["$.note"])


def test_samples(baseline):
    baseline.distribution("latency", observed()["samples"], unit="ms")
"""


def samples(scale: float, n: int = 300) -> list[float]:
    # Deterministic, spread-out positive samples: quantiles of a fixed sequence.
    return [round(scale * (5.0 + (i * 7919 % n) / 10.0), 3) for i in range(n)]


GOOD: dict[str, Any] = {
    "status": 200,
    "p95": 120.0,
    "body": {"id": 1, "name": "a", "tags": ["x"], "note": "n"},
    "samples": samples(1.0),
}


def observe(pytester: pytest.Pytester, **changes: Any) -> None:
    (pytester.path / "observed.json").write_text(json.dumps({**GOOD, **changes}))


def record(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest("--target-env=local", "--record-baseline", *args)
    result.assert_outcomes(passed=4)
    return result


@pytest.fixture
def recorded(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(test_checks=CHECKS)
    observe(project)
    record(project)
    return project


def baseline_file(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "baselines/local.json").read_text())
    return data


def test_recording_writes_every_kind_with_provenance(recorded: pytest.Pytester) -> None:
    data = baseline_file(recorded)
    assert data["schema"] == 1
    assert data["provenance"]["environment"] == "local"
    assert data["checksum"].startswith("sha256:")
    kinds = {key: entry["kind"] for key, entry in data["entries"].items()}
    assert kinds == {
        "test_checks.py::test_status::status code": "exact",
        "test_checks.py::test_latency::p95": "number",
        "test_checks.py::test_contract::body": "shape",
        "test_checks.py::test_samples::latency": "distribution",
    }


def test_an_unchanged_target_passes_every_comparison(recorded: pytest.Pytester) -> None:
    result = recorded.runpytest("--target-env=local")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*prodval baseline comparisons*", "passed *status code*200*200*"])


def test_a_changed_exact_value_fails_with_baseline_and_target(recorded: pytest.Pytester) -> None:
    observe(recorded, status=503)
    result = recorded.runpytest("--target-env=local")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*BaselineMismatch*", "*200*", "*503*"])
    result.stdout.fnmatch_lines(["failed *status code*200*503*"])


def test_a_number_within_tolerance_passes_and_beyond_fails(recorded: pytest.Pytester) -> None:
    observe(recorded, p95=130.0)
    recorded.runpytest("--target-env=local").assert_outcomes(passed=4)
    observe(recorded, p95=150.0)
    result = recorded.runpytest("--target-env=local")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*p95*", "*120*", "*150*", "*higher is worse*"])


def test_a_faster_number_never_fails_when_higher_is_worse(recorded: pytest.Pytester) -> None:
    observe(recorded, p95=10.0)
    recorded.runpytest("--target-env=local").assert_outcomes(passed=4)


def test_a_shape_change_names_the_path(recorded: pytest.Pytester) -> None:
    observe(recorded, body={"id": "1", "name": "a", "tags": ["x"]})
    result = recorded.runpytest("--target-env=local")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*$.id*integer*string*"])
    # $.note is declared optional, so its absence is not reported.
    result.stdout.fnmatch_lines(["*shape differs from baseline (1 difference)*"])


def test_a_slower_distribution_fails_with_statistics(recorded: pytest.Pytester) -> None:
    observe(recorded, samples=samples(1.6))
    result = recorded.runpytest("--target-env=local")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    for word in ("p-value", "ratio", "CI"):
        assert word.lower() in out.lower(), word


def test_a_missing_entry_fails_with_the_command_that_records_it(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project)
    result = project.runpytest("--target-env=local", "-k", "status")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*no baseline entry 'test_checks.py::test_status::status code'*",
            "*pytest --target-env=local --baseline=baselines/local.json --record-baseline "
            "test_checks.py::test_status*",
        ]
    )


def test_recording_merges_and_never_deletes_entries_of_tests_it_did_not_run(
    recorded: pytest.Pytester,
) -> None:
    observe(recorded, status=201)
    result = recorded.runpytest("--target-env=local", "--record-baseline", "-k", "status")
    result.assert_outcomes(passed=1, deselected=3)
    entries = baseline_file(recorded)["entries"]
    assert len(entries) == 4
    assert entries["test_checks.py::test_status::status code"]["value"] == 201


def test_entries_no_check_uses_are_listed_and_pruned_only_on_request(
    recorded: pytest.Pytester,
) -> None:
    recorded.makepyfile(test_checks=CHECKS.replace('("p95",', '("p95 renamed",'))
    result = recorded.runpytest("--target-env=local", "--record-baseline")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*1 baseline entries unused by this run*", "*test_checks.py::test_latency::p95"]
    )
    assert "test_checks.py::test_latency::p95" in baseline_file(recorded)["entries"]

    result = recorded.runpytest("--target-env=local", "--record-baseline", "--prune")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*1 pruned*"])
    entries = baseline_file(recorded)["entries"]
    assert "test_checks.py::test_latency::p95" not in entries
    assert "test_checks.py::test_latency::p95 renamed" in entries


def test_entries_of_a_removed_test_are_unused_but_deselected_ones_are_not(
    recorded: pytest.Pytester,
) -> None:
    recorded.makepyfile(test_checks=CHECKS.split("def test_samples")[0])
    result = recorded.runpytest("--target-env=local", "-k", "not status")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*1 baseline entries unused*", "*test_samples::latency"])
    assert "test_status::status code" not in result.stdout.str().split("unused by this run")[1]


def test_prune_without_record_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--target-env=local", "--prune")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --prune only works together with --record-baseline"])


def test_baseline_output_is_sorted_and_indented(recorded: pytest.Pytester) -> None:
    text = (recorded.path / "baselines/local.json").read_text()
    assert text.startswith('{\n  "checksum": ')
    keys = [line for line in text.splitlines() if line.startswith('    "test_checks.py::')]
    assert keys == sorted(keys)


def test_parametrized_keys_use_values_so_renamed_ids_keep_their_entries(
    project: pytest.Pytester,
) -> None:
    test = """
        import pytest

        @pytest.mark.parametrize("route", ["/health", "/ready"], ids={ids})
        def test_route(baseline, route):
            baseline.exact("status", 200)
    """
    project.makepyfile(test_routes=test.format(ids='["a", "b"]'))
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=2)
    assert set(baseline_file(project)["entries"]) == {
        'test_routes.py::test_route[route="/health"]::status',
        'test_routes.py::test_route[route="/ready"]::status',
    }
    project.makepyfile(test_routes=test.format(ids='["health", "ready"]'))
    project.runpytest("--target-env=local").assert_outcomes(passed=2)


def test_the_same_name_twice_in_one_test_is_an_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_twice(baseline):
            baseline.exact("x", 1)
            baseline.exact("x", 2)
        """
    )
    result = project.runpytest("--target-env=local", "--record-baseline")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'x' is made twice*"])


def test_the_summary_json_lists_every_comparison(recorded: pytest.Pytester) -> None:
    observe(recorded, status=500)
    recorded.runpytest("--target-env=local")
    summary = json.loads((recorded.path / "reports/prodval-summary.json").read_text())
    assert summary["environment"] == "local"
    assert summary["counts"] == {"passed": 3, "failed": 1, "recorded": 0, "missing": 0}
    by_key = {c["key"]: c for c in summary["comparisons"]}
    status = by_key["test_checks.py::test_status::status code"]
    assert (status["baseline"], status["target"], status["status"]) == ("200", "500", "failed")
    assert status["nodeid"] == "test_checks.py::test_status"


def test_a_baseline_from_a_newer_prodval_is_refused(recorded: pytest.Pytester) -> None:
    path: Path = recorded.path / "baselines/local.json"
    path.write_text(path.read_text().replace('"schema": 1', '"schema": 2'))
    result = recorded.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *local.json: written by a newer prodval*"])


def test_a_hand_edited_baseline_is_detected(recorded: pytest.Pytester) -> None:
    path: Path = recorded.path / "baselines/local.json"
    path.write_text(path.read_text().replace('"value": 200', '"value": 201'))
    result = recorded.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *local.json: checksum mismatch*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_truncated_baseline_is_detected(recorded: pytest.Pytester) -> None:
    path: Path = recorded.path / "baselines/local.json"
    path.write_text(path.read_text()[:200])
    result = recorded.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *local.json: not valid JSON*"])


# --- limit: a configured threshold, judged without a baseline entry -----------------------

LIMIT_CHECKS = """
import json
import pathlib


def observed():
    return json.loads(pathlib.Path("observed.json").read_text())


def test_status(baseline):
    baseline.exact("status code", observed()["status"])


def test_slo(baseline):
    baseline.limit(
        "p95", observed()["p95"], at_most=200, unit="ms", source="slo.api_p95_ms in prodval.yaml"
    )
"""

HOOK_CONFTEST = """
import json
import pathlib


def pytest_prodval_comparison(item, verdict):
    with pathlib.Path("hook.jsonl").open("a") as out:
        out.write(json.dumps([item.nodeid, verdict.kind, verdict.status.value]) + "\\n")
"""


def test_a_limit_is_judged_when_recording_and_never_written_to_the_baseline(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=LIMIT_CHECKS)
    observe(project, p95=250.0)
    result = project.runpytest("--target-env=local", "--record-baseline")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*p95 250 ms is above the limit 200 ms (slo.api_p95_ms*"])
    assert set(baseline_file(project)["entries"]) == {"test_checks.py::test_status::status code"}


def test_a_limit_needs_no_entry_and_leaves_no_entry_unused(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=LIMIT_CHECKS)
    observe(project)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=2)
    result = project.runpytest("--target-env=local")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "no baseline entry" not in out
    assert "baseline entries unused" not in out
    result.stdout.fnmatch_lines(["passed *test_slo::p95*≤ 200 ms*120 ms*80 ms to spare*"])


def test_a_breached_limit_reaches_the_summary_junit_and_the_hook(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=LIMIT_CHECKS)
    project.makeconftest(HOOK_CONFTEST)
    observe(project, p95=212.4)
    result = project.runpytest("--target-env=local", "--junitxml=reports/junit.xml", "-ra")
    result.assert_outcomes(passed=0, failed=2)  # no baseline yet: the exact check is missing
    result.stdout.fnmatch_lines(
        [
            "*BaselineMismatch: p95 212.4 ms is above the limit 200 ms "
            "(slo.api_p95_ms in prodval.yaml)",
            "FAILED test_checks.py::test_slo*",
        ]
    )
    summary = json.loads((project.path / "reports/prodval-summary.json").read_text())
    slo = next(c for c in summary["comparisons"] if c["kind"] == "limit")
    assert (slo["nodeid"], slo["status"]) == ("test_checks.py::test_slo", "failed")
    assert slo["evidence"]["bound"] == 200
    assert slo["evidence"]["source"] == "slo.api_p95_ms in prodval.yaml"
    xml = (project.path / "reports/junit.xml").read_text()
    assert 'name="prodval:test_checks.py::test_slo::p95"' in xml
    hooked = [json.loads(line) for line in (project.path / "hook.jsonl").read_text().splitlines()]
    assert ["test_checks.py::test_slo", "limit", "failed"] in hooked


def test_a_limit_without_a_bound_fails_the_check_in_one_line(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_slo(baseline):
            baseline.limit("p95", 120.0)
        """
    )
    result = project.runpytest("--target-env=local")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E *TypeError: a limit needs a bound: below=*"])
