"""Baseline-diff assertions: the ``baseline`` fixture's methods.

In compare mode each call judges a value against its baseline entry and raises
``BaselineMismatch`` (an ``AssertionError``) when it fails; in record mode the same call
records the value and passes. Either way the verdict is kept for the summary.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..redaction import Redactor
from .comparators import comparator_for
from .keys import entry_key
from .options import Direction
from .verdict import Entry, Status, Verdict

__all__ = ["Baseline", "BaselineMismatch"]


class BaselineMismatch(AssertionError):
    """A comparison with the baseline failed; the message carries the evidence."""


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
        control_name: str = "control",
        calibration: str = "shift",
        note: str = "",
    ) -> Verdict:
        """Samples are not significantly *and* materially worse than the baseline's.

        ``windows`` (per-time-window medians) and ``control`` (a measurement the release does
        not affect) are for samples taken under load: see docs/statistics.md.
        """
        __tracebackhide__ = True
        extra: dict[str, Any] = {}
        if windows is not None:
            extra["windows"] = windows
        if control is not None:
            extra |= {"control": control, "control_name": control_name, "calibration": calibration}
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
            **extra,
        )

    # --- the mechanism ------------------------------------------------------------------

    def check(self, kind: str, name: str, value: Any, **options: Any) -> Verdict:
        """Compare (or record) ``value`` under ``name`` with the comparator of ``kind``."""
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
        comparator = comparator_for(kind)
        key = entry_key(self.test, name)
        # Judge the value as it would be stored, so a secret never reaches the baseline and
        # a recorded "***" still matches the live value.
        value = self.redactor.redact_obj(value) if self.redactor else value
        entry: Entry | None = None
        if self.recording:
            entry, verdict = comparator.record(key, value, **options)
            entry = {**entry, "test": self.test, "environment": self.environment}
        elif (stored := self.entries.get(key)) is None:
            verdict = self._missing(key, kind)
        elif stored.get("kind") != kind:
            verdict = self._missing(
                key,
                kind,
                f"the baseline entry {key!r} holds a {stored.get('kind')} comparison, "
                f"not {kind}; re-record it",
            )
        else:
            verdict = comparator.compare(key, stored, value, **options)
        verdict = self._redacted(verdict)
        self.on_verdict(verdict, entry)
        if verdict.failed:
            raise BaselineMismatch(verdict.message)
        return verdict

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

    def _redacted(self, verdict: Verdict) -> Verdict:
        if not self.redactor:
            return verdict
        return dataclasses.replace(
            verdict,
            rule=self.redactor.redact(verdict.rule),
            baseline=self.redactor.redact(verdict.baseline),
            target=self.redactor.redact(verdict.target),
            change=self.redactor.redact(verdict.change),
            message=self.redactor.redact(verdict.message),
            evidence=self.redactor.redact_obj(verdict.evidence),
        )
