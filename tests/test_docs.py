"""The docs' examples run, and the code shown in the docs is the code that runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_assertions_example_records_then_passes(pytester: pytest.Pytester) -> None:
    for path in (DOCS / "examples").iterdir():
        if path.is_file():
            shutil.copy(path, pytester.path / path.name)
    pytester.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=4)
    result = pytester.runpytest("--target-env=local")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["passed *open connections*12*12*"])
    result.stdout.fnmatch_lines(["passed *within_the_slo::p95*< 200 ms*"])


def test_every_python_block_in_the_assertions_page_is_in_the_example_file() -> None:
    example = (DOCS / "examples/test_assertions_example.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "assertions.md").read_text(), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        assert block in example, block


def test_the_checks_page_is_generated_from_the_current_checks() -> None:
    result = subprocess.run(
        [sys.executable, str(DOCS.parent / "scripts/gen-checks-doc"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_test_the_reliability_matrix_names_exists() -> None:
    """docs/reliability.md names its proofs as tests/<file>.py::<test>[id]; each must exist."""
    text = (DOCS / "reliability.md").read_text()
    named = re.findall(r"(tests/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?", text)
    assert len(named) >= 20
    for path, test, param in named:
        source = (DOCS.parent / path).read_text()
        assert re.search(rf"^(async )?def {test}\(", source, re.M), f"{path}::{test}"
        if param:
            assert f'"{param}"' in source or f"'{param}'" in source, f"{path}::{test}[{param}]"


def test_the_api_example_records_then_passes_and_the_hook_sees_every_verdict(
    pytester: pytest.Pytester,
) -> None:
    shutil.copy(DOCS / "examples/prodval.yaml", pytester.path / "prodval.yaml")
    for path in (DOCS / "examples/api").glob("*.py"):
        shutil.copy(path, pytester.path / path.name)
    pytester.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=4)
    result = pytester.runpytest("--target-env=local")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["the hook saw 2 verdicts: exact, limit"])


def test_every_python_block_in_the_api_page_is_in_an_api_example_file() -> None:
    examples = [path.read_text() for path in (DOCS / "examples/api").glob("*.py")]
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "api.md").read_text(), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        assert any(block in example for example in examples), block


def test_the_api_page_names_every_public_name() -> None:
    import pytest_prodval

    text = (DOCS / "api.md").read_text()
    missing = [name for name in pytest_prodval.__all__ if f"`{name}`" not in text]
    assert missing == []
