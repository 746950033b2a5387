"""Every failed check has a failed verdict in the summary, whatever made it fail."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

CHECKS = """
import os

import pytest

def test_a_plain_assert(target):
    assert 1 + 1 == 3, "arithmetic is off by one"

def test_a_comparison(baseline):
    baseline.exact("status", int(os.environ.get("STATUS", "500")))

def test_an_error_in_a_fixture(broken):
    pass

def test_passes(target):
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_to_fail(target):
    assert False

def test_the_api_does_not_answer(api):
    api.get("/health")

def test_a_secret_in_the_failure(target):
    assert False, "token tok-SECRET-1234 was refused"
"""

CONFTEST = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("the fixture could not start")
"""


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port nothing listens on (bound, never listening, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, port: int, *args: str
) -> tuple[pytest.RunResult, Any]:
    pytester.makefile(
        ".yaml",
        prodval=f"""
environments:
  local:
    api:
      base_url: http://127.0.0.1:{port}
      timeout: 2
    params:
      token: tok-SECRET-1234
""",
    )
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeconftest(CONFTEST)
    baseline = pytester.path / "baselines" / "local.json"
    with monkeypatch.context() as recording:
        recording.setenv("STATUS", "200")  # the known-good release answered 200
        pytester.runpytest("--target-env=local", "--record-baseline", "-k", "comparison")
    assert baseline.exists()
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider", *args)
    summary = json.loads((pytester.path / "reports" / "prodval-summary.json").read_text())
    return result, summary


def test_each_failure_of_any_cause_is_one_failed_verdict_of_its_kind(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, refused_port: int
) -> None:
    result, summary = run(pytester, monkeypatch, refused_port)
    # The API did not answer the session's probe either: that check fails at its set-up.
    result.assert_outcomes(passed=1, failed=3, errors=2, xfailed=1)
    failed = {
        c["nodeid"].split("::")[-1]: c for c in summary["comparisons"] if c["status"] == "failed"
    }
    assert {name: verdict["kind"] for name, verdict in failed.items()} == {
        "test_a_plain_assert": "check",
        "test_a_comparison": "exact",
        "test_an_error_in_a_fixture": "check",
        "test_the_api_does_not_answer": "unreachable",
        "test_a_secret_in_the_failure": "check",
    }
    assert summary["counts"]["failed"] == 5
    assert "arithmetic is off by one" in failed["test_a_plain_assert"]["message"]
    assert failed["test_an_error_in_a_fixture"]["evidence"] == {
        "phase": "setup",
        "exception": "RuntimeError",
    }
    assert "connection refused" in failed["test_the_api_does_not_answer"]["message"]
    assert failed["test_a_comparison"]["key"].endswith("::status")


def test_a_failure_verdict_carries_no_secret(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, refused_port: int
) -> None:
    result, summary = run(pytester, monkeypatch, refused_port, "-k", "secret")
    result.assert_outcomes(failed=1, deselected=6)
    (verdict,) = summary["comparisons"]
    assert verdict["status"] == "failed"
    assert "tok-SECRET-1234" not in json.dumps(summary)
    assert "token *** was refused" in verdict["message"]


def test_a_check_out_of_its_time_budget_is_a_timeout_verdict(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        prodval="""
environments:
  local:
    api: {base_url: "http://127.0.0.1:9"}
    timeouts: {check_s: 1}
""",
    )
    pytester.makepyfile(
        test_slow="""
import threading

def test_blocks(target):
    threading.Event().wait(30)
"""
    )
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    summary = json.loads((pytester.path / "reports" / "prodval-summary.json").read_text())
    (verdict,) = summary["comparisons"]
    assert (verdict["kind"], verdict["status"]) == ("timeout", "failed")
    assert "did not finish within its time budget" in verdict["message"]
