"""prodval-gate under GitHub Actions: the step summary and the ::error annotations.

The rendering is a pure function of the gate record and the suites' summary (unit tests);
the end-to-end tests run the real gate on the fake project of tests/gate_harness.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_prodval.gate.github import escape_data, escape_property, publish, render
from pytest_prodval.safety.redaction import Redactor

from .gate_harness import SECRET, FakeTarget, Project, gate_args, run_gate

KEY = "sk-live-0123456789abcdef"


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "decision": "rolled_back",
        "exit_code": 1,
        "reason": "checks failed (pytest exit 1); rolled back and verified",
        "environment": "production",
        "target": {"api": "https://api.example.com", "version": "2.4.1"},
        "suites": {
            "failed_checks": [
                {
                    "check": "suites/application/test_contract.py::test_health",
                    "outcome": "failed",
                    "message": f"AssertionError: status 500, key {KEY}\nsecond line",
                }
            ],
        },
        "rollback": {"command": "helm rollback", "succeeded": True},
        "verification": {"passed": True},
    }
    base.update(overrides)
    return base


SUMMARY = {
    "comparisons": [
        {
            "nodeid": "suites/application/test_contract.py::test_health",
            "key": "status code",
            "status": "failed",
            "message": "expected 200, got 500",
        },
        {
            "nodeid": "suites/application/test_contract.py::test_health",
            "key": "body",
            "status": "passed",
            "message": "same shape",
        },
    ]
}


def test_escaping_follows_githubs_toolkit() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a: b, c%\n") == "a%3A b%2C c%25%0A"
    assert escape_data("a: b, c") == "a: b, c"  # the message keeps : and ,


def test_the_summary_names_the_decision_release_and_what_differs() -> None:
    rendered = render(record(), SUMMARY, Redactor([KEY]))
    text = rendered.markdown
    assert text.startswith("## prodval-gate: rolled back")
    assert "**Decision:** `rolled_back` (exit 1)" in text
    assert "**Environment:** `production`" in text
    assert "**Release:** `2.4.1`" in text
    assert "**Rollback:** succeeded" in text and "**Verification:** passed" in text
    assert "| `suites/application/test_contract.py::test_health` | failed |" in text
    assert "| `status code` | failed | expected 200, got 500 |" in text
    assert "same shape" not in text  # passed comparisons are not differences
    assert KEY not in text and "***" in text


def test_one_error_command_per_failed_check_with_file_line_and_escaping() -> None:
    locations = {"suites/application/test_contract.py::test_health": ("suites/a,b.py", 12)}
    rendered = render(record(), SUMMARY, Redactor([KEY]), locations)
    [command] = rendered.commands
    properties, _, message = command.removeprefix("::error ").partition("::")
    assert properties == (
        "title=prodval-gate (production)%3A suites/application/test_contract.py%3A%3Atest_health,"
        "file=suites/a%2Cb.py,line=12"
    )
    assert message == (
        "AssertionError: status 500, key ***%0Asecond line%0Astatus code: expected 200, got 500"
    )
    assert "\n" not in command and KEY not in command


def test_without_a_known_line_the_file_comes_from_the_check_id() -> None:
    [command] = render(record(), None, Redactor(())).commands
    assert ",file=suites/application/test_contract.py::" in command
    assert "line=" not in command.partition("::")[2].partition("::")[0]


@pytest.mark.parametrize(
    ("decision", "headline"),
    [
        ("passed", "passed"),
        ("rollback_failed", "rollback failed"),
        ("verification_failed", "rolled back but not verified"),
        ("undecided", "undecided"),
        ("misconfigured", "undecided"),
    ],
)
def test_every_decision_has_a_headline(decision: str, headline: str) -> None:
    rendered = render(record(decision=decision, suites=None, target=None), None, Redactor(()))
    assert rendered.markdown.startswith(f"## prodval-gate: {headline}")
    assert "**Release:** unknown" in rendered.markdown
    assert rendered.commands == []


def test_a_pipe_or_newline_in_a_message_does_not_break_the_table() -> None:
    failed = [{"check": "t.py::x", "outcome": "error", "message": "a | b\nc"}]
    text = render(record(suites={"failed_checks": failed}), None, Redactor(())).markdown
    assert "| `t.py::x` | error | a \\| b |" in text


def test_publish_does_nothing_outside_github_actions(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = tmp_path / "summary.md"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    publish(record(), str(tmp_path / "none.yaml"), "production", environ, out)
    assert out.getvalue() == "" and not summary.exists()


def test_publish_appends_to_the_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    out = io.StringIO()
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    publish(record(), str(tmp_path / "none.yaml"), "production", environ, out)
    assert summary.read_text().startswith("earlier step\n## prodval-gate: rolled back")
    assert out.getvalue().startswith("::error title=")


# --- end to end: the real gate --------------------------------------------------------------


@pytest.fixture(scope="module")
def target() -> Iterator[FakeTarget]:
    with FakeTarget() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, target: FakeTarget) -> Project:
    return Project(tmp_path / "project", target.url)


def test_a_rolled_back_gate_writes_the_summary_and_annotates_the_failed_check(
    project: Project, tmp_path: Path
) -> None:
    project.set("suites", "fail")
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_gate(project.path, gate_args(project), env)
    assert result.returncode == 1, result.stderr
    text = summary.read_text()
    assert text.startswith("## prodval-gate: rolled back")
    assert "**Environment:** `fake`" in text
    assert "`test_release.py::test_the_release_behaves` | failed" in text
    [command] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert command.startswith(
        "::error title=prodval-gate (fake)%3A test_release.py%3A%3Atest_the_release_behaves,"
        "file=test_release.py,line="
    )
    assert "it answered with the key ***" in command
    assert SECRET not in text and SECRET not in result.stdout and SECRET not in result.stderr


def test_a_passing_gate_writes_a_summary_and_no_annotation(
    project: Project, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_gate(project.path, gate_args(project), env)
    assert result.returncode == 0, result.stderr
    assert summary.read_text().startswith("## prodval-gate: passed")
    assert "::error" not in result.stdout


def test_outside_github_actions_the_gate_writes_no_summary(
    project: Project, tmp_path: Path
) -> None:
    project.set("suites", "fail")
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_gate(project.path, gate_args(project), env)
    assert result.returncode == 1, result.stderr
    assert not summary.exists() and "::error" not in result.stdout
