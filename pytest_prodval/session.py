"""One run with a target environment: its shared state, and the roles that act on it.

``ProdvalSession`` holds what the run knows (environment, options, baseline file, what was
observed) and registers a plugin object per role, each in its own module:

- ``safety.guards.SafetyGuards``: destructive skips, SIGTERM as Ctrl-C;
- ``safety.report_redaction.ReportRedaction``: secrets out of every report (when any);
- ``budget.TimeBudget``: per-check and per-run time budgets;
- ``outcomes.CheckOutcomes``: test keys, outcomes, a verdict for every failure;
- ``report.checks.CheckReports``: each check's suite and outcome, for the summary;
- ``report.terminal.TerminalOutput``: header and end-of-run summary.

At the end of the run the controller (or the only process) decides the unused entries, has
``recording.BaselineRecorder`` write the baseline and ``report.summary`` the summary, in that
order; an xdist worker instead ships its observations to the controller.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .baseline.store import BaselineFile
from .baseline.verdict import Entry, Verdict
from .budget import TimeBudget
from .config import TargetEnv, ca_file_problem
from .errors import BaselineError, FileWriteError, TargetUnreachable
from .observations import Observations, unused_entries
from .options import RunOptions
from .outcomes import CheckOutcomes
from .recording import BaselineRecorder, BaselineWrite, utcnow
from .report.checks import CheckReports
from .report.summary import write_summary
from .report.terminal import TerminalOutput
from .safety.guards import SafetyGuards, check_recording_allowed
from .safety.redaction import Redactor
from .safety.report_redaction import ReportRedaction, redact_verdict
from .target import probe_api

if TYPE_CHECKING:
    from .baseline.assertions import Baseline

__all__ = ["WORKER_OUTPUT_KEY", "ProdvalSession"]

WORKER_OUTPUT_KEY = "prodval_observations"
USAGE_ERROR_KEY = "prodval_usage_error"
API_UNREACHABLE_KEY = "prodval_api_unreachable"
# The fixtures whose checks need the API to answer at all.
_API_FIXTURES = frozenset({"api", "api_as", "api_anonymous", "async_api"})
MSG_EMPTY_BASELINE = (
    "{path}: the baseline has no entries, but {count} selected {checks} the baseline fixture; "
    "record it first with --record-baseline against a known-good release"
)
MSG_NO_BASELINE_FILE = (
    "{path}: no such baseline file, but {count} selected {checks} the baseline fixture; "
    "check the --baseline path, or record one with --record-baseline against a known-good "
    "release"
)


class ProdvalSession:
    """The run's target, options, baseline and observations; registered as a plugin."""

    def __init__(
        self,
        config: pytest.Config,
        options: RunOptions,
        env: TargetEnv,
        control: TargetEnv | None = None,
    ) -> None:
        assert options.baseline_path is not None
        self.config = config
        self.options = options
        self.env = env
        # The control deployment (--control-env): measured beside the target, never recorded.
        self.control = control
        self.redactor = Redactor([*env.secrets, *(control.secrets if control else ())])
        self.rootdir = Path(config.rootpath)
        self.is_worker = hasattr(config, "workerinput")
        self.seen = Observations()
        self.started_at = utcnow()
        self.target_version: str | None = None
        self.written: BaselineWrite | None = None
        self.unused: list[str] = []
        self.summary_error: str | None = None
        self.summary_written = False
        self.usage_error: str | None = None  # an xdist worker's, for the controller to end with
        # Why no connection to the API could be made at the session's start, else None.
        self.api_unreachable: str | None = None
        check_recording_allowed(options, env)
        try:
            self.baseline = BaselineFile.load(options.baseline_path)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.recorder = BaselineRecorder(options, env, self.baseline, self.rootdir)
        self.budget = TimeBudget(env, config.pluginmanager.hasplugin("timeout"))
        self.outcomes = CheckOutcomes(config, env, self.seen, self.budget, self.record_verdict)
        self.checks = CheckReports(config)
        plugins: list[tuple[object, str]] = [
            (SafetyGuards(env, options), "prodval-safety"),
            (self.budget, "prodval-budget"),
            (self.outcomes, "prodval-outcomes"),
            (self.checks, "prodval-checks"),
        ]
        if not self.is_worker:
            plugins.append((TerminalOutput(self), "prodval-terminal"))
        if self.redactor:
            plugins.append((ReportRedaction(self.redactor, config), "prodval-redaction"))
        for plugin, name in plugins:
            config.pluginmanager.register(plugin, name)

    @property
    def baseline_display(self) -> str:
        return self.options.shown(self.baseline.path).as_posix()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Files the config names are read now, before any check, after the project's own
        # session start (the embedded target makes its CA as it starts).
        for env in (self.env, self.control):
            problem = None if env is None else ca_file_problem(env)
            if problem is not None:
                raise pytest.UsageError(problem)
        if self.is_worker:
            self.api_unreachable = self.config.workerinput.get(API_UNREACHABLE_KEY)  # type: ignore[attr-defined]
        elif not self.config.option.collectonly:  # nothing is sent when nothing runs
            probe = probe_api(self.env)
            self.target_version, self.api_unreachable = probe.version, probe.unreachable

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """An API that could not be reached at the start: its checks fail at once, with why,
        instead of each waiting out its own connection attempt. (Not tryfirst: after
        CheckOutcomes names the check, before pytest's own hook sets up its fixtures.)"""
        if self.api_unreachable and _API_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise TargetUnreachable(
                f"{self.api_unreachable} (at the session's start; not tried again)"
            )

    @pytest.hookimpl(tryfirst=True)  # an xdist worker: before it reports its collection
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Comparing with a baseline file that has no entries at all is a usage error, before
        any check runs (``--collect-only`` too): every comparison would fail as a missing
        entry, which a gate reads as a bad release. So is a file named with ``--baseline`` (or
        the ini key) that does not exist: a typo. The default path that does not exist yet stays
        a per-check "no baseline entry" (a project that only judges limits never writes one).
        Beside a control deployment (``--control-env``), checks that put load on both sides
        (``prodval_load``) are judged against the control, not the file: they do not count.
        """
        if self.options.record or self.baseline.entries:
            return
        if not self.baseline.exists and not self.options.baseline_named:
            return
        using = sum(self._reads_the_baseline(item) for item in session.items)
        if not using:
            return
        template = MSG_EMPTY_BASELINE if self.baseline.exists else MSG_NO_BASELINE_FILE
        message = template.format(
            path=self.baseline_display,
            count=using,
            checks="check uses" if using == 1 else "checks use",
        )
        if not self.is_worker:
            raise pytest.UsageError(message)
        # A worker that raised would crash xdist's controller (an INTERNALERROR): it runs
        # nothing instead, and the controller ends the run with the usage error.
        session.config.hook.pytest_deselected(items=list(session.items))
        session.items.clear()
        self.config.workeroutput[USAGE_ERROR_KEY] = message  # type: ignore[attr-defined]

    def _reads_the_baseline(self, item: pytest.Item) -> bool:
        names = getattr(item, "fixturenames", ())
        return "baseline" in names and not (self.control is not None and "prodval_load" in names)

    # --- verdicts ---------------------------------------------------------------------------

    def record_verdict(
        self, item: pytest.Item, verdict: Verdict, entry: Entry | None = None
    ) -> None:
        """Keep ``verdict`` (and what it recorded) and tell the hook: the one channel."""
        verdict = redact_verdict(verdict, self.redactor)
        self.seen.verdicts.append((item.nodeid, verdict))
        if entry is not None:
            self.seen.recorded[verdict.key] = entry
        self.outcomes.note_verdict(item, verdict)  # a failed check's entries are kept back
        item.config.hook.pytest_prodval_comparison(item=item, verdict=verdict)

    def baseline_for(self, item: pytest.Item) -> Baseline:
        """The ``baseline`` fixture's object for ``item``."""
        from .baseline.assertions import Baseline  # with the kinds, at the first check using it

        def on_verdict(verdict: Verdict, entry: Entry | None) -> None:
            self.record_verdict(item, verdict, entry)

        return Baseline(
            test=self.outcomes.key(item),
            nodeid=item.nodeid,
            recording=self.options.record,
            entries=self.baseline.entries,
            baseline_path=self.baseline_display,
            environment=self.env.name,
            redactor=self.redactor,
            on_verdict=on_verdict,
            provenance=self.baseline.provenance,
            charts_dir=self.options.summary_path.parent / "charts",
        )

    # --- end of run -------------------------------------------------------------------------

    def merge_worker(self, payload: str, usage_error: str | None = None) -> None:
        self.seen.merge(Observations.from_json(payload))
        self.usage_error = self.usage_error or usage_error

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            self.config.workeroutput[WORKER_OUTPUT_KEY] = self.seen.to_json()  # type: ignore[attr-defined]
            return
        if self.usage_error is not None:
            # What pytest prints for a usage error, and its exit code: the workers ran nothing.
            sys.stderr.write(f"ERROR: {self.usage_error}\n")
            session.exitstatus = exitstatus = pytest.ExitCode.USAGE_ERROR
        if self.outcomes.undecided is not None:
            # Not a failure of the release, not a pass: pytest's "internal error" code, which
            # the gate reads with the summary's reason (docs/gate.md).
            session.exitstatus = exitstatus = pytest.ExitCode.INTERNAL_ERROR
        self.seen.verdicts.sort(key=lambda pair: (pair[0], pair[1].key))
        self.unused = unused_entries(self.baseline, self.seen, self.rootdir)
        self.written = self.recorder.finish(self.seen, self.unused, self.target_version)
        if self.written is not None and self.written.pruned:
            self.unused = []
        if self.written is not None and self.written.error is not None:
            # One line in the terminal (TerminalOutput), not a traceback; never exit 0.
            session.exitstatus = exitstatus = exitstatus or pytest.ExitCode.INTERNAL_ERROR
        if session.config.option.collectonly:
            return  # nothing ran: an empty summary would replace the last run's
        try:
            write_summary(self, int(exitstatus))
            self.summary_written = True
        except FileWriteError as exc:
            self.summary_error = str(exc)
            session.exitstatus = exitstatus or pytest.ExitCode.INTERNAL_ERROR
