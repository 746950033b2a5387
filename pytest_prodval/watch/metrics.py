"""The watch's Prometheus metrics: one collector, one immutable snapshot per run.

The metric names and labels are a contract (alert rules and dashboards are written against
them; docs/operations.md):

- ``prodval_run_timestamp_seconds`` (gauge): unix time the last run finished, whatever its result;
- ``prodval_run_duration_seconds`` (gauge): how long the last run took;
- ``prodval_run_interval_seconds`` (gauge): the configured interval;
- ``prodval_run_completed`` (gauge): 1 when the last run gave a usable result, 0 when it
  crashed, timed out, or the target did not answer at the session's start;
- ``prodval_runs_total{result}`` (counter): runs by result, ``passed``, ``failed``, ``error``;
- ``prodval_checks{outcome}`` (gauge): checks per outcome (``passed``, ``failed``, ``error``,
  ``skipped``) in the last completed run;
- ``prodval_check_passed{check,suite,slo}`` (gauge): 1 or 0 per check of the last completed
  run (skipped checks are left out); ``check`` is the node id, ``suite`` the check's suite
  marker (``""`` without one), ``slo`` ``"true"`` when the check made a limit comparison in
  this or an earlier run of the process (sticky: a check that fails before its comparison,
  a header missing, keeps its series and its alerts).

Every metric has the label ``env``. The run metrics appear once the first run has finished,
the check metrics once a run has completed. A scrape reads one snapshot, replaced whole at the
end of a run, so it never sees half of one run and half of the next.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ..report.checks import OUTCOMES
from .results import RunResult

__all__ = ["RESULTS", "WatchMetrics"]

RESULTS = ("passed", "failed", "error")


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    last: RunResult | None = None  # the last run, whatever its result
    completed: RunResult | None = None  # the last completed run
    # Checks seen making a limit comparison in any completed run of this process: the label
    # stays "true" when such a check fails before its comparison (a missing header).
    slo: frozenset[str] = frozenset()
    runs: tuple[tuple[str, int], ...] = tuple((result, 0) for result in RESULTS)


class WatchMetrics(Collector):
    """The metrics of one watched environment, registered in their own registry."""

    def __init__(self, env: str, interval_s: float) -> None:
        self.env = env
        self.interval_s = interval_s
        self._snapshot = _Snapshot()
        self._lock = threading.Lock()  # one writer (the loop); the lock keeps counts exact
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def record(self, result: RunResult) -> None:
        """The end of a run: a new snapshot replaces the previous one."""
        with self._lock:
            before = self._snapshot
            runs = tuple((name, count + (name == result.result)) for name, count in before.runs)
            self._snapshot = _Snapshot(
                last=result,
                completed=result if result.completed else before.completed,
                runs=runs,
                slo=before.slo | {check.nodeid for check in result.checks if check.slo},
            )

    def collect(self) -> Iterator[Metric]:
        snapshot, env = self._snapshot, self.env
        interval = GaugeMetricFamily(
            "prodval_run_interval_seconds", "The configured interval between runs", labels=["env"]
        )
        interval.add_metric([env], self.interval_s)
        yield interval
        runs = CounterMetricFamily(
            "prodval_runs", "Runs by result (passed, failed, error)", labels=["env", "result"]
        )
        for name, count in snapshot.runs:
            runs.add_metric([env, name], count)
        yield runs
        last = snapshot.last
        if last is not None:
            for name, help_text, value in (
                (
                    "prodval_run_timestamp_seconds",
                    "Unix time the last run finished",
                    last.finished_at,
                ),
                ("prodval_run_duration_seconds", "How long the last run took", last.duration_s),
                (
                    "prodval_run_completed",
                    "1 if the last run produced a usable result, 0 if it crashed, timed out "
                    "or the target was unreachable",
                    1.0 if last.completed else 0.0,
                ),
            ):
                family = GaugeMetricFamily(name, help_text, labels=["env"])
                family.add_metric([env], value)
                yield family
        completed = snapshot.completed
        if completed is None:
            return
        checks = GaugeMetricFamily(
            "prodval_checks",
            "Checks per outcome in the last completed run",
            labels=["env", "outcome"],
        )
        counts = completed.counts
        for outcome in OUTCOMES:
            checks.add_metric([env, outcome], counts[outcome])
        yield checks
        passed = GaugeMetricFamily(
            "prodval_check_passed",
            "1 if the check passed in the last completed run, 0 if it failed or errored",
            labels=["env", "check", "suite", "slo"],
        )
        for check in completed.checks:
            if check.outcome == "skipped":
                continue
            passed.add_metric(
                [
                    env,
                    check.nodeid,
                    check.suite,
                    "true" if check.nodeid in snapshot.slo else "false",
                ],
                1.0 if check.outcome == "passed" else 0.0,
            )
        yield passed
