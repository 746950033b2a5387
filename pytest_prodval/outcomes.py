"""What each check did: its key, whether it passed, and a verdict for every failure.

Every failed check ends with a failed verdict in the one channel the summary, the table,
JUnit, Allure and the gate read. A check that fails through a baseline comparison (or a limit)
already has one; any other failure — a plain ``assert``, an error in a fixture, a target that
did not answer, a check out of time — gets one here, of kind ``check``, ``unreachable`` or
``timeout``, whose message is the failure's one line.

The exceptions of an unreachable target or an exhausted time budget are replaced, before the
report is made, by one clear line and the user's own frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .baseline.keys import entry_key, test_key
from .baseline.verdict import Status, Verdict
from .errors import CheckTimedOut, TargetUnreachable, Undecided, UnreadableAnswer
from .unreachable import explain, user_traceback

if TYPE_CHECKING:
    from .budget import TimeBudget
    from .config import TargetEnv
    from .observations import Observations

__all__ = ["FALLBACK_KINDS", "CheckOutcomes", "failure_verdict"]

# The kinds of the verdicts made for failures that no comparison reported.
FALLBACK_KINDS = ("check", "unreachable", "timeout")
_TEST_KEY = pytest.StashKey[str]()
_FIRST_LINE_CHARS = 120


class CheckOutcomes:
    """Test keys, outcomes and failure verdicts of the checks run in this process."""

    def __init__(
        self,
        config: pytest.Config,
        env: TargetEnv,
        seen: Observations,
        budget: TimeBudget,
        on_verdict: Callable[[pytest.Item, Verdict], None],
    ) -> None:
        self.config = config
        self.env = env
        self.rootdir = Path(config.rootpath)
        self.seen = seen
        self.budget = budget
        self.on_verdict = on_verdict
        # Why the session stopped without a verdict (``Undecided``); the first reason wins.
        self.undecided: str | None = None

    def key(self, item: pytest.Item) -> str:
        return item.stash.get(_TEST_KEY, None) or test_key(item, self.rootdir)

    def note_verdict(self, item: pytest.Item, verdict: Verdict) -> None:
        """A failed verdict marks its check failed: no fallback verdict, no recorded entries."""
        if verdict.failed:
            self.seen.failed_tests.add(self.key(item))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # tryfirst: see every item before -k/-m deselect some (they must not look unused).
        self.seen.collected_tests.update(test_key(item, self.rootdir) for item in items)
        self.seen.narrowed = any("::" in arg for arg in self.config.args)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_TEST_KEY] = test_key(item, self.rootdir)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        one_line = None
        if call.excinfo is not None:
            call.excinfo, one_line = self._clearer(item, call.excinfo)
        report: pytest.TestReport = yield
        if call.excinfo is not None and call.excinfo.errisinstance(Undecided):
            self._stop_undecided(item, report, str(call.excinfo.value))
            return report
        if one_line is not None and report.failed:
            report.longrepr = one_line
        if _TEST_KEY in item.stash:
            if report.when == "call" and report.passed:
                self.seen.passed_tests.add(item.stash[_TEST_KEY])
            if report.failed and self.key(item) not in self.seen.failed_tests:
                self.on_verdict(item, self._failure_verdict(item, report, call))
        return report

    def _stop_undecided(self, item: pytest.Item, report: pytest.TestReport, reason: str) -> None:
        """Neither a pass nor a failure: skipped with the reason, and no further check runs."""
        self.undecided = self.undecided or reason
        path, line, _ = item.location
        report.outcome = "skipped"
        report.longrepr = (str(path), (line or 0) + 1, f"undecided: {reason}")
        item.session.shouldstop = f"prodval: undecided: {reason}"

    def _failure_verdict(
        self, item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]
    ) -> Verdict:
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, TargetUnreachable):
            kind = "unreachable"
        elif isinstance(exc, CheckTimedOut) or self.budget.not_run(item):
            kind = "timeout"
        else:
            kind = "check"
        if call.excinfo is not None and not isinstance(report.longrepr, str):
            message = call.excinfo.exconly()
        else:
            message = str(report.longrepr)
        return failure_verdict(
            entry_key(self.key(item), f"({report.when})"),
            kind,
            message,
            phase=report.when,
            exception=type(exc).__name__ if exc is not None else None,
        )

    def _clearer(
        self, item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> tuple[pytest.ExceptionInfo[BaseException], str | None]:
        """A target that did not answer, or a check out of time: one line, the user's frames.

        Replaced before the report is made, so the terminal, JUnit and Allure all show it.
        When no frame is the user's (a failure inside prodval's own fixtures), the report
        gets just the line (returned second).
        """
        exc = excinfo.value
        line = explain(exc, self.env)
        clearer: Exception | None = TargetUnreachable(line) if line is not None else None
        if clearer is None and isinstance(exc, ValueError):  # httpx only then (start-up)
            from .exchange import unreadable_answer

            answer = unreadable_answer(exc)
            clearer = UnreadableAnswer(answer) if answer is not None else None
        clearer = clearer or self.budget.timed_out(item, exc)
        if clearer is None:
            return excinfo, None
        tb = user_traceback(excinfo.tb)
        replaced = pytest.ExceptionInfo.from_exception(clearer.with_traceback(tb or excinfo.tb))
        return replaced, None if tb is not None else replaced.exconly()


def failure_verdict(
    key: str, kind: str, message: str, *, phase: str | None, exception: str | None
) -> Verdict:
    """The failed verdict of a check that failed without a comparison saying why."""
    message = message.strip() or "the check failed"
    first = message.splitlines()[0]
    if first.startswith("E "):
        first = first[2:].strip()
    if len(first) > _FIRST_LINE_CHARS:
        first = first[: _FIRST_LINE_CHARS - 1] + "…"
    return Verdict(
        key=key,
        kind=kind,
        status=Status.FAILED,
        rule="the check passes",
        baseline="—",
        target=first,
        change="—",
        message=message,
        evidence={"phase": phase, "exception": exception},
    )
