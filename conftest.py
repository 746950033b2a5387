"""Root conftest of the validation project: the embedded default target.

The suites in suites/ use only the public fixtures of the pytest-prodval plugin (``target``,
``api``, ``api_as``, ``async_api``, ``db``, ``baseline``); the plugin itself is loaded through
its ``pytest11`` entry point once the package is installed.

With ``--target-env=local`` and no docpipe running in ``.docpipe/``, the session starts one
(``docpipe up``) before the first check and stops it after the last; a docpipe that is already
up is used as it is and left running.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:
    from docpipe.control import run_docpipe
except ImportError as exc:  # uninstalled, the src-layout docpipe/ folder is an empty namespace
    _DOCPIPE_MISSING: str | None = (
        f"the embedded local target needs the docpipe distribution ({exc}): "
        "pip install -e ./docpipe (scripts/validate-local and scripts/test install it)"
    )
else:
    _DOCPIPE_MISSING = None

EMBEDDED_ENV = "local"
# The entry-point name, and the module name when loaded with -p pytest_prodval.plugin.
_PLUGIN_NAMES = ("prodval", "pytest_prodval.plugin")
_STARTED = pytest.StashKey[Path]()
# This project's prodval_* ini keys: with -p no:prodval, --strict-config must still know them.
_PRODVAL_INI = ("prodval_suites", "prodval_severities", "prodval_gate_verify")
_PLUGIN_MARKERS = ("synthetic", "destructive", "prodval_severity")


def _plugin_active(pluginmanager: pytest.PytestPluginManager) -> bool:
    return any(pluginmanager.has_plugin(name) for name in _PLUGIN_NAMES)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not _plugin_active(pluginmanager):
        for name in _PRODVAL_INI:
            parser.addini(name, "read by pytest-prodval (disabled in this run)", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    if not _plugin_active(config.pluginmanager):
        # The suites use the plugin's own markers; --strict-markers must still know them.
        for marker in _PLUGIN_MARKERS:
            config.addinivalue_line("markers", f"{marker}: pytest-prodval's (disabled in this run)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _plugin_active(config.pluginmanager):
        skip = pytest.mark.skip(reason="the checks need pytest-prodval, disabled by -p no:prodval")
        suites = Path(config.rootpath) / "suites"
        for item in items:
            if suites in item.path.parents:
                item.add_marker(skip)


def _wants_embedded(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):  # xdist workers use what the controller started
        return False
    # With -p no:prodval the plugin's option and ini key do not exist (getini would raise).
    if not _plugin_active(config.pluginmanager):
        return False
    target = config.getoption("prodval_target_env", None) or config.getini("prodval_target_env")
    return target == EMBEDDED_ENV and not os.environ.get("PRODVAL_NO_EMBEDDED_TARGET")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not _wants_embedded(config):
        return
    if _DOCPIPE_MISSING is not None:
        raise pytest.UsageError(_DOCPIPE_MISSING)
    home = Path(config.rootpath) / ".docpipe"
    if run_docpipe(home, "status").returncode == 0:
        return
    result = run_docpipe(home, "up")
    if result.returncode != 0:
        raise pytest.UsageError(
            "could not start the embedded local target (docpipe up): "
            + " ".join((result.stderr or result.stdout).split())[:500]
        )
    config.stash[_STARTED] = home


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_STARTED, None)
    if home is not None:
        run_docpipe(home, "down")
