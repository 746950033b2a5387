"""Recording that cannot lose known-good data: through pytest, as a user records.

Only checks that passed every phase replace their entries; a failed, errored or skipped
check keeps the baseline's previous ones, and the run says so. A file that cannot be written
is one line and a non-zero exit, never a traceback.
"""

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


@pytest.fixture
def fragile_setup():
    if observed()["broken"]:
        raise RuntimeError("setup broke")


@pytest.fixture
def fragile_teardown():
    yield
    if observed()["broken"]:
        raise RuntimeError("teardown broke")


def test_passes(baseline):
    baseline.exact("v", observed()["value"])


def test_fails_after_recording(baseline):
    baseline.exact("v", observed()["value"])
    assert not observed()["broken"], "the release is broken"


def test_errors_in_setup(fragile_setup, baseline):
    baseline.exact("v", observed()["value"])


def test_errors_in_teardown(baseline, fragile_teardown):
    baseline.exact("v", observed()["value"])


def test_skips_after_recording(baseline):
    baseline.exact("v", observed()["value"])
    if observed()["broken"]:
        pytest.skip("not today")
"""

KEY = "test_checks.py::test_{}::v"


def observe(pytester: pytest.Pytester, *, value: Any, broken: bool) -> None:
    (pytester.path / "observed.json").write_text(json.dumps({"value": value, "broken": broken}))


def values(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / "baselines/local.json").read_text())
    return {key: entry["value"] for key, entry in data["entries"].items()}


def summary(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "reports/prodval-summary.json").read_text())
    return data


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_faulty_recording_run_keeps_the_entries_of_every_check_that_did_not_pass(
    project: pytest.Pytester, workers: list[str]
) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)

    observe(project, value="bad", broken=True)
    result = project.runpytest("--target-env=local", "--record-baseline", *workers)
    result.assert_outcomes(passed=2, failed=1, errors=2, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert values(project) == {
        KEY.format("passes"): "bad",  # the one check that passed every phase
        KEY.format("fails_after_recording"): "good",
        KEY.format("errors_in_setup"): "good",
        KEY.format("errors_in_teardown"): "good",
        KEY.format("skips_after_recording"): "good",
    }
    result.stdout.fnmatch_lines(
        [
            "prodval: 3 checks failed: their entries were not recorded "
            "(3 entries kept back, listed in the summary)",
            "prodval: 1 check did not pass (skipped): its entries were not recorded",
            "prodval: baseline written to baselines/local.json (1 recorded, 5 entries)",
        ]
    )
    written = summary(project)["baseline_written"]
    assert written == {
        "path": "baselines/local.json",
        "written": True,
        "recorded": 1,
        "pruned": [],
        "entries": 5,
        "kept_back": sorted(
            KEY.format(name)
            for name in ("fails_after_recording", "errors_in_teardown", "skips_after_recording")
        ),
        "failed_checks": [
            "test_checks.py::test_errors_in_setup",
            "test_checks.py::test_errors_in_teardown",
            "test_checks.py::test_fails_after_recording",
        ],
        "error": None,
    }


def test_pruning_in_a_faulty_run_keeps_the_entries_of_failed_checks(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)
    # The teardown's check now makes no comparison: its call passes, its teardown fails.
    project.makepyfile(
        test_checks=CHECKS.replace(
            "fragile_teardown):\n    baseline.exact", "fragile_teardown):\n    0 and baseline.exact"
        )
    )
    observe(project, value="good", broken=True)
    result = project.runpytest("--target-env=local", "--record-baseline", "--prune")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert KEY.format("errors_in_teardown") in values(project)
    assert len(values(project)) == 5


def test_a_run_where_no_check_passed_leaves_the_file_untouched(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)
    before = (project.path / "baselines/local.json").read_bytes()
    observe(project, value="bad", broken=True)
    result = project.runpytest(
        "--target-env=local", "--record-baseline", "-k", "not passes and not teardown"
    )
    result.assert_outcomes(failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "prodval: 2 checks failed: their entries were not recorded "
            "(2 entries kept back, listed in the summary)",
            "prodval: baseline baselines/local.json not written: no passing check recorded",
        ]
    )
    assert (project.path / "baselines/local.json").read_bytes() == before
    assert summary(project)["baseline_written"]["written"] is False


# RLIMIT_FSIZE makes writes past the limit fail with EFBIG, for root too (permissions would
# not stop root): a real "disk full" at the end of the run, once the checks have passed.
FULL_DISK = """
import resource
import signal


def pytest_sessionfinish():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (32768, 32768))
"""


def test_a_baseline_that_cannot_be_written_is_one_line_and_a_non_zero_exit(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)
    before = (project.path / "baselines/local.json").read_bytes()
    project.makeconftest(FULL_DISK)
    observe(project, value="x" * 20000, broken=False)  # five entries: beyond the limit
    result = project.runpytest_subprocess(
        "--target-env=local", "--record-baseline", "-p", "no:cacheprovider"
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(
        [
            "ERROR: prodval: */baselines/local.json: cannot write (File too large); "
            "the previous file is unchanged",
            # The summary (values in its evidence) does not fit either: the same one line.
            "ERROR: prodval: */reports/prodval-summary.json: cannot write (File too large); "
            "the previous file is unchanged",
        ]
    )
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert (project.path / "baselines/local.json").read_bytes() == before
    for directory in ("baselines", "reports"):  # no temp file left behind
        names = {p.name for p in (project.path / directory).iterdir()}
        assert not any(name.endswith(".tmp") for name in names), names


def test_a_summary_that_cannot_be_written_is_one_line_and_a_non_zero_exit(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    (project.path / "blocker").write_text("a file where the directory should be")
    result = project.runpytest(
        "--target-env=local", "--record-baseline", "--prodval-summary=blocker/summary.json"
    )
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(
        ["ERROR: prodval: */blocker/summary.json: cannot write (File exists); nothing was written"]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert len(values(project)) == 5  # the baseline was written before


def test_recording_through_a_symlink_updates_the_target(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, value="good", broken=False)
    shared = Path(project.path / "shared")
    shared.mkdir()
    project.runpytest(
        "--target-env=local", "--record-baseline", f"--baseline={shared / 'local.json'}"
    ).assert_outcomes(passed=5)
    (project.path / "baselines").mkdir()
    link = project.path / "baselines/local.json"
    link.symlink_to(shared / "local.json")
    observe(project, value="new", broken=False)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)
    assert link.is_symlink()
    assert set(values(project).values()) == {"new"}
