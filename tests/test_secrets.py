"""Secret values never reach the terminal, failure messages, JUnit, the summary or the baseline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

SECRETS = {
    "PRODVAL_TEST_API_KEY": "k3y-Viewer-0001",
    "PRODVAL_TEST_TOKEN": "t0ken-Admin-0002",
    "PRODVAL_TEST_DB_PASSWORD": "pw-Database-0003",
    "PRODVAL_TEST_HOST_SUFFIX": "h0st-Secret-0004",
}

CONFIG = """
environments:
  local:
    api:
      base_url: http://127.0.0.1:9/${PRODVAL_TEST_HOST_SUFFIX}
      timeout: 0.5
    database:
      dsn: postgresql://app:${PRODVAL_TEST_DB_PASSWORD}@127.0.0.1:9/app
    credentials:
      viewer:
        api_key: ${PRODVAL_TEST_API_KEY}
      admin:
        bearer_token: ${PRODVAL_TEST_TOKEN}
"""

CHECKS = """
import os

def test_records_a_value_holding_a_secret(baseline, target):
    baseline.exact("echo", {"key": target.credentials["viewer"].api_key, "n": 1})

def test_fails_with_secrets_in_message(target):
    values = [target.credentials["admin"].bearer_token, target.database.dsn, target.api.base_url]
    print("captured:", values)
    assert values == [], f"leaked {values}"

def test_fails_in_a_baseline_comparison(baseline, target):
    baseline.exact("token", target.credentials["admin"].bearer_token + "-changed")

def test_calls_the_api_and_fails(api):
    api.get("/health")
"""


def scan(root: Path, output: str, secrets: Iterable[str]) -> list[str]:
    """Where any of ``secrets`` appears: in ``output`` or in any file under ``root``."""
    secrets = list(secrets)
    found = [f"output: {s}" for s in secrets if s in output]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {s}" for s in secrets if s.encode() in data]
    return found


@pytest.mark.parametrize("mode", ["record", "compare"])
def test_no_secret_reaches_any_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pytester.makefile(".yaml", prodval=CONFIG)
    pytester.makepyfile(test_leaky=CHECKS)
    pytester.runpytest("--target-env=local", "--record-baseline", "-k", "records")
    args = ["--target-env=local", "--junitxml=reports/junit.xml", "-rA", "-vv", "--showlocals"]
    if mode == "record":
        args.append("--record-baseline")
    result = pytester.runpytest(*args)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "***" in output
    assert scan(pytester.path, output, SECRETS.values()) == []
