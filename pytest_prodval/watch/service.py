"""The watch service: the loop of runs, the metrics server, the signals that end it.

Each run is one pytest process under ``process.Supervisor``: its own process group, bounded by
the environment's ``timeouts.run_s`` (plus start-up), SIGTERM at the bound or when the watch is
told to stop (the plugin turns it into Ctrl-C: teardowns run, the summary is written), SIGKILL
``PRODVAL_WATCH_KILL_AFTER`` (30) seconds later. Runs start every ``--interval`` seconds from
the start of the previous one, never two at once; a run that overruns is followed by the next
at once. A run that fails, crashes or times out is recorded and the loop goes on.

SIGTERM and SIGINT stop the current run, close the HTTP server and exit 0; the stopped run is
not recorded (it was cut short by the operator, not by the target).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ..process import Supervisor
from .arguments import PROG, WatchSettings, WatchUsageError, parse
from .results import RunResult, read_result

if TYPE_CHECKING:
    from .metrics import WatchMetrics

__all__ = ["EXIT_USAGE", "pytest_command", "run"]

EXIT_USAGE = 4  # as pytest's usage errors
SUMMARY = "watch-summary.json"
LOG = "watch-run.log"
SELECTION_PLUGIN = "pytest_prodval.watch.selection"
# Last on every command line: whatever an ini file says, the watch's runs compare.
NEVER_RECORD = ("-o", "prodval_record_baseline=false", "-o", "prodval_prune=false")
_SHOWN_FAILURES = 3


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def pytest_command(settings: WatchSettings, summary: Path) -> list[str]:
    """The pytest command line of one run."""
    command = [
        settings.python,
        "-m",
        "pytest",
        f"--target-env={settings.env}",
        f"--prodval-config={settings.config}",
        f"--prodval-summary={summary}",
        "-p",
        SELECTION_PLUGIN,
        "-p",
        "no:cacheprovider",  # nothing written into the project between runs
    ]
    if settings.baseline is not None:
        command.append(f"--baseline={settings.baseline}")
    if settings.allow_synthetic:
        command.append("--prodval-watch-synthetic")
    return [*command, *settings.pytest_args, *NEVER_RECORD]


class _Stop:
    """The first signal, and the run it must stop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.why: str | None = None
        self.supervisor: Supervisor | None = None

    def __call__(self, number: int, frame: FrameType | None) -> None:
        self.why = self.why or signal.Signals(number).name
        self.event.set()
        if self.supervisor is not None:
            self.supervisor.stop(self.why)


def _one_run(settings: WatchSettings, work: Path, stop: _Stop) -> RunResult:
    summary = work / SUMMARY
    summary.unlink(missing_ok=True)  # the result must be this run's
    env = {**os.environ, "PRODVAL_NO_EMBEDDED_TARGET": "1"}
    with (work / LOG).open("wb") as log:
        supervisor = Supervisor(
            pytest_command(settings, summary),
            timeout_s=settings.run_limit_s,
            first_signal=signal.SIGTERM,
            grace_s=settings.kill_after_s,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        stop.supervisor = supervisor
        if stop.why is not None:
            supervisor.stop(stop.why)  # never starts
        try:
            try:
                supervisor.start()
            except OSError as exc:
                say(f"cannot start {settings.python}: {exc.strerror}")
            outcome = supervisor.wait()
        finally:
            stop.supervisor = None
            supervisor.close()
    return read_result(outcome, summary, settings.run_limit_s)


def _line(number: int, result: RunResult) -> str:
    line = f"run {number}: {result.result} in {result.duration_s:.1f}s: {result.reason}"
    failing = [c.nodeid for c in result.checks if c.outcome in ("failed", "error")]
    if failing:
        more = len(failing) - _SHOWN_FAILURES
        shown = ", ".join(failing[:_SHOWN_FAILURES]) + (f" and {more} more" if more > 0 else "")
        line += f"; failing: {shown}"
    return line


def run(argv: list[str]) -> int:
    try:
        settings = parse(argv)
    except WatchUsageError as exc:
        say(f"error: {exc} (see {PROG} --help)")
        return EXIT_USAGE
    if settings is None:
        return 0
    try:
        from prometheus_client import start_http_server

        from .metrics import WatchMetrics
    except ImportError:
        say("error: the watch needs prometheus-client: pip install 'pytest-prodval[watch]'")
        return EXIT_USAGE
    stop = _Stop()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stop)
    metrics = WatchMetrics(settings.env, settings.interval_s)
    try:
        server, thread = start_http_server(
            settings.port, addr=settings.host, registry=metrics.registry
        )
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        say(f"error: cannot listen on {where}: {exc.strerror or exc} (see {PROG} --help)")
        return EXIT_USAGE
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    say(
        f"serving metrics on http://{host}:{server.server_address[1]}/metrics; "
        f"environment {settings.env}, a run every {settings.interval_s:g}s, "
        f"each bounded by {settings.run_limit_s:g}s"
    )
    private = settings.reports is None
    work = Path(settings.reports or tempfile.mkdtemp(prefix="prodval-watch-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        _loop(settings, work, stop, metrics)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if private:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    say(f"stopped by {stop.why}")
    return 0


def _loop(settings: WatchSettings, work: Path, stop: _Stop, metrics: WatchMetrics) -> None:
    number = 0
    while not stop.event.is_set():
        started = time.monotonic()
        number += 1
        result = _one_run(settings, work, stop)
        if stop.event.is_set():
            break  # cut short by the operator: says nothing about the target
        metrics.record(result)
        say(_line(number, result))
        # The next run starts an interval after this one started (at once if that has passed).
        stop.event.wait(max(0.0, started + settings.interval_s - time.monotonic()))
