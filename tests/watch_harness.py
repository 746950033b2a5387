"""prodval-watch as a real process: start it, read the address it serves, scrape its metrics.

``Watch`` runs ``python -m pytest_prodval.watch ARGS`` in ``cwd`` with its stderr in a file,
waits (bounded) for the line naming the metrics URL, and stops it with a signal. ``scrape``
reads ``/metrics`` through httpx and parses it with prometheus-client's own parser;
``wait_for`` polls it until a condition holds or the time is up.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Metrics", "Watch", "checks", "run_watch", "scrape", "value"]

_SERVING = re.compile(r"serving metrics on (http://\S+/metrics)")

# (sample name, sorted label pairs) -> value
Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Metrics:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    samples: Metrics = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def checks(metrics: Metrics, env: str) -> dict[str, float]:
    """prodval_check_passed by check node id."""
    found = {}
    for (name, labels), number in metrics.items():
        if name == "prodval_check_passed":
            shown = dict(labels)
            if shown["env"] == env:
                found[shown["check"]] = number
    return found


class Watch:
    def __init__(self, cwd: Path, *args: str, log: Path) -> None:
        self.log = log
        self.stderr = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest_prodval.watch", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.stderr,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
        )
        self.url = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = _SERVING.search(self.output())
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.poll() is not None:
                raise AssertionError(
                    f"prodval-watch exited {self.process.returncode}: " + self.output()
                )
            time.sleep(0.05)
        raise AssertionError("prodval-watch named no metrics URL in time: " + self.output())

    def wait_for(
        self, what: str, condition: Callable[[Metrics], bool], timeout_s: float
    ) -> tuple[Metrics, float]:
        """Scrape until ``condition`` holds; the metrics and the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        metrics: Metrics = {}
        while time.monotonic() < deadline:
            metrics = scrape(self.url)
            if condition(metrics):
                return metrics, time.monotonic() - started
            assert self.process.poll() is None, self.output()
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout_s} s: {what}\n{self.output()}\n{metrics}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def close(self) -> None:
        """Stopped as a service manager stops it (its run's process group too); killed if it
        does not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def run_watch(
    cwd: Path, args: Sequence[str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_prodval.watch ARGS`` to its end (argument errors, --help)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_prodval.watch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
