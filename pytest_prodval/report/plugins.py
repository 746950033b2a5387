"""Wiring of the review reports into the plugin: ini keys, registration, xdist clean-up rule.

``plugin.py`` calls three functions from here and nothing else of ``report/``:

- ``add_report_options(parser)`` from ``pytest_addoption``;
- ``keep_workers_from_cleaning(config)`` from ``pytest_cmdline_main``;
- ``configure_reports(config, session)`` from ``pytest_configure``, once a target is chosen.

Allure is imported only when ``--alluredir`` is given (``report/allure.py`` imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .junit import JUnitEvidence
from .labels import (
    DEFAULT_DOCS_URL,
    SEVERITIES,
    SEVERITIES_INI,
    SEVERITY_MARKER,
    SUITES_INI,
    Taxonomy,
)

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = [
    "SEVERITY_MARKER_HELP",
    "add_report_options",
    "configure_reports",
    "keep_workers_from_cleaning",
    "taxonomy",
]

SEVERITY_MARKER_HELP = (
    f"{SEVERITY_MARKER}(level): Allure severity of the check ({', '.join(SEVERITIES)}); "
    f"default: its suite's level in ini {SEVERITIES_INI}, else normal"
)
_TAXONOMY = pytest.StashKey[Taxonomy]()


def add_report_options(parser: pytest.Parser) -> None:
    parser.addini(
        "prodval_docs_url",
        "link template for a check's documentation in Allure; placeholders {check}, {suite}, "
        f"{{module}}, {{nodeid}} (default: {DEFAULT_DOCS_URL})",
        default=None,
    )
    parser.addini(
        SUITES_INI,
        "markers that name the project's suites, in the order docs list them: a check's suite "
        "is its Allure epic and its section in the generated checks page",
        type="linelist",
        default=[],
    )
    parser.addini(
        SEVERITIES_INI,
        f"default Allure severity per suite, one suite=level per line ({', '.join(SEVERITIES)}); "
        f"a check's @pytest.mark.{SEVERITY_MARKER}(level) wins; others are normal",
        type="linelist",
        default=[],
    )


def taxonomy(config: pytest.Config) -> Taxonomy:
    """The project's declared suites and severities, read (and checked) once per run."""
    if _TAXONOMY not in config.stash:
        config.stash[_TAXONOMY] = Taxonomy.from_config(config)
    return config.stash[_TAXONOMY]


def alluredir(config: pytest.Config) -> Path | None:
    """The ``--alluredir`` of allure-pytest, absolute as allure-pytest makes it; None if unset."""
    value = config.getoption("allure_report_dir", None)
    if not value:
        return None
    return Path(str(value)).absolute()


def keep_workers_from_cleaning(config: pytest.Config) -> None:
    """Under xdist only the controller cleans the alluredir (``--clean-alluredir``).

    allure-pytest cleans in ``pytest_configure`` of every process; the controller's runs before
    any worker starts, while the workers' would race each other (and delete what a faster
    worker already wrote). Called from ``pytest_cmdline_main``, which xdist workers run before
    their ``pytest_configure``.
    """
    if hasattr(config, "workerinput") and getattr(config.option, "clean_alluredir", False):
        config.option.clean_alluredir = False


def configure_reports(config: pytest.Config, session: ProdvalSession) -> None:
    """Register the report writers the command line asks for."""
    taxonomy(config)  # a bad declaration is a usage error even without --alluredir
    report_dir = alluredir(config)
    if report_dir is not None and config.pluginmanager.has_plugin("allure_pytest"):
        from .allure import AllureReport

        config.pluginmanager.register(AllureReport(config, session, report_dir), "prodval-allure")
    if getattr(config.option, "xmlpath", None):
        config.pluginmanager.register(JUnitEvidence(config), "prodval-junit")
