"""Guards of a protected environment, and the plugin's own markers.

A protected environment (``protected: true`` in prodval.yaml: staging, production) runs only
what cannot harm it: checks marked ``destructive`` run there only with ``--allow-destructive``
and ``--prodval-confirm-destructive=NAME`` naming that environment (otherwise they are skipped,
and ``--allow-destructive`` alone is a usage error), and a baseline is recorded there only with
``--prodval-confirm-record=NAME`` naming that environment. Everywhere, SIGTERM (a cancelled
CI job) ends a run the way Ctrl-C does, so the teardowns that erase synthetic data still run.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..config import TargetEnv
    from ..options import RunOptions

__all__ = ["MARKERS", "SafetyGuards", "check_destructive_allowed", "check_recording_allowed"]

MARKERS = {
    "synthetic": "writes only synthetic data that the check removes itself; "
    "runs on protected environments",
    "destructive": "changes or harms the target; skipped on protected environments "
    "unless --allow-destructive --prodval-confirm-destructive=NAME",
}
DESTRUCTIVE_SKIP = (
    "destructive check skipped on protected environment {env!r} "
    "(pass --allow-destructive --prodval-confirm-destructive={env} to run it)"
)
PROTECTED_DESTRUCTIVE = (
    "refusing to run destructive checks on protected environment {env!r} with "
    "--allow-destructive alone; confirm with --prodval-confirm-destructive={env}"
)
PROTECTED_RECORD = (
    "refusing to record a baseline on protected environment {env!r}; "
    "confirm with --prodval-confirm-record={env}"
)


def check_recording_allowed(options: RunOptions, env: TargetEnv) -> None:
    """A usage error when the run would record on a protected environment unconfirmed."""
    if options.record and env.protected and options.confirm_record != env.name:
        raise pytest.UsageError(PROTECTED_RECORD.format(env=env.name))


def check_destructive_allowed(options: RunOptions, env: TargetEnv) -> None:
    """A usage error when destructive checks would run on a protected environment unconfirmed.

    ``--allow-destructive`` alone can come from an ini file, ``PYTEST_ADDOPTS`` or a copied
    command line; the confirmation must name the environment, so that it cannot be meant for
    another one.
    """
    if options.allow_destructive and env.protected and options.confirm_destructive != env.name:
        raise pytest.UsageError(PROTECTED_DESTRUCTIVE.format(env=env.name))


class SafetyGuards:
    """Registered for every run with a target environment."""

    def __init__(self, env: TargetEnv, options: RunOptions) -> None:
        check_destructive_allowed(options, env)
        self.env = env
        self.options = options
        self.sigterm_handler: Any = None  # what SIGTERM did before this run, to restore

    def pytest_sessionstart(self) -> None:
        self.sigterm_handler = _interrupt_on_sigterm()

    def pytest_unconfigure(self) -> None:
        if self.sigterm_handler is not None:
            signal.signal(signal.SIGTERM, self.sigterm_handler)
            self.sigterm_handler = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not self.env.protected or self.options.allow_destructive:
            return
        skip = pytest.mark.skip(reason=DESTRUCTIVE_SKIP.format(env=self.env.name))
        for item in items:
            if item.get_closest_marker("destructive") is not None:
                item.add_marker(skip)


def _interrupt_on_sigterm() -> Any:
    """SIGTERM (a cancelled CI job, a stopped container) ends the run like Ctrl-C does.

    Python's default for SIGTERM is to die on the spot, skipping teardown, so synthetic data
    made by the running check would stay on the target. As KeyboardInterrupt, pytest runs the
    teardowns (which erase it) and writes its reports. Only where nobody else handles it;
    returns the handler it replaced (None if it replaced none), for the end of the run.
    """
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    return None
