"""The CI examples in docs/examples/ci: valid against their schemas, offline; time limits that
cover the gate's worst case; secrets through the environment, never pasted into a command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_prodval.gate import arguments

CI = Path(__file__).resolve().parent.parent / "docs" / "examples" / "ci"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
DEPLOY_S = 600  # the examples' helm --timeout 10m
KILL_AFTER_S = 30  # PRODVAL_GATE_KILL_AFTER's default, after each bounded pytest/rollback run


def worst_case_s() -> int:
    """The gate's phase budgets at their defaults, summed (docs/ci.md shows the arithmetic)."""
    suites = arguments.DEFAULT_TIMEOUT_S + KILL_AFTER_S
    rollback = arguments.DEFAULT_ROLLBACK_TIMEOUT_S + KILL_AFTER_S
    verification = arguments.DEFAULT_TIMEOUT_S + KILL_AFTER_S  # --verify-timeout = --timeout
    preflight = arguments.PROBE_S + arguments.COLLECT_S
    return int(preflight + suites + rollback + verification + arguments.NOTIFY_S)


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CI / name).read_text())
    assert isinstance(data, dict)
    return data


def test_the_worst_case_is_the_one_docs_ci_states() -> None:
    assert worst_case_s() == 2515
    assert "2515" in (CI.parent.parent / "ci.md").read_text()


@pytest.mark.parametrize(
    ("name", "schema"),
    [("github-actions.yml", "vendor.github-workflows"), ("gitlab-ci.yml", "vendor.gitlab-ci")],
)
def test_the_example_is_valid_against_its_vendored_schema_offline(
    name: str, schema: str, tmp_path: Path
) -> None:
    # Any download would go to a closed port and fail: the vendored schema must be enough.
    closed = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "NO_PROXY": ""}
    env.update(http_proxy=closed, https_proxy=closed, no_proxy="", XDG_CACHE_HOME=str(tmp_path))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--no-cache", "--builtin-schema", schema, str(CI / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_an_invalid_workflow_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  gate:\n    timeout-minutes: soon\n    steps: []\n")
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr


def test_the_github_job_and_gate_step_cover_the_worst_case() -> None:
    [job] = load("github-actions.yml")["jobs"].values()
    assert job["timeout-minutes"] * 60 >= worst_case_s() + DEPLOY_S
    [gate] = [step for step in job["steps"] if "prodval-gate" in step.get("run", "")]
    assert gate["timeout-minutes"] * 60 >= worst_case_s()


def test_the_gitlab_job_covers_the_worst_case() -> None:
    job = load("gitlab-ci.yml")["deploy-production"]
    minutes = re.fullmatch(r"(\d+)m", job["timeout"])
    assert minutes, job["timeout"]
    assert int(minutes[1]) * 60 >= worst_case_s() + DEPLOY_S
    assert job["artifacts"]["reports"]["junit"] == "reports/gate/*/suites.xml"
    assert job["artifacts"]["when"] == "always"


def test_the_jenkinsfile_covers_the_worst_case_and_consumes_junit() -> None:
    text = (CI / "Jenkinsfile").read_text()
    minutes = re.search(r"timeout\(time: (\d+), unit: 'MINUTES'\)", text)
    assert minutes
    assert int(minutes[1]) * 60 >= worst_case_s() + DEPLOY_S
    assert "junit testResults: 'reports/gate/*/suites.xml'" in text
    assert "allure results:" in text


def _commands(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [line for item in value for line in _commands(item)]
    return []


def test_no_command_line_references_a_secret_directly() -> None:
    workflow = load("github-actions.yml")
    runs = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]
    assert len(runs) >= 4
    for run in runs:
        assert "secrets." not in run, run
        assert "${{" not in run, run  # no expression expanded into the shell text
    secrets_in_env = [value for job in workflow["jobs"].values() for value in job["env"].values()]
    assert any("secrets.SLACK_WEBHOOK_URL" in value for value in secrets_in_env)
    job = load("gitlab-ci.yml")["deploy-production"]
    lines = [
        line
        for key in ("before_script", "script", "after_script")
        for line in _commands(job.get(key))
    ]
    assert any("prodval-gate" in line for line in lines)
    for line in lines:
        assert "secrets." not in line and "${{" not in line, line
    jenkins = (CI / "Jenkinsfile").read_text()
    for sh in re.findall(r"sh '''(.*?)'''|sh '([^']*)'", jenkins, re.S):
        assert "credentials(" not in "".join(sh)


def test_every_example_publishes_allure_and_keeps_the_reports() -> None:
    github = (CI / "github-actions.yml").read_text()
    assert "allure generate" in github and "actions/upload-artifact" in github
    assert "mikepenz/action-junit-report" in github
    gitlab = (CI / "gitlab-ci.yml").read_text()
    assert "allure generate" in gitlab
    for name in ("github-actions.yml", "gitlab-ci.yml", "Jenkinsfile"):
        assert "--allure-dir reports/allure-results" in (CI / name).read_text(), name


def test_docs_ci_refers_to_the_examples_and_embeds_no_copy() -> None:
    text = (CI.parent.parent / "ci.md").read_text()
    for name in ("github-actions.yml", "gitlab-ci.yml", "Jenkinsfile"):
        assert f"examples/ci/{name}" in text
    assert "```yaml" not in text
