"""The boundary between the plugin and its users is enforced, not just described.

import-linter's contracts (``[tool.importlinter]`` in pyproject.toml): the suites import
``pytest_prodval`` only, never its submodules; the plugin imports neither the suites nor the
reference platform. The root conftest is not in a package, so a source scan covers it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def private_imports(path: Path) -> list[str]:
    """``pytest_prodval.<submodule>`` imports in ``path``, TYPE_CHECKING blocks included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path}:{node.lineno}: {n}" for n in names if n.startswith("pytest_prodval.")]
    return found


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_suite_importing_a_plugin_submodule_breaks_the_contract(tmp_path: Path) -> None:
    # The repository's own contracts, run over a stand-in ``suites`` package that cheats.
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "__init__.py").write_text("")
    (tmp_path / "suites" / "test_cheat.py").write_text(
        "from pytest_prodval.baseline.keys import entry_key\n"
    )
    section = re.search(
        r"^\[tool\.importlinter\].*?(?=^\[(?!\[?tool\.importlinter)|\Z)",
        (ROOT / "pyproject.toml").read_text(),
        re.S | re.M,
    )
    assert section is not None
    (tmp_path / "pyproject.toml").write_text(section.group(0))
    result = lint_imports(tmp_path, PYTHONPATH=str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "suites.test_cheat -> pytest_prodval.baseline.keys" in result.stdout


def test_the_root_conftest_and_the_suites_import_no_plugin_submodule() -> None:
    sources = [ROOT / "conftest.py", *sorted((ROOT / "suites").rglob("*.py"))]
    assert len(sources) > 20
    found = [line for path in sources for line in private_imports(path)]
    assert found == []


def test_mypy_checks_the_suites_and_the_root_conftest_like_the_plugin() -> None:
    # scripts/test runs mypy without arguments: the config must name the suites.
    section = re.search(
        r"^\[tool\.mypy\]\n(.*?)^\[", (ROOT / "pyproject.toml").read_text(), re.S | re.M
    )
    assert section is not None
    assert re.search(r"^strict = true$", section.group(1), re.M)
    files = re.search(r"^files = \[(.*?)\]", section.group(1), re.M)
    assert files is not None
    assert {'"pytest_prodval"', '"suites"', '"conftest.py"'} <= {
        name.strip() for name in files.group(1).split(",")
    }
