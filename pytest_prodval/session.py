"""The stateful part of the plugin, registered only when a target environment is chosen."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .baseline.assertions import Baseline
from .baseline.keys import test_key
from .baseline.store import BaselineError, BaselineFile, Provenance, atomic_write_text, write_merged
from .baseline.verdict import Entry, Status, Verdict
from .budget import TimeBudget
from .config import TargetEnv
from .redaction import Redactor
from .report.terminal import write_table
from .run import Observations, unused_entries
from .settings import Settings
from .target import fetch_target_version, suite_commit
from .unreachable import TargetUnreachable, explain, user_traceback

__all__ = ["WORKER_OUTPUT_KEY", "ProdvalSession"]

WORKER_OUTPUT_KEY = "prodval_observations"
DESTRUCTIVE_SKIP = (
    "destructive check skipped on protected environment {env!r} "
    "(pass --allow-destructive to run it)"
)
PROTECTED_RECORD = (
    "refusing to record a baseline on protected environment {env!r}; "
    "confirm with --prodval-confirm-record={env}"
)


@dataclasses.dataclass
class BaselineWrite:
    path: Path
    recorded: int
    pruned: list[str]
    total: int


class ProdvalSession:
    """Holds the run's target, baseline and observations; writes results on the controller."""

    def __init__(self, config: pytest.Config, settings: Settings, env: TargetEnv) -> None:
        assert settings.baseline_path is not None
        self.config = config
        self.settings = settings
        self.env = env
        self.redactor: Redactor = env.redactor()
        self.rootdir = Path(config.rootpath)
        self.is_worker = hasattr(config, "workerinput")
        self.seen = Observations()
        self.started_at = _utcnow()
        self.target_version: str | None = None
        self.written: BaselineWrite | None = None
        self.unused: list[str] = []
        self.sigterm_handler: Any = None  # what SIGTERM did before this run, to restore
        self.budget = TimeBudget(env, config.pluginmanager.hasplugin("timeout"))
        config.pluginmanager.register(self.budget, "prodval-budget")
        if settings.record and env.protected and settings.confirm_record != env.name:
            raise pytest.UsageError(PROTECTED_RECORD.format(env=env.name))
        try:
            self.baseline = BaselineFile.load(settings.baseline_path)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None

    @property
    def baseline_display(self) -> str:
        return self.settings.shown(self.baseline.path).as_posix()

    # --- header ---------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        env = self.env
        lines = [
            f"prodval: environment {env.name} "
            + ("(protected)" if env.protected else "(unprotected)"),
            f"prodval: api {self.redactor.redact_url(env.api.base_url)}",
        ]
        if env.database is not None:
            lines.append(f"prodval: database {self.redactor.redact_url(env.database.dsn)}")
        mode = "recording into" if self.settings.record else "comparing with"
        if self.baseline.exists:
            prov = self.baseline.provenance
            about = prov.describe() if prov else "no provenance"
            lines.append(
                f"prodval: {mode} baseline {self.baseline_display} "
                f"({len(self.baseline.entries)} entries; {about})"
            )
        else:
            lines.append(f"prodval: {mode} baseline {self.baseline_display} (does not exist yet)")
        if self.target_version is not None:
            lines.append(f"prodval: target version {self.target_version}")
        return [self.redactor.redact(line) for line in lines]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.sigterm_handler = _interrupt_on_sigterm()
        if not self.is_worker:
            self.target_version = fetch_target_version(self.env)

    # --- collection and safety ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # tryfirst: see every item before -k/-m deselect some.
        self.seen.collected_tests.update(test_key(item, self.rootdir) for item in items)
        self.seen.narrowed = any("::" in arg for arg in self.config.args)
        if self.env.protected and not self.settings.allow_destructive:
            skip = pytest.mark.skip(reason=DESTRUCTIVE_SKIP.format(env=self.env.name))
            for item in items:
                if item.get_closest_marker("destructive") is not None:
                    item.add_marker(skip)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_TEST_KEY] = test_key(item, self.rootdir)

    # --- redaction of everything a report carries -----------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        one_line = None
        if call.excinfo is not None:
            call.excinfo, one_line = self._clearer(item, call.excinfo)
        report = yield
        if one_line is not None and report.failed:
            report.longrepr = one_line
        if _TEST_KEY in item.stash and report.when == "call":
            self._mark_passed(item, report)
        if self.redactor:
            _redact_report(report, self.redactor, self.config)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self) -> Any:
        report = yield
        if self.redactor:
            _redact_report(report, self.redactor, self.config)
        return report

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
        clearer = clearer or self.budget.timed_out(item, exc)
        if clearer is None:
            return excinfo, None
        tb = user_traceback(excinfo.tb)
        replaced = pytest.ExceptionInfo.from_exception(clearer.with_traceback(tb or excinfo.tb))
        return replaced, None if tb is not None else replaced.exconly()

    def _mark_passed(self, item: pytest.Item, report: pytest.TestReport) -> None:
        if report.passed:
            self.seen.passed_tests.add(item.stash[_TEST_KEY])

    # --- the baseline fixture -------------------------------------------------------------

    def baseline_for(self, item: pytest.Item) -> Baseline:
        key = item.stash.get(_TEST_KEY, None) or test_key(item, self.rootdir)

        def on_verdict(verdict: Verdict, entry: Entry | None) -> None:
            self.seen.verdicts.append((item.nodeid, verdict))
            if entry is not None:
                self.seen.recorded[verdict.key] = entry
            item.config.hook.pytest_prodval_comparison(item=item, verdict=verdict)

        return Baseline(
            test=key,
            nodeid=item.nodeid,
            recording=self.settings.record,
            entries=self.baseline.entries,
            baseline_path=self.baseline_display,
            environment=self.env.name,
            redactor=self.redactor,
            on_verdict=on_verdict,
        )

    # --- end of run -----------------------------------------------------------------------

    def merge_worker(self, payload: str) -> None:
        self.seen.merge(Observations.from_json(payload))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            self.config.workeroutput[WORKER_OUTPUT_KEY] = self.seen.to_json()  # type: ignore[attr-defined]
            return
        self.seen.verdicts.sort(key=lambda pair: (pair[0], pair[1].key))
        self.unused = unused_entries(self.baseline, self.seen, self.rootdir)
        if self.settings.record and (self.seen.recorded or self.settings.prune):
            self._write_baseline()
        self._write_summary(int(exitstatus))

    def _write_baseline(self) -> None:
        provenance = Provenance(
            environment=self.env.name,
            recorded_at=_utcnow(),
            target_version=self.target_version,
            prodval_version=__version__,
            suite_commit=suite_commit(self.rootdir),
        )
        pruned = self.unused if self.settings.prune else []
        entries = write_merged(self.baseline.path, self.seen.recorded, provenance, pruned)
        self.written = BaselineWrite(
            self.baseline.path, len(self.seen.recorded), pruned, len(entries)
        )
        if pruned:
            self.unused = []

    def _write_summary(self, exitstatus: int) -> None:
        counts = Counter(v.status.value for _, v in self.seen.verdicts)
        prov = self.baseline.provenance
        summary = {
            "prodval_version": __version__,
            "environment": self.env.name,
            "protected": self.env.protected,
            "target": {
                "api": self.env.api.base_url,
                "database": self.env.database.dsn if self.env.database else None,
                "version": self.target_version,
            },
            "baseline": {
                "path": self.baseline_display,
                "mode": "record" if self.settings.record else "compare",
                "provenance": prov.to_json() if prov else None,
            },
            "started_at": self.started_at,
            "finished_at": _utcnow(),
            "pytest_exit_status": exitstatus,
            "counts": {status.value: counts.get(status.value, 0) for status in Status},
            "comparisons": [
                {"nodeid": nodeid, **verdict.to_json()} for nodeid, verdict in self.seen.verdicts
            ],
            "unused_entries": self.unused,
            "baseline_written": None
            if self.written is None
            else {
                "path": self.baseline_display,
                "recorded": self.written.recorded,
                "pruned": self.written.pruned,
                "entries": self.written.total,
            },
        }
        summary = self.redactor.redact_obj(summary)
        # redact_url hides DSN passwords even when they were written literally in the file.
        summary["target"]["api"] = self.redactor.redact_url(summary["target"]["api"])
        if summary["target"]["database"]:
            summary["target"]["database"] = self.redactor.redact_url(summary["target"]["database"])
        atomic_write_text(self.settings.summary_path, json.dumps(summary, indent=2) + "\n")

    def pytest_unconfigure(self) -> None:
        if self.sigterm_handler is not None:
            signal.signal(signal.SIGTERM, self.sigterm_handler)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker:
            return
        tr = terminalreporter
        verdicts = [verdict for _, verdict in self.seen.verdicts]
        if verdicts:
            tr.write_sep("=", "prodval baseline comparisons")
            write_table(tr, verdicts)
        if self.unused:
            tr.write_sep("-", f"{len(self.unused)} baseline entries unused by this run")
            for key in self.unused:
                tr.write_line(f"  {key}")
            if self.settings.record:
                tr.write_line("  (remove them with --record-baseline --prune)")
        if self.written is not None:
            pruned = f", {len(self.written.pruned)} pruned" if self.written.pruned else ""
            tr.write_line(
                f"prodval: baseline written to {self.baseline_display} "
                f"({self.written.recorded} recorded{pruned}, {self.written.total} entries)"
            )
        tr.write_line(
            f"prodval: summary written to {self.settings.shown(self.settings.summary_path)}"
        )


_TEST_KEY = pytest.StashKey[str]()


def _redact_report(
    report: pytest.TestReport | pytest.CollectReport, redactor: Redactor, config: pytest.Config
) -> None:
    """Secrets out of everything a report carries, keeping the failure's structure.

    The report goes through pytest's own serialization (what xdist sends between processes),
    is redacted as plain data and read back, so that the crash line still feeds JUnit's
    message and the short summary.
    """
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    redacted = redactor.redact_obj(data)
    if redacted == data:
        return
    rebuilt = config.hook.pytest_report_from_serializable(config=config, data=redacted)
    report.longrepr = rebuilt.longrepr
    report.sections = rebuilt.sections
    if isinstance(report, pytest.TestReport):
        report.user_properties = rebuilt.user_properties


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


def _utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
