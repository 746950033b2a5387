"""One bounded child process in its own process group, and how it ended.

Used by the load driver (Locust and its workers) and by every phase of ``prodval-gate``
(pytest runs, the rollback command). The child gets a new session, so its process group holds
everything it starts; at the deadline, or when ``stop()`` is called, the group gets a first
signal (SIGINT for pytest, so it tears down and writes its reports; SIGTERM for others), then
SIGKILL after a grace period, and once the child is gone whatever is left of the group is
killed too. A child that exits by itself is left alone with its descendants: a rollback may
well start a daemon that must outlive it.

``Outcome`` is the one place where a return code becomes an exit code (0-255, ``128 + N`` for
death by signal ``N``, as a shell reports it), a signal name and a timed-out flag.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Outcome", "Supervisor", "run_bounded", "signal_name"]

# Popen.wait polls; waking at least this often lets stop() from a signal handler take effect.
_SLICE_S = 0.1


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a supervised child ended."""

    exit_code: int | None  # 0-255, 128 + N when signal N ended it; None: it never started
    timed_out: bool  # the deadline passed and the supervisor signalled the group
    signal: str | None  # the signal that ended the child, e.g. "SIGKILL"; None when it exited
    stopped_by: str | None  # why stop() was called (e.g. "SIGINT"), when it was
    started_at: float  # epoch seconds
    seconds: float

    @property
    def ok(self) -> bool:
        """Exited 0 by itself: no timeout, no signal, not stopped."""
        return (
            self.exit_code == 0
            and not self.timed_out
            and self.signal is None
            and self.stopped_by is None
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        exit_code = data.get("exit_code")
        return cls(
            exit_code=None if exit_code is None else int(exit_code),
            timed_out=bool(data.get("timed_out")),
            signal=text("signal"),
            stopped_by=text("stopped_by"),
            started_at=float(data.get("started_at", 0.0)),
            seconds=float(data.get("seconds", 0.0)),
        )


class Supervisor:
    """Start ``command`` in a new session; ``wait()`` enforces the deadline and returns."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        timeout_s: float,
        first_signal: signal.Signals = signal.SIGTERM,
        grace_s: float = 30.0,
        **popen: Any,
    ) -> None:
        if timeout_s <= 0 or grace_s < 0:
            raise ValueError(f"timeout_s must be > 0 and grace_s >= 0: {timeout_s}, {grace_s}")
        self.command = list(command)
        self.timeout_s = timeout_s
        self.first_signal = first_signal
        self.grace_s = grace_s
        self.popen = popen
        self.process: subprocess.Popen[Any] | None = None
        self.started_at = time.time()
        self._started = time.monotonic()
        self._signalled = False  # the group got the first signal (deadline or stop)
        self._kill_at: float | None = None
        self._timed_out = False
        self._stopped_by: str | None = None

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the group if the child still runs (the caller is leaving early); close pipes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def start(self) -> None:
        if self._stopped_by is not None:
            return  # stopped before it started: never start it
        self.started_at = time.time()
        self._started = time.monotonic()
        self.process = subprocess.Popen(self.command, start_new_session=True, **self.popen)
        if self._stopped_by is not None:  # stop() ran while the child was being started
            self._first_signal()

    def stop(self, why: str) -> None:
        """Ask the child to stop now (first signal, SIGKILL after the grace period).

        Safe to call from a signal handler, and before ``start()`` (then nothing starts).
        """
        if self._stopped_by is None:
            self._stopped_by = why
        if self.process is not None:
            self._first_signal()

    def wait(
        self, *, tick_s: float | None = None, on_tick: Callable[[float], None] | None = None
    ) -> Outcome:
        """Wait for the child, enforcing the deadline; ``on_tick(elapsed)`` every ``tick_s``."""
        process = self.process
        if process is None:
            return Outcome(None, False, None, self._stopped_by, self.started_at, 0.0)
        deadline = self._started + self.timeout_s
        next_tick = self._started + tick_s if tick_s else None
        while True:
            try:
                returncode = process.wait(timeout=_SLICE_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if not self._signalled and now >= deadline:
                self._timed_out = True
                self._first_signal()
            if self._kill_at is not None and now >= self._kill_at:
                self._kill_at = None
                self._signal_group(signal.SIGKILL)
            if next_tick is not None and now >= next_tick:
                next_tick = now + (tick_s or 0.0)
                if on_tick is not None:
                    on_tick(now - self._started)
        seconds = time.monotonic() - self._started
        if self._signalled:
            self._signal_group(signal.SIGKILL)  # what the child left of its group
        ended_by = signal_name(-returncode) if returncode < 0 else None
        exit_code = 128 - returncode if returncode < 0 else returncode
        return Outcome(
            exit_code=exit_code,
            timed_out=self._timed_out,
            signal=ended_by,
            stopped_by=self._stopped_by,
            started_at=self.started_at,
            seconds=round(seconds, 3),
        )

    def _first_signal(self) -> None:
        if self._signalled:
            return
        self._signalled = True
        self._kill_at = time.monotonic() + self.grace_s
        self._signal_group(self.first_signal)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already


def run_bounded(
    command: Sequence[str],
    *,
    timeout_s: float,
    first_signal: signal.Signals = signal.SIGTERM,
    grace_s: float = 30.0,
    tick_s: float | None = None,
    on_tick: Callable[[float], None] | None = None,
    **popen: Any,
) -> Outcome:
    """Run ``command`` to its end or its deadline (see ``Supervisor``)."""
    with Supervisor(
        command, timeout_s=timeout_s, first_signal=first_signal, grace_s=grace_s, **popen
    ) as supervisor:
        return supervisor.wait(tick_s=tick_s, on_tick=on_tick)
