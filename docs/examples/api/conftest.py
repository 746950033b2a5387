"""The comparison hook, as a project's conftest uses it. docs/api.md includes this file."""

from __future__ import annotations

import pytest

from pytest_prodval import Verdict

SEEN: list[Verdict] = []


def pytest_prodval_comparison(item: pytest.Item, verdict: Verdict) -> None:
    SEEN.append(verdict)
    if verdict.failed:
        item.add_report_section("call", "prodval", verdict.message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    kinds = sorted({verdict.kind for verdict in SEEN})
    terminalreporter.write_line(f"the hook saw {len(SEEN)} verdicts: {', '.join(kinds)}")
