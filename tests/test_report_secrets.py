"""No secret reaches any report file: Allure results, their attachments, JUnit, the summary."""

from __future__ import annotations

import pytest

from .test_secrets import EVERY_SECRET, SECRETS, scan, secret_config

# The same secret fields as test_secrets.py, other values: each test proves its own.
REPORT_SECRETS = {name: f"rep-{value}" for name, value in SECRETS.items()}

# Every way a check's text reaches Allure: assertion messages and tracebacks (allure-pytest
# formats its own from the exception), locals, captured stdout and logs, fixture errors, steps,
# the check's own attachments, parameters, skip reasons, baseline comparisons.
CHECKS = (
    EVERY_SECRET
    + """
import logging
import pathlib

import allure
import pytest


@pytest.fixture
def broken_fixture(target):
    raise RuntimeError(f"cannot reach {target.database.dsn}")


def test_passes_with_secrets_in_a_comparison_a_step_and_an_attachment(baseline, target):
    secrets = " ".join(every_secret(target))
    pathlib.Path("load").mkdir(exist_ok=True)
    pathlib.Path("load/report.html").write_text(f"<html>load run with {secrets}</html>")
    with allure.step(f"call with {secrets}"):
        baseline.exact("echo", {"secrets": secrets, "n": 1})
    allure.attach(f"headers: X-API-Key: {secrets}", name=f"request {secrets}")
    allure.dynamic.parameter("credential", secrets)
    print("sent", secrets)
    logging.getLogger("check").warning("sent %s", secrets)


def test_fails_with_secrets_in_its_message(target):
    values = every_secret(target)
    print("captured:", values)
    assert values == [], f"leaked {values}"


def test_fails_in_a_baseline_comparison(baseline, target):
    baseline.exact("token", target.credentials["admin"].bearer_token + "-changed")


def test_is_broken_by_its_fixture(broken_fixture):
    pass


def test_calls_the_unreachable_api(api):
    api.get("/health")


def test_skips_naming_a_secret(target):
    pytest.skip(f"not with {target.credentials['admin'].bearer_token}")
"""
)


# A load report naming the secrets, attached once for the run (a global attachment).
LOAD_REPORT_CONFTEST = """
def pytest_prodval_comparison(item, verdict):
    if verdict.key.endswith("::echo"):
        verdict.evidence["locust_report"] = "load/report.html"
"""


def test_no_secret_reaches_allure_junit_or_any_file_under_reports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", prodval=secret_config(monkeypatch, REPORT_SECRETS))
    pytester.makepyfile(test_leaky=CHECKS)
    pytester.makeconftest(LOAD_REPORT_CONFTEST)
    pytester.runpytest("--target-env=local", "--record-baseline", "-k", "passes")
    result = pytester.runpytest(
        "--target-env=local",
        "--alluredir=reports/allure-results",
        "--junitxml=reports/junit.xml",
        "-rA",
        "--showlocals",
    )
    output = result.stdout.str() + result.stderr.str()
    # The unreachable API: found by the session's first exchange, its check an error at setup.
    result.assert_outcomes(passed=1, failed=2, errors=2, skipped=1)
    results = pytester.path / "reports" / "allure-results"
    written = [p.name for p in results.iterdir()]
    # The leaks were really written by allure-pytest, then redacted: the texts are there.
    assert sum(name.endswith("-result.json") for name in written) == 6
    assert any(name.endswith("-attachment.txt") for name in written)
    texts = "".join(p.read_text(errors="replace") for p in results.iterdir())
    assert "***" in texts and "cannot reach postgresql://app:***@" in texts
    shared = list(results.glob("prodval-*-attachment.html"))
    assert len(shared) == 1 and "load run with ***" in shared[0].read_text()
    (pytester.path / "load" / "report.html").unlink()  # the check's own file, not a report
    assert scan(pytester.path, output, REPORT_SECRETS.values()) == []
