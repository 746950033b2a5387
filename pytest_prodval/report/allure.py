"""Allure results for review: labels, baseline evidence, run-level files, no secrets.

Registered by ``plugins.configure_reports`` only when ``--alluredir`` is given (allure-pytest is
then active in every process), so Allure is imported only then. In each process that runs
checks (the serial process or each xdist worker) this plugin labels every check and makes
each of its comparisons a step carrying its evidence, the failed ones first (allure_steps.py);
the controller alone writes the run-level files. Labels come from the item only (markers,
docstring, path) and steps from the verdicts, so ``-n 2`` and a serial run produce the same
tests, labels, steps and attachments.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import allure_commons
import pytest
from allure_pytest.utils import allure_labels  # type: ignore[import-untyped]

from ..baseline.verdict import Verdict
from ..outcomes import FALLBACK_KINDS
from .allure_files import write_run_files
from .allure_steps import (
    STEP_FILES,
    StepOrder,
    attach_to_run,
    file_type,
    finish_step,
    refer,
    show_values,
    step_title,
)
from .categories import KIND_LABEL, VERDICT_LABEL, verdict_label
from .evidence import comparison_name, evidence_files, evidence_html, evidence_json
from .labels import CheckLabels, check_labels
from .plugins import taxonomy
from .scrub import AllureScrubber, sweep

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = ["DOCS_URL_INI", "AllureReport"]

DOCS_URL_INI = "prodval_docs_url"
_LABELS = pytest.StashKey[CheckLabels]()
# allure-python's API is untyped; these aliases keep the calls below checked as Any.
_dynamic: Any = allure.dynamic
_attach: Any = allure.attach
# Evidence files attached in this test: resolved path -> the name of the step holding it.
_FILES = pytest.StashKey[dict[str, str]]()


class AllureReport:
    """Per-process part (labels, attachments) and controller part (run-level files, sweep)."""

    def __init__(self, config: pytest.Config, session: ProdvalSession, report_dir: Path) -> None:
        self.config = config
        self.session = session
        self.report_dir = report_dir
        self.is_worker = hasattr(config, "workerinput")
        raw = config.getini(DOCS_URL_INI)
        self.docs_template = str(raw).strip() if raw else None
        self.taxonomy = taxonomy(config)
        self.bases = (Path(config.rootpath), Path(config.invocation_params.dir))
        self.steps = StepOrder()
        allure_commons.plugin_manager.register(self.steps)
        self.scrubber: AllureScrubber | None = None
        if session.redactor:
            self.scrubber = AllureScrubber(session.redactor, report_dir)
            allure_commons.plugin_manager.register(self.scrubber)
        config.add_cleanup(self._unregister)

    def _unregister(self) -> None:
        # allure_commons' plugin manager is process-global: leave nothing behind for the next
        # in-process session (pytester).
        for plugin in (self.steps, self.scrubber):
            if plugin is not None and allure_commons.plugin_manager.is_registered(plugin):
                allure_commons.plugin_manager.unregister(plugin)

    # --- labels ---------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Work out every check's labels at collection, so a bad prodval_severity marker is a
        # usage error before anything runs rather than a surprise in the report.
        for item in items:
            try:
                item.stash[_LABELS] = check_labels(item, self.docs_template, self.taxonomy)
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        # allure-pytest's own (tryfirst) wrapper has scheduled the test result by now, and
        # nothing has run yet: labels set here reach the result even if setup skips or fails.
        labels = item.stash.get(_LABELS, None) or check_labels(
            item, self.docs_template, self.taxonomy
        )
        _apply(labels, {str(name) for name, _ in allure_labels(item)})
        return (yield)

    # --- evidence -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_prodval_comparison(self, item: pytest.Item, verdict: Verdict) -> None:
        # trylast: conftest implementations (a suite's chart) add to the evidence first.
        if verdict.failed:
            # The categories match these labels (categories.py), not the message's wording.
            _dynamic.label(KIND_LABEL, verdict.kind)
            _dynamic.label(VERDICT_LABEL, verdict_label(verdict.kind, verdict.status.value))
        name = comparison_name(verdict)
        context: Any = allure.step(step_title(verdict, name))
        with context:
            # allure-pytest's own object for the step just opened (None without allure-pytest's
            # listener: then a plain step, its files attached under it one by one).
            step = self._step(context.uuid)
            if step is not None:
                show_values(step, verdict)
            _attach(
                evidence_html(verdict),
                name=f"{name} ({verdict.status.value})",
                attachment_type=allure.attachment_type.HTML,
            )
            _attach(
                evidence_json(verdict),
                name=f"{name} evidence",
                attachment_type=allure.attachment_type.JSON,
            )
            for label, path in evidence_files(verdict, *self.bases):
                self._attach_file(item, step, name, label, path)
        if step is not None:
            finish_step(step, verdict, name)
            if verdict.kind in FALLBACK_KINDS:
                self.steps.fallback(step)

    def _step(self, uuid: str) -> Any:
        listener = self.config.pluginmanager.get_plugin("allure_listener")
        reporter = getattr(listener, "allure_logger", None)
        return None if reporter is None else reporter.get_item(uuid)

    def _attach_file(self, item: pytest.Item, step: Any, name: str, label: str, path: Path) -> None:
        """A chart under its step (once per test); Locust's report once per run, referred to."""
        if label not in STEP_FILES:
            title = attach_to_run(path, label, self.report_dir)
            if step is not None:
                refer(step, label, f'attached once to the run: global attachment "{title}"')
            return
        attached = item.stash.setdefault(_FILES, {})
        key = str(path.resolve())
        if key in attached and step is not None:
            refer(step, label, f'attached under the step "{attached[key]}"')
            return
        attached[key] = step.name if step is not None else name
        mime, extension = file_type(path)
        _attach.file(str(path), name=f"{name} {label}", attachment_type=mime, extension=extension)

    # --- run-level files (controller) -----------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            return
        write_run_files(self.report_dir, self.session)
        if self.session.redactor:
            # Workers are down by now: a last pass over everything in the directory.
            sweep(self.report_dir, self.session.redactor)


def _apply(labels: CheckLabels, present: set[str]) -> None:
    """Add ``labels`` to the running test, leaving alone the kinds the check set itself."""
    if labels.suite is not None and "epic" not in present:
        _dynamic.label("epic", labels.suite)
    if "feature" not in present:
        _dynamic.label("feature", labels.module)
    if "story" not in present:
        _dynamic.label("story", labels.story)
    if "severity" not in present:
        _dynamic.label("severity", labels.severity)
    if labels.tags:
        _dynamic.label("tag", *labels.tags)
    _dynamic.link(labels.docs_url, name=f"docs: {labels.story}")
