"""Secrets out of every pytest report and every verdict, before any writer sees them."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from .redaction import Redactor

if TYPE_CHECKING:
    from ..baseline.verdict import Verdict

__all__ = ["ReportRedaction", "redact_report", "redact_verdict"]


class ReportRedaction:
    """Registered only when the environment has secrets.

    ``tryfirst`` wrappers run outermost: what other wrappers add to a report (prodval's own
    one-line failures included) is redacted too, before the terminal, JUnit, Allure or xdist
    serialise it.
    """

    def __init__(self, redactor: Redactor, config: pytest.Config) -> None:
        self.redactor = redactor
        self.config = config

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self) -> Any:
        report = yield
        redact_report(report, self.redactor, self.config)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(self) -> Any:
        report = yield
        redact_report(report, self.redactor, self.config)
        return report


def redact_report(
    report: pytest.TestReport | pytest.CollectReport, redactor: Redactor, config: pytest.Config
) -> None:
    """Secrets out of everything a report carries, keeping the failure's structure.

    The report goes through pytest's own serialization (what xdist sends between processes),
    is redacted as plain data and read back, so that the crash line still feeds JUnit's
    message and the short summary.
    """
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    redacted = redactor.redact_obj(data)
    if redacted == data:
        return
    rebuilt = config.hook.pytest_report_from_serializable(config=config, data=redacted)
    report.longrepr = rebuilt.longrepr
    report.sections = rebuilt.sections
    if isinstance(report, pytest.TestReport):
        report.user_properties = rebuilt.user_properties


def redact_verdict(verdict: Verdict, redactor: Redactor) -> Verdict:
    """A copy of ``verdict`` with every display string and the evidence redacted."""
    if not redactor:
        return verdict
    return dataclasses.replace(
        verdict,
        rule=redactor.redact(verdict.rule),
        baseline=redactor.redact(verdict.baseline),
        target=redactor.redact(verdict.target),
        change=redactor.redact(verdict.change),
        message=redactor.redact(verdict.message),
        evidence=redactor.redact_obj(verdict.evidence),
    )
