"""Packaging: a light plugin wheel, docpipe as a distribution of its own, and a plugin that
leaves unrelated projects (and ``-p no:prodval``) alone.

The wheels are built offline from this checkout (``pip wheel --no-deps --no-build-isolation``
with the venv's hatchling) and read as a user's pip would: METADATA and the file list.
"""

from __future__ import annotations

import ast
import email.parser
import email.policy
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .fake_servers import http_server

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCPIPE_ROOT = REPO_ROOT / "docpipe"

# What every validation needs: the plugin's only hard requirements.
PLUGIN_REQUIRES = {"pytest", "pytest-timeout", "httpx", "pyyaml", "pydantic", "numpy", "scipy"}
# The web server, database server, load and platform stacks: never without an extra.
NEVER_HARD = {
    "starlette",
    "uvicorn",
    "pgserver",
    "locust",
    "matplotlib",
    "trustme",
    "python-multipart",
    "prometheus-client",
    "pyjwt",
    "asyncpg",
    "pytest-asyncio",
    "allure-pytest",
    "pytest-xdist",
    "docpipe",
}
EXTRAS = {"load", "allure", "db", "xdist", "watch", "all", "dev"}
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]

# Loaded with -p before the plugin: the db extra (pytest-asyncio, asyncpg) cannot be imported.
BLOCK_DB_EXTRA = """
import sys

sys.modules["pytest_asyncio"] = None
sys.modules["asyncpg"] = None
"""
UNRELATED_INI = "[pytest]\nfilterwarnings = error\n"
UNRELATED_TESTS = """
import sys


def test_unrelated():
    assert "pytest_asyncio" not in sys.modules or sys.modules["pytest_asyncio"] is None
"""


def _name(requirement: str) -> str:
    """The normalised distribution name of a Requires-Dist value."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _build_wheel(source: Path, out: Path) -> Path:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling (the build backend) is not installed: pip install -e '.[dev]'")
    result = subprocess.run(
        [*PIP_WHEEL, str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def _hard_requirements(metadata: email.message.Message) -> set[str]:
    return {
        _name(value) for value in metadata.get_all("Requires-Dist", []) if "extra ==" not in value
    }


def _extra_requirements(metadata: email.message.Message, extra: str) -> set[str]:
    marker = f"extra == '{extra}'"
    return {_name(value) for value in metadata.get_all("Requires-Dist", []) if marker in value}


@pytest.fixture(scope="module")
def plugin_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(REPO_ROOT, tmp_path_factory.mktemp("plugin-wheel"))


@pytest.fixture(scope="module")
def docpipe_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(DOCPIPE_ROOT, tmp_path_factory.mktemp("docpipe-wheel"))


def test_the_plugin_wheel_requires_only_what_every_validation_needs(plugin_wheel: Path) -> None:
    metadata = _metadata(plugin_wheel)
    assert _hard_requirements(metadata) == PLUGIN_REQUIRES
    assert set(metadata.get_all("Provides-Extra", [])) == EXTRAS
    assert _extra_requirements(metadata, "load") == {"locust", "matplotlib"}
    assert _extra_requirements(metadata, "db") == {"asyncpg", "pytest-asyncio"}
    assert _extra_requirements(metadata, "allure") == {"allure-pytest"}
    assert _extra_requirements(metadata, "xdist") == {"pytest-xdist"}
    assert _extra_requirements(metadata, "watch") == {"prometheus-client"}
    every_extra = set().union(
        *(_extra_requirements(metadata, e) for e in ("load", "db", "allure", "xdist", "watch"))
    )
    assert _extra_requirements(metadata, "all") == every_extra
    assert every_extra <= _extra_requirements(metadata, "dev")
    # A path dependency cannot be portable: the scripts install ./docpipe themselves.
    assert "docpipe" not in _extra_requirements(metadata, "dev")


def test_the_plugin_wheel_holds_only_the_plugin_and_its_gate_script(plugin_wheel: Path) -> None:
    with zipfile.ZipFile(plugin_wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_text = archive.read(entry_points).decode()
    packages = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert packages == {"pytest_prodval"}
    assert "pytest_prodval/scripts/prodval-gate" in names
    assert "prodval-gate = pytest_prodval.gate:main" in entry_text
    assert "prodval-watch = pytest_prodval.watch:main" in entry_text
    assert "prodval = pytest_prodval.plugin" in entry_text
    assert "docpipe" not in entry_text


def test_docpipe_is_a_distribution_of_its_own(docpipe_wheel: Path) -> None:
    metadata = _metadata(docpipe_wheel)
    assert metadata["Name"] == "docpipe"
    with zipfile.ZipFile(docpipe_wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "docpipe = docpipe.cli:main" in archive.read(entry_points).decode()
    sources = {
        path.relative_to(DOCPIPE_ROOT / "src").as_posix()
        for path in (DOCPIPE_ROOT / "src" / "docpipe").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sources, "docpipe/src/docpipe is empty"
    assert sources <= names, f"left out of the wheel: {sorted(sources - names)}"
    assert "docpipe/py.typed" in names


def _third_party_imports(package: Path) -> set[str]:
    """Top-level modules imported anywhere in ``package`` that are neither stdlib nor itself."""
    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {package.name}


def test_docpipe_requires_every_package_it_imports(docpipe_wheel: Path) -> None:
    required = _hard_requirements(_metadata(docpipe_wheel))
    distributions = importlib.metadata.packages_distributions()
    imported = _third_party_imports(DOCPIPE_ROOT / "src" / "docpipe")
    missing = {
        module: distributions.get(module)
        for module in imported
        if not {_name(d) for d in distributions.get(module, [module])} & required
    }
    assert not missing, f"imported by docpipe but not in docpipe/pyproject.toml: {missing}"
    # Used without an import statement: starlette's form parser, docpipe.pg's binaries.
    assert {"python-multipart", "pgserver"} <= required


def _plugin_only(*args: str) -> list[str]:
    """pytest as in a venv with only the plugin's distribution: autoload off, its plugins on."""
    return ["-p", "block_db_extra", "-p", "pytest_prodval.plugin", "-p", "pytest_timeout", *args]


def test_an_unrelated_project_runs_clean_with_the_plugin_installed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(UNRELATED_INI)  # no asyncio_* keys, no prodval.yaml, no target
    pytester.makepyfile(block_db_extra=BLOCK_DB_EXTRA, test_unrelated=UNRELATED_TESTS)
    result = pytester.runpytest_subprocess(*_plugin_only("-p", "no:cacheprovider", "-W", "error"))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stdout.str().lower()


def test_without_the_db_extra_the_async_fixtures_fail_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(UNRELATED_INI)
    pytester.makepyfile(
        block_db_extra=BLOCK_DB_EXTRA,
        test_async="def test_db(db):\n    pass\n\n\ndef test_api(async_api):\n    pass\n",
    )
    with http_server(lambda method, path: (200, b"{}")) as url:
        pytester.makefile(
            ".yaml",
            prodval=f"environments:\n  local:\n    api: {{base_url: '{url}'}}\n"
            "    database: {dsn: 'postgresql://app@127.0.0.1:9/app'}\n",
        )
        result = pytester.runpytest_subprocess(
            *_plugin_only("-p", "no:cacheprovider", "--target-env=local")
        )
    result.assert_outcomes(errors=2)
    for fixture in ("db", "async_api"):
        line = f"the {fixture} fixture needs pytest-prodval[db]: pip install 'pytest-prodval[db]'"
        assert line in result.stdout.lines
    assert "Traceback" not in result.stdout.str()


def _run_in_repo(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PRODVAL_NO_EMBEDDED_TARGET"}
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "pytest"]
    return subprocess.run(
        [*command, *([] if code else args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_p_no_prodval_works_in_this_repository() -> None:
    result = _run_in_repo("-p", "no:prodval", "-p", "no:cacheprovider", "--co", "-q", __file__)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_with_the_plugin_disabled_the_suites_are_skipped_saying_why() -> None:
    result = _run_in_repo("-p", "no:prodval", "-p", "no:cacheprovider", "-q", "-rs", "suites")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "the checks need pytest-prodval, disabled by -p no:prodval" in output
    assert re.search(r"^\d+ skipped in ", result.stdout, re.MULTILINE), output[-2000:]


# The pitfall of the src layout: uninstalled, `docpipe` is the repository's empty docpipe/
# folder (a namespace package) and docpipe.control cannot be imported.
WITHOUT_DOCPIPE = """
import sys

import pytest

sys.modules["docpipe.control"] = None
raise SystemExit(pytest.main(sys.argv[1:]))
"""


def test_the_root_conftest_says_in_one_line_that_docpipe_is_not_installed() -> None:
    result = _run_in_repo(
        "--target-env=local", "-p", "no:cacheprovider", "--co", "-q", __file__, code=WITHOUT_DOCPIPE
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("ERROR: the embedded local target needs the docpipe distribution ")
    assert line.endswith(
        ": pip install -e ./docpipe (scripts/validate-local and scripts/test install it)"
    )
