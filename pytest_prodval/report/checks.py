"""Each check's outcome as pytest reported it, for the summary's ``checks`` list.

The summary's comparisons name only the checks that made one (and every failed check, through
its failed verdict); a check that passed without a comparison, or was skipped, is in none of
them. ``CheckReports`` keeps one line per check: its node id, its suite (the first of the
project's ``prodval_suites`` markers it carries), its outcome (``passed``, ``failed``, ``error``,
``skipped``) and its time, so that a reader of the summary (``prodval-watch``) knows every
check the run reported.

The suite is named where the item is at hand (``pytest_runtest_makereport``, in the process
that ran the check) as an attribute of the report; xdist ships a report's attributes to the
controller, whose ``pytest_runtest_logreport`` sees every worker's reports.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["OUTCOMES", "CheckReports"]

OUTCOMES = ("passed", "failed", "error", "skipped")
_SUITE_ATTR = "prodval_suite"


class CheckReports:
    """Registered for every run with a target environment, on every process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # nodeid -> {"nodeid", "suite", "outcome", "duration_s"}, in the order reported.
        self._checks: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report: pytest.TestReport = yield
        from .plugins import taxonomy

        setattr(report, _SUITE_ATTR, taxonomy(self.config).suite_of(item))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        check = self._checks.setdefault(
            report.nodeid,
            {"nodeid": report.nodeid, "suite": None, "outcome": "passed", "duration_s": 0.0},
        )
        check["suite"] = check["suite"] or getattr(report, _SUITE_ATTR, None)
        check["duration_s"] = round(check["duration_s"] + float(report.duration or 0.0), 3)
        check["outcome"] = _outcome(check["outcome"], report)

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(check) for check in self._checks.values()]


def _outcome(before: str, report: pytest.TestReport) -> str:
    """A check's outcome after ``report`` (setup, call, teardown), counted as pytest counts:
    a failure outside the call is an error, an expected failure (xfail) a skip."""
    if report.when == "setup":
        if report.failed:
            return "error"
        return "skipped" if report.skipped else "passed"
    if report.when == "call":
        if before != "passed":
            return before
        if report.failed:
            return "failed"
        return "skipped" if report.skipped else "passed"
    # teardown: a failure turns a passed (or skipped) check into an error
    return "error" if report.failed and before in ("passed", "skipped") else before
