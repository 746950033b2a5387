"""Baseline-diff assertions: the ``baseline`` fixture's methods.

In compare mode each call judges a value against its baseline entry and raises
``BaselineMismatch`` (an ``AssertionError``) when it fails; in record mode the same call
records the value and passes. ``limit`` needs no entry: it judges against a configured bound
in both modes. Either way the verdict is kept for the summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import BaselineMismatch
from ..safety.redaction import Redactor
from ..safety.report_redaction import redact_verdict
from .keys import entry_key
from .verdict import Comparator, Entry, Status, Verdict

if TYPE_CHECKING:
    from .kinds.arguments import Direction
    from .kinds.limit import Judge
    from .store import Provenance

__all__ = ["Baseline", "BaselineMismatch"]


@dataclasses.dataclass(repr=False)
class Baseline:
    """Bound to one test: entry keys are ``<test key>::<name>``."""

    test: str
    nodeid: str
    recording: bool
    entries: dict[str, Entry]
    baseline_path: str
    environment: str
    redactor: Redactor
    # Called with every verdict (stores it, and fires the pytest_prodval_comparison hook).
    on_verdict: Callable[[Verdict, Entry | None], None]
    # Where the baseline file came from (None: no file yet, or a file without provenance).
    provenance: Provenance | None = None
    # Where distribution comparisons draw their charts (None: no charts).
    charts_dir: Path | None = None
    _names: set[str] = dataclasses.field(default_factory=set)

    def __repr__(self) -> str:
        # Short: tracebacks (and --showlocals) print it, and the entries can be large.
        mode = "record" if self.recording else "compare"
        return f"<baseline {self.test} ({mode}, {self.baseline_path})>"

    # --- the assertions -----------------------------------------------------------------

    def exact(self, name: str, value: Any) -> Verdict:
        """The value equals the baseline's exactly (any JSON value)."""
        __tracebackhide__ = True
        return self.check("exact", name, value)

    def number(
        self,
        name: str,
        value: float,
        *,
        rel: float | None = None,
        abs: float | None = None,
        direction: Direction = "either",
        unit: str = "",
    ) -> Verdict:
        """The number is within ``abs`` and/or ``rel`` of the baseline in the harmful direction."""
        __tracebackhide__ = True
        return self.check("number", name, value, rel=rel, abs=abs, direction=direction, unit=unit)

    def shape(
        self,
        name: str,
        value: Any,
        *,
        optional: Iterable[str] = (),
        allow_extra: bool = False,
    ) -> Verdict:
        """The JSON value has the baseline's keys and types, recursively; values are ignored."""
        __tracebackhide__ = True
        return self.check("shape", name, value, optional=tuple(optional), allow_extra=allow_extra)

    def distribution(
        self,
        name: str,
        samples: Sequence[float],
        *,
        direction: Direction = "higher_is_worse",
        tolerance: float = 0.10,
        alpha: float = 0.01,
        unit: str = "",
        min_samples: int = 20,
        decision: str = "estimate",
        windows: Sequence[float] | None = None,
        control: Sequence[float] | None = None,
        control_name: str | None = None,
        calibration: str | None = None,
        note: str = "",
        attachments: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> Verdict:
        """Samples are not significantly *and* materially worse than the baseline's.

        ``windows`` (per-time-window medians) and ``control`` (a measurement the release does
        not affect, named ``control_name``, default ``"control"``; ``calibration`` ``"ratio"``
        by default, or ``"shift"``) are for samples taken in time: see docs/statistics.md.
        ``samples`` may be the ``Timings`` of ``time_requests``: its latencies, and by default
        its windows, control, control name and calibration. ``attachments`` names evidence
        files for review reports, e.g. ``{"locust_report": run.html}``; the baseline-vs-target
        chart is drawn (``evidence["chart"]``) when matplotlib is installed.
        """
        __tracebackhide__ = True
        from ..timing import Timings

        if isinstance(samples, Timings):
            windows = samples.windows if windows is None else windows
            if control is None and samples.control is not None:
                control = samples.control
                control_name = control_name or samples.control_name
                calibration = calibration or samples.calibration
            samples = list(samples.ms)
        extra: dict[str, Any] = {}
        if windows is not None:
            extra["windows"] = windows
        if control is not None:
            extra |= {
                "control": control,
                "control_name": control_name or "control",
                "calibration": calibration or "ratio",
            }
        return self.check(
            "distribution",
            name,
            samples,
            direction=direction,
            tolerance=tolerance,
            alpha=alpha,
            unit=unit,
            min_samples=min_samples,
            decision=decision,
            note=note,
            attachments=attachments,
            **extra,
        )

    def limit(
        self,
        name: str,
        value: float,
        *,
        below: float | None = None,
        at_most: float | None = None,
        above: float | None = None,
        at_least: float | None = None,
        unit: str = "",
        source: str = "",
        note: str = "",
    ) -> Verdict:
        """The value is within a configured bound (an SLO, a minimum); no baseline entry.

        At least one bound, at most one upper (``below``/``at_most``) and one lower
        (``above``/``at_least``). ``source`` says where the bound comes from, e.g.
        ``"slo.api_p95_ms in prodval.yaml"``; ``note`` is context for a failure (the samples,
        the rounds). Judged the same in compare and record mode.
        """
        __tracebackhide__ = True
        return self.check(
            "limit",
            name,
            value,
            below=below,
            at_most=at_most,
            above=above,
            at_least=at_least,
            unit=unit,
            source=source,
            note=note,
        )

    def paired(
        self,
        name: str,
        target: Sequence[float],
        *,
        control: Sequence[float],
        control_name: str,
        target_name: str = "",
        direction: Direction = "higher_is_worse",
        tolerance: float = 0.10,
        alpha: float = 0.01,
        decision: str = "estimate",
        unit: str = "",
        min_pairs: int = 10,
        times: Sequence[float] | None = None,
        window_s: float = 1.0,
        note: str = "",
        attachments: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> Verdict:
        """The target is not significantly *and* materially worse than a control deployment
        measured at the same time: ``target[i]`` and ``control[i]`` are the same time window
        on both sides (``paired_windows``). No baseline entry; judged alike in every mode.
        """
        __tracebackhide__ = True
        return self.check(
            "paired",
            name,
            target,
            control=control,
            control_name=control_name,
            target_name=target_name or self.environment,
            direction=direction,
            tolerance=tolerance,
            alpha=alpha,
            decision=decision,
            unit=unit,
            min_pairs=min_pairs,
            times=times,
            window_s=window_s,
            note=note,
            attachments=attachments,
        )

    # --- the mechanism ------------------------------------------------------------------

    def check(
        self,
        kind: str,
        name: str,
        value: Any,
        *,
        attachments: Mapping[str, str | os.PathLike[str]] | None = None,
        **options: Any,
    ) -> Verdict:
        """Compare (or record) ``value`` under ``name`` with the comparator of ``kind``.

        ``attachments`` go into the verdict's evidence as paths (files a report attaches).
        """
        __tracebackhide__ = True
        if not isinstance(name, str) or not name:
            raise TypeError("baseline comparison name must be a non-empty string")
        # The name becomes part of the entry's key in the baseline file and of every report.
        name = self.redactor.redact(name) if self.redactor else name
        if name in self._names:
            raise ValueError(
                f"baseline comparison {name!r} is made twice in {self.nodeid}; "
                "give each comparison of a test its own name"
            )
        self._names.add(name)
        from .kinds.registry import comparator_for, judge_for  # the kinds load at first use

        judge = judge_for(kind)
        comparator = comparator_for(kind) if judge is None else None
        key = entry_key(self.test, name)
        # Judge the value as it would be stored, so a secret never reaches the baseline and
        # a recorded "***" still matches the live value.
        value = self.redactor.redact_obj(value) if self.redactor else value
        entry: Entry | None = None
        if comparator is not None:
            entry, verdict = self._with_baseline(comparator, kind, key, value, options)
        else:
            # A limit comes from configuration: judged alike in both modes, never stored.
            verdict = cast("Judge", judge).judge(key, value, **options)
            if kind == "paired":
                verdict = self._with_paired_chart(verdict)
        if attachments:
            files = {label: os.fspath(path) for label, path in attachments.items()}
            verdict = dataclasses.replace(verdict, evidence={**verdict.evidence, **files})
        verdict = redact_verdict(verdict, self.redactor)
        self.on_verdict(verdict, entry)
        if verdict.failed:
            raise BaselineMismatch(verdict.failure_text(name))
        return verdict

    def _with_baseline(
        self, comparator: Comparator, kind: str, key: str, value: Any, options: dict[str, Any]
    ) -> tuple[Entry | None, Verdict]:
        """Record ``value`` (the entry to store, and its verdict), or judge it against its entry."""
        __tracebackhide__ = True
        if self.recording:
            entry, verdict = comparator.record(key, value, **options)
            return {**entry, "test": self.test, "environment": self.environment}, verdict
        stored = self.entries.get(key)
        if stored is None:
            return None, self._missing(key, kind)
        if stored.get("kind") != kind:
            why = (
                f"the baseline entry {key!r} holds a {stored.get('kind')} comparison, "
                f"not {kind}; re-record it"
            )
            return None, self._missing(key, kind, why)
        verdict = comparator.compare(key, stored, value, **options)
        if kind == "distribution":
            verdict = self._with_chart(verdict, stored, value)
        return None, verdict

    def _with_chart(self, verdict: Verdict, stored: Entry, value: Any) -> Verdict:
        """The verdict with ``evidence["chart"]``: what was judged (the windows, the target's
        calibrated, when the comparison has them; else the stored entry's samples and the
        call's) and the tolerance band; unchanged without matplotlib."""
        if self.charts_dir is None or verdict.status not in (Status.PASSED, Status.FAILED):
            return verdict
        if importlib.util.find_spec("matplotlib") is None:  # the ``load`` extra
            return verdict
        from ..report.chart import distribution_panel, write_chart

        e = verdict.evidence
        if "ratio" not in e:  # too few samples to judge: nothing to draw
            return verdict
        name = verdict.key.rsplit("::", 1)[-1]
        panel = distribution_panel(
            name, e, verdict.status.value, (stored.get("samples") or [], list(value))
        )
        judged = "calibrated windows" if e.get("calibration") else "windows"
        path = write_chart(
            self._chart_path(verdict.key),
            [panel],
            title=f"{name}: baseline vs target ({judged if e.get('judged') else 'requests'})",
            unit=str(e.get("unit") or ""),
        )
        return dataclasses.replace(verdict, evidence={**e, "chart": str(path)})

    def _chart_path(self, key: str) -> Path:
        """``charts/<name>-<hash>.svg``: the name for people, a hash of the key so that two
        tests' same names do not clash."""
        assert self.charts_dir is not None
        name = key.rsplit("::", 1)[-1]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60] or "comparison"
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        return self.charts_dir / f"{slug}-{digest}.svg"

    def _with_paired_chart(self, verdict: Verdict) -> Verdict:
        """The verdict with ``evidence["chart"]``: both sides' window medians over time and
        their ratio against the tolerance; unchanged without matplotlib."""
        e = verdict.evidence
        if self.charts_dir is None or "ratio" not in e:  # too few windows: nothing to draw
            return verdict
        if importlib.util.find_spec("matplotlib") is None:  # the ``load`` extra
            return verdict
        from ..report.chart import PairedPanel, write_paired_chart

        judged = e["judged"]
        name = verdict.key.rsplit("::", 1)[-1]
        times = judged["times"] or [float(i) * e["window_s"] for i in range(len(judged["target"]))]
        panel = PairedPanel(
            name,
            times,
            judged["target"],
            judged["control"],
            target_name=e["target_name"],
            control_name=e["control_name"],
            tolerance=e["tolerance"],
            verdict=(
                f"{verdict.status.value.upper()} {e['ratio']:.2f}x "
                f"(CI {e['ci_low']:.2f}x to {e['ci_high']:.2f}x), could detect "
                f">= +{(e['detectable_ratio'] - 1) * 100:.0f}%"
                if e.get("detectable_ratio")
                else f"{verdict.status.value.upper()} {e['ratio']:.2f}x"
            ),
            direction=e["direction"],
        )
        path = write_paired_chart(
            self._chart_path(verdict.key),
            panel,
            title=f"{name}: {e['target_name']} beside the control deployment {e['control_name']}",
            unit=str(e.get("unit") or ""),
        )
        return dataclasses.replace(verdict, evidence={**e, "chart": str(path)})

    def _missing(self, key: str, kind: str, why: str | None = None) -> Verdict:
        command = " ".join(
            [
                "pytest",
                f"--target-env={shlex.quote(self.environment)}",
                f"--baseline={shlex.quote(self.baseline_path)}",
                "--record-baseline",
                shlex.quote(self.nodeid),
            ]
        )
        headline = why or f"no baseline entry {key!r} in {self.baseline_path}"
        return Verdict(
            key=key,
            kind=kind,
            status=Status.MISSING,
            rule="baseline entry required",
            baseline="(none)",
            target="—",
            change="—",
            message=f"{headline}\nrecord it on a known-good environment with:\n  {command}",
            evidence={"record_command": command},
        )
