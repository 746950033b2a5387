"""Taking one dependency of a deployment away and giving it back: ``docpipe pause/resume``.

Two ways, as dependencies fail in production:

- ``stop`` (the default): the dependency is unreachable. A process is stopped and not
  restarted (its port refuses connections), PostgreSQL is shut down, the storage directory is
  moved aside and a file put in its place (every read and write fails).
- ``freeze``: the dependency hangs. Its processes get SIGSTOP (connections are accepted by
  the kernel and never answered) and SIGCONT on resume. Storage has no process to freeze.

The supervisor does the work (it owns the processes and must not restart a stopped one);
these are its helpers. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

__all__ = [
    "MODES",
    "PauseError",
    "continue_processes",
    "control_file",
    "freeze_processes",
    "restore_storage",
    "take_storage_away",
]

MODES = ("stop", "freeze")
FREEZE_TIMEOUT_S = 5.0
_POLL_S = 0.01
_STORAGE_PLACEHOLDER = "paused by `docpipe pause storage`; `docpipe resume storage` restores it\n"


def control_file(home_root: Path) -> Path:
    """Where ``docpipe pause/resume`` asks the supervisor (written only by the CLI)."""
    return home_root / "control-request.json"


class PauseError(RuntimeError):
    """A pause or resume that cannot be done; str() is one line."""


def _aside(storage_dir: Path) -> Path:
    return storage_dir.with_name(f"{storage_dir.name}.paused")


def take_storage_away(storage_dir: Path) -> None:
    """Move the storage directory aside and put a file where it was."""
    aside = _aside(storage_dir)
    if aside.exists():
        raise PauseError(f"{aside} exists already: storage is paused")
    storage_dir.mkdir(parents=True, exist_ok=True)
    os.replace(storage_dir, aside)
    storage_dir.write_text(_STORAGE_PLACEHOLDER)


def restore_storage(storage_dir: Path) -> None:
    """Undo ``take_storage_away``: the directory back where it was, with its files."""
    aside = _aside(storage_dir)
    if not aside.is_dir():
        raise PauseError(f"{aside} is missing: storage is not paused")
    if storage_dir.is_file():
        storage_dir.unlink()
    elif storage_dir.exists():
        raise PauseError(f"{storage_dir} was recreated while paused; {aside} kept")
    os.replace(aside, storage_dir)


def _stopped(process: psutil.Process) -> bool:
    try:
        return process.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.NoSuchProcess:
        return True  # gone: nothing left to wait for


def freeze_processes(processes: list[psutil.Process], timeout: float = FREEZE_TIMEOUT_S) -> None:
    """SIGSTOP each process in order (a parent before its children: no new ones are made) and
    wait until the kernel reports them stopped."""
    for process in processes:
        try:
            process.send_signal(signal.SIGSTOP)
        except psutil.NoSuchProcess:
            continue
    deadline = time.monotonic() + timeout
    while not all(_stopped(p) for p in processes):
        if time.monotonic() > deadline:
            continue_processes(processes)
            raise PauseError(
                f"processes {[p.pid for p in processes]} did not stop in {timeout:g} s"
            )
        time.sleep(_POLL_S)


def continue_processes(processes: list[psutil.Process]) -> None:
    """SIGCONT each process, children first (the reverse of ``freeze_processes``)."""
    for process in reversed(processes):
        try:
            process.send_signal(signal.SIGCONT)
        except psutil.NoSuchProcess:
            continue
