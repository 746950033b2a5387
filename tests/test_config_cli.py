"""Every bad config, as a user meets it: one line on stderr, exit code 4, no traceback."""

from __future__ import annotations

import pytest

from .test_config import BAD_CA_FILES, BAD_CONFIGS


@pytest.mark.parametrize(("text", "environ", "key_path", "expected"), BAD_CONFIGS + BAD_CA_FILES)
def test_a_bad_config_is_one_line_and_exit_code_4(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    environ: dict[str, str],
    key_path: str | None,
    expected: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    (pytester.path / "prodval.yaml").write_text(text)
    pytester.makepyfile("def test_it(target):\n    pass\n")
    result = pytester.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, result.stderr.str()
    prefix = f"ERROR: prodval.yaml: {key_path}: " if key_path else "ERROR: prodval.yaml: "
    assert lines[0].startswith(prefix), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_environment_lists_the_known_ones(project: pytest.Pytester) -> None:
    result = project.runpytest("--target-env=prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: prodval.yaml: unknown environment 'prod'; expected one of: local, production"]
    )


def test_a_missing_config_file_names_the_path_and_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--target-env=local", "--prodval-config=conf/missing.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: conf/missing.yaml: file not found*"])


@pytest.mark.parametrize("budget", ["check_s: 0.001", "check_s: 0.5", "run_s: 0.2"])
def test_a_time_budget_below_a_second_is_a_usage_error_not_an_internal_error(
    pytester: pytest.Pytester, budget: str
) -> None:
    pytester.makefile(
        ".yaml",
        prodval=f"environments:\n  local:\n    api: {{base_url: 'http://127.0.0.1:9'}}\n"
        f"    timeouts: {{{budget}}}\n",
    )
    pytester.makepyfile(test_checks="def test_a(target):\n    pass\n")
    result = pytester.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    key = budget.split(":")[0]
    result.stderr.fnmatch_lines(
        [f"*prodval.yaml: environments.local.timeouts.{key}: expected a number of seconds >= 1*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_ca_file_the_projects_session_start_makes_is_read_after_it(
    pytester: pytest.Pytester,
) -> None:
    # The embedded target (the root conftest's `docpipe up`) issues its CA as it starts: on a
    # fresh clone the file named by prodval.yaml does not exist until then.
    (pytester.path / "prodval.yaml").write_text(
        "environments:\n  local:\n    api:\n      base_url: http://127.0.0.1:9\n"
        "      ca_file: tls/ca.pem\n"
    )
    pytester.makeconftest(
        """
        import pytest
        import trustme

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionstart(session):
            path = session.config.rootpath / "tls" / "ca.pem"
            path.parent.mkdir()
            trustme.CA().cert_pem.write_to_path(str(path))
        """
    )
    pytester.makepyfile("def test_it(target):\n    assert target.api.ca_file.endswith('ca.pem')\n")
    pytester.runpytest("--target-env=local").assert_outcomes(passed=1)
