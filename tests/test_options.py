"""Options, ini twins, markers and the report header, as a user meets them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import INI


def test_help_lists_every_option_in_the_prodval_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "prodval: validate a deployment against its baseline:",
            "*--target-env=NAME*",
            "*--baseline=PATH*",
            "*--record-baseline*",
            "*--prune, --prodval-prune*",
            "*--prodval-config=PATH*",
            "*--allow-destructive*",
            "*--prodval-confirm-destructive=NAME*",
            "*--prodval-confirm-record=NAME*",
            "*--prodval-summary=PATH*",
        ]
    )
    result.stdout.fnmatch_lines(["*prodval_target_env (string)*", "*prodval_baseline (string)*"])


def test_without_a_target_environment_the_plugin_stays_out_of_the_way(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "prodval:" not in result.stdout.str()


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_checks_using_its_fixtures_without_a_target_environment_are_one_usage_error(
    pytester: pytest.Pytester, extra: list[str]
) -> None:
    # Before: every check errored with the same traceback (9 of them, ~236 lines), exit 1.
    pytester.makepyfile(
        "def test_a(target):\n    pass\n\n"
        "def test_b(api):\n    pass\n\n"
        "def test_plain():\n    pass\n"
    )
    result = pytester.runpytest(*extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: no target environment chosen: pass --target-env NAME (or set "
        "prodval_target_env in the ini file); 2 selected checks use its fixtures "
        "(test_checks_using_its_fixtures_without_a_target_environment_are_one_usage_error.py"
        "::test_a, ...)"
    ]
    assert "Traceback" not in result.stdout.str()


def test_a_projects_own_fixture_of_the_same_name_needs_no_target_environment(
    pytester: pytest.Pytester,
) -> None:
    # This repository's own tests have a `target` fixture (a fake server) of their own.
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef target():\n    return 1\n")
    pytester.makepyfile("def test_it(target):\n    assert target == 1\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_collecting_without_a_target_environment_lists_the_checks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_it(target):\n    pass\n")
    result = pytester.runpytest("--co", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*::test_it"])


def test_collect_only_writes_no_summary(project: pytest.Pytester) -> None:
    # Before: --co replaced the last run's summary with an empty one.
    project.makepyfile("def test_it(baseline):\n    pass\n")
    summary = project.path / "reports" / "prodval-summary.json"
    summary.parent.mkdir()
    summary.write_text("the last run's")
    result = project.runpytest("--target-env=local", "--co", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert summary.read_text() == "the last run's"
    assert "summary written" not in result.stdout.str()


def test_the_header_shows_environment_urls_and_baseline(project: pytest.Pytester) -> None:
    project.makepyfile("def test_it():\n    pass\n")
    result = project.runpytest("--target-env=local")
    result.stdout.fnmatch_lines(
        [
            "prodval: environment local (unprotected)",
            "prodval: api http://127.0.0.1:9",
            "prodval: comparing with baseline baselines/local.json (does not exist yet)",
        ]
    )


def test_the_header_shows_the_baselines_provenance(project: pytest.Pytester) -> None:
    project.makepyfile("def test_it(baseline):\n    baseline.exact('x', 1)\n")
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=1)
    result = project.runpytest("--target-env=local")
    result.stdout.fnmatch_lines(
        [
            "prodval: comparing with baseline baselines/local.json (1 entries; recorded on local "
            "at *, target version unknown, prodval *)",
        ]
    )


def test_ini_twins_set_the_same_values(project: pytest.Pytester) -> None:
    project.makeini(
        """
        [pytest]
        filterwarnings = error
        asyncio_default_fixture_loop_scope = function
        prodval_target_env = local
        prodval_baseline = custom/base.json
        prodval_record_baseline = true
        prodval_summary = out/summary.json
        """
    )
    project.makepyfile("def test_it(baseline):\n    baseline.exact('x', 1)\n")
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    assert (project.path / "custom/base.json").exists()
    assert (project.path / "out/summary.json").exists()


def test_a_command_line_option_wins_over_its_ini_twin(project: pytest.Pytester) -> None:
    project.makeini(INI + "prodval_target_env = nowhere\n")
    project.makepyfile("def test_it(target):\n    assert target.name == 'local'\n")
    project.runpytest("--target-env=local").assert_outcomes(passed=1)


def test_a_bad_boolean_in_the_ini_file_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makeini(INI + "prodval_record_baseline = maybe\n")
    result = project.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini prodval_record_baseline = 'maybe': expected one of*"])


def test_the_plugin_registers_only_its_own_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for marker in ("synthetic", "destructive", "prodval_severity"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}*"])
    # Suites are the project's to declare (markers + prodval_suites), not the plugin's.
    for suite in ("infrastructure", "application", "security", "performance"):
        result.stdout.no_fnmatch_line(f"@pytest.mark.{suite}:*")


def test_this_project_declares_its_suite_markers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    for marker in (
        "infrastructure",
        "application",
        "pipeline",
        "security",
        "compliance",
        "performance",
        "synthetic",
        "destructive",
    ):
        assert f"@pytest.mark.{marker}:" in result.stdout, result.stdout[-2000:]


DESTRUCTIVE = """
import pytest

@pytest.mark.destructive
def test_restart_the_database():
    pass
"""


def test_destructive_checks_are_skipped_on_protected_environments(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(DESTRUCTIVE)
    result = project.runpytest("--target-env=production", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*destructive check skipped on protected environment 'production' "
            "(pass --allow-destructive --prodval-confirm-destructive=production to run it)*"
        ]
    )
    # A confirmation without --allow-destructive allows nothing.
    confirmed_only = project.runpytest(
        "--target-env=production", "--prodval-confirm-destructive=production"
    )
    confirmed_only.assert_outcomes(skipped=1)


REFUSED_DESTRUCTIVE = (
    "ERROR: refusing to run destructive checks on protected environment 'production' with "
    "--allow-destructive alone; confirm with --prodval-confirm-destructive=production"
)


@pytest.mark.parametrize(
    ("how", "confirmation"),
    [
        ("option", ()),
        ("option", ("--prodval-confirm-destructive=local",)),
        ("ini", ()),
        ("ini", ("-o", "prodval_confirm_destructive=staging")),
        ("addopts", ()),
    ],
)
def test_allowing_destructive_checks_on_a_protected_environment_needs_its_name(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    confirmation: tuple[str, ...],
) -> None:
    # Before: --allow-destructive alone (also from the ini file or PYTEST_ADDOPTS, as a copied
    # command line or a gate's "-- ..." passes it) ran destructive checks on production.
    project.makepyfile(DESTRUCTIVE)
    args: tuple[str, ...] = ()
    if how == "option":
        args = ("--allow-destructive",)
    elif how == "ini":
        project.makeini(INI + "prodval_allow_destructive = true\n")
    else:
        monkeypatch.setenv("PYTEST_ADDOPTS", "--allow-destructive")
    result = project.runpytest("--target-env=production", *args, *confirmation)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([REFUSED_DESTRUCTIVE])
    result.stdout.no_fnmatch_line("*passed*")


def test_destructive_checks_run_when_confirmed_or_unprotected(project: pytest.Pytester) -> None:
    project.makepyfile(DESTRUCTIVE)
    project.runpytest(
        "--target-env=production",
        "--allow-destructive",
        "--prodval-confirm-destructive=production",
    ).assert_outcomes(passed=1)
    project.makeini(
        INI + "prodval_allow_destructive = true\nprodval_confirm_destructive = production\n"
    )
    project.runpytest("--target-env=production").assert_outcomes(passed=1)
    # Unprotected: unchanged, no confirmation needed.
    project.runpytest("--target-env=local", "--allow-destructive").assert_outcomes(passed=1)
    project.runpytest("--target-env=local").assert_outcomes(passed=1)


def test_recording_on_a_protected_environment_needs_confirmation(
    project: pytest.Pytester,
) -> None:
    project.makepyfile("def test_it(baseline):\n    baseline.exact('x', 1)\n")
    result = project.runpytest("--target-env=production", "--record-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: refusing to record a baseline on protected environment 'production'; "
            "confirm with --prodval-confirm-record=production"
        ]
    )
    wrong = project.runpytest(
        "--target-env=production", "--record-baseline", "--prodval-confirm-record=local"
    )
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    confirmed = project.runpytest(
        "--target-env=production", "--record-baseline", "--prodval-confirm-record=production"
    )
    confirmed.assert_outcomes(passed=1)


def test_sigterm_interrupts_the_run_and_is_given_back_afterwards(
    project: pytest.Pytester,
) -> None:
    # A cancelled CI job sends SIGTERM: during the run it must interrupt like Ctrl-C, so that
    # teardowns erase synthetic data; after the run the process's own handler is back.
    project.makepyfile(
        "import signal\n"
        "def test_it(target):\n"
        "    assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler\n"
    )
    before = signal.getsignal(signal.SIGTERM)
    project.runpytest("--target-env=local").assert_outcomes(passed=1)
    assert signal.getsignal(signal.SIGTERM) == before
