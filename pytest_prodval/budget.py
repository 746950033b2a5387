"""Time budgets from prodval.yaml: ``timeouts.check_s`` per check, ``timeouts.run_s`` per run.

A validation run decides whether to roll back a deployment, so it must end, whatever the
target does. Every network call already has its own timeout (``api.timeout``,
``database.timeout``); these budgets are the net under them, for what no single call bounds: a
check that loops, a DNS lookup the resolver sits on, a fixture that waits for a worker.

- Each check (setup, call and teardown together) gets ``check_s``, through pytest-timeout's
  ``signal`` method: the check fails with an exception and the run goes on. A check's own
  ``@pytest.mark.timeout(n)`` replaces ``check_s`` for that check.
- The run gets ``run_s``, counted from the start of the session (of each process under
  xdist). No check is given more than what is left of it, and once it is used up the
  remaining checks fail at once, saying that they did not run.
- Setting up a session-scoped fixture counts against the run, not against the check that
  happens to need it first (an autouse sweep, a connection pool): while one is set up, that
  check's timer is paused and the setup is bounded by what is left of ``run_s``; then the
  check goes on with the time it had left.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Generator
from typing import Any

import pytest

from .config import TargetEnv
from .errors import CheckTimedOut

__all__ = ["CheckTimedOut", "TimeBudget"]

_BUDGET = pytest.StashKey[str]()
_NOT_RUN = pytest.StashKey[float]()
# A check is not started with less than this left of the run: it could not finish, and
# pytest-timeout's alarm would likely go off in pytest's own reporting instead.
MIN_START_S = 1.0
# An alarm that is due (setitimer's 0 would disarm it instead).
_SOON_S = 0.001
_HAS_ALARM = hasattr(signal, "setitimer")
# The end of pytest-timeout's failure message (its PYTEST_FAILURE_MESSAGE).
_PYTEST_TIMEOUT = "from pytest-timeout."


class TimeBudget:
    def __init__(self, env: TargetEnv, enforce_per_check: bool) -> None:
        self.check_s = env.timeouts.check_s
        self.run_s = env.timeouts.run_s
        self.enforce_per_check = enforce_per_check  # pytest-timeout is loaded
        self.started = time.monotonic()
        self.running: pytest.Item | None = None  # the check whose protocol runs
        self.paused = False  # a session fixture is being set up, the check's timer paused

    def pytest_sessionstart(self) -> None:
        self.started = time.monotonic()

    # tryfirst: pytest-timeout reads the marker in its own protocol wrapper, which runs after.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, Any]:
        elapsed = time.monotonic() - self.started
        left = self.run_s - elapsed
        if left < min(MIN_START_S, self.check_s):
            item.stash[_NOT_RUN] = elapsed
        elif self.enforce_per_check:
            own = item.get_closest_marker("timeout")
            wanted = float(own.args[0]) if own is not None and own.args else self.check_s
            if left < wanted:
                seconds = left
                budget = f"what was left of the run's {self.run_s:g} s (timeouts.run_s)"
            elif own is not None:
                seconds, budget = wanted, "its @pytest.mark.timeout"
            else:
                seconds, budget = wanted, "timeouts.check_s"
            item.add_marker(pytest.mark.timeout(seconds, method="signal"), append=False)
            item.stash[_BUDGET] = f"{seconds:.3g} s, {budget}"
        self.running = item
        try:
            return (yield)
        finally:
            self.running = None

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
        """A session fixture's setup runs on the run's clock: the check's timer is paused."""
        item = self.running
        if item is None or self.paused or fixturedef.scope != "session" or not _HAS_ALARM:
            return (yield)
        # pytest-timeout's signal method: one ITIMER_REAL alarm per check (0: none armed).
        check_left = signal.setitimer(signal.ITIMER_REAL, 0)[0]
        if check_left <= 0:
            return (yield)
        check_budget = item.stash.get(_BUDGET, None)
        run_left = self.run_s - (time.monotonic() - self.started)
        item.stash[_BUDGET] = (
            f"{max(run_left, 0):.3g} s, what was left of the run's {self.run_s:g} s "
            f"(timeouts.run_s) while the session fixture {fixturedef.argname!r} was set up"
        )
        self.paused = True
        signal.setitimer(signal.ITIMER_REAL, max(run_left, _SOON_S))
        out_of_run = False
        try:
            return (yield)
        except pytest.fail.Exception as exc:
            out_of_run = str(exc).endswith(_PYTEST_TIMEOUT)  # the reason says the run's budget
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.paused = False
            if check_budget is not None and not out_of_run:
                item.stash[_BUDGET] = check_budget
            if not out_of_run:  # else the setup fails now, and the check with it
                # At least MIN_START_S of the check's own time, if it had that: an alarm due at
                # once would go off in pytest's own reporting (an INTERNALERROR).
                run_left = self.run_s - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, min(check_left, max(run_left, MIN_START_S)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        elapsed = item.stash.get(_NOT_RUN, None)
        if elapsed is not None:
            pytest.fail(
                f"not run: the run's time budget of {self.run_s:g} s (timeouts.run_s in "
                f"prodval.yaml) was used up after {elapsed:.0f} s",
                pytrace=False,
            )

    def not_run(self, item: pytest.Item) -> bool:
        """The check was failed unrun: the run's budget was used up before it started."""
        return _NOT_RUN in item.stash

    def timed_out(self, item: pytest.Item, exc: BaseException) -> CheckTimedOut | None:
        """The clearer exception for pytest-timeout's failure, None for any other."""
        if not (isinstance(exc, pytest.fail.Exception) and str(exc).endswith(_PYTEST_TIMEOUT)):
            return None
        budget = item.stash.get(_BUDGET, f"{self.check_s:g} s, timeouts.check_s")
        return CheckTimedOut(f"the check did not finish within its time budget ({budget})")
