"""Every error prodval raises on purpose, under one base.

::

    ProdvalError
    ├── ConfigError          prodval.yaml cannot be used (one line: file, key path, expectation)
    ├── BaselineError        a baseline file cannot be trusted (one line naming the file)
    │   └── BaselineLocked   another run held the baseline's lock past the wait
    ├── FileWriteError       a file prodval writes could not be written (also an OSError)
    ├── BaselineMismatch     a check's comparison failed (also an AssertionError)
    ├── TargetUnreachable    the target or a part of it did not answer
    ├── UnreadableAnswer     an answer is not what it says it is (also an AssertionError)
    ├── ReadOnlyViolation    a statement would leave the read-only session (protected env)
    ├── CheckTimedOut        a check ran out of its time budget
    ├── LoadError            the load generator could not run (also a RuntimeError)
    ├── TimingError          time_requests could not time enough requests (also an AssertionError)
    ├── Undecided            nothing shows the release good or bad: the session stops, exit 3
    ├── GateUsageError       a bad prodval-gate argument
    └── InconsistentFacts    gate phase outcomes no run can produce (also a ValueError)

``except ProdvalError`` catches all of them; each ``str(error)`` is the message an operator
reads. This module imports nothing, so any part of the plugin may raise from it.
"""

from __future__ import annotations

__all__ = [
    "BaselineError",
    "BaselineLocked",
    "BaselineMismatch",
    "CheckTimedOut",
    "ConfigError",
    "FileWriteError",
    "GateUsageError",
    "InconsistentFacts",
    "LoadError",
    "ProdvalError",
    "ReadOnlyViolation",
    "TargetUnreachable",
    "TimingError",
    "Undecided",
    "UnreadableAnswer",
]


class ProdvalError(Exception):
    """Base of every error prodval raises on purpose."""


class ConfigError(ProdvalError):
    """``prodval.yaml`` cannot be used; ``str(error)`` is one line: ``<file>: <key path>: ...``."""

    def __init__(self, message: str) -> None:
        # One line always: these end up in pytest's usage-error output and in CI summaries.
        super().__init__(" ".join(message.split("\n")).replace("\r", " "))


class BaselineError(ProdvalError):
    """A baseline file that cannot be trusted: str() is a one-line message naming the file."""


class BaselineLocked(BaselineError):
    """Another run kept the baseline's lock (``<baseline>.lock``) longer than a writer waits."""


class FileWriteError(ProdvalError, OSError):
    """A baseline, summary or report file could not be written (read-only, disk full, ...).

    ``str(error)`` is one line naming the file; the previous file is left as it was.
    """


class BaselineMismatch(ProdvalError, AssertionError):
    """A comparison with the baseline failed; the message carries the evidence."""


class TargetUnreachable(ProdvalError):
    """The target (or a part of it) did not answer; the message says which and how."""


class UnreadableAnswer(ProdvalError, AssertionError):
    """The target answered, but not in a form the check can read (a body that is not JSON):
    a failure of the release, whose message names the request and what came back."""


class ReadOnlyViolation(ProdvalError):
    """A check sent a statement that would make its database session writable on a protected
    environment; it was not sent (the message names the environment and what matched)."""


class CheckTimedOut(ProdvalError):
    """A check ran out of its time budget."""


class LoadError(ProdvalError, RuntimeError):
    """Locust could not run (bad locustfile, crash, hang); the message quotes its log."""


class TimingError(ProdvalError, AssertionError):
    """``time_requests`` could not time enough requests: too many failed, or time ran out."""


class Undecided(ProdvalError):
    """Nothing this run can measure shows the release good or bad (in paired mode: the
    control deployment failed). Raised in a check or fixture, it ends the session: that check
    is reported skipped with the reason, no further check runs, pytest exits 3 and the summary
    says ``"undecided"``; the gate neither passes nor rolls back (docs/gate.md)."""


class GateUsageError(ProdvalError):
    """A bad prodval-gate argument: one line, shown with "Try 'prodval-gate --help'."."""


class InconsistentFacts(ProdvalError, ValueError):
    """Gate phase outcomes no run of the gate can produce (e.g. a verification without a
    rollback): a bug in the gate, never a release decision."""


# Named as the public package exports them: a failure reads `pytest_prodval.BaselineMismatch:
# ...`, 7 characters fewer of pytest's short summary line spent on where the class lives (and
# pickling still finds each class there).
for _error in (
    BaselineError, BaselineLocked, BaselineMismatch, CheckTimedOut, ConfigError, FileWriteError,
    GateUsageError, InconsistentFacts, LoadError, ProdvalError, ReadOnlyViolation,
    TargetUnreachable, TimingError, Undecided, UnreadableAnswer,
):  # fmt: skip
    _error.__module__ = "pytest_prodval"
del _error
