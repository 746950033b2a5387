"""Every baseline comparison in pytest's JUnit XML, where the ``junit_family`` allows it.

The common JUnit schema (junit-10.xsd, the one Jenkins' xunit plugin validates with) has
``<properties>`` under ``<testsuite>`` only; pytest's default family, ``xunit2``, follows it.

- ``xunit2``: each comparison is a ``<property>`` of the ``<testsuite>``, named
  ``prodval:<comparison key>`` (the key starts with the check's node id), and the testcase's
  ``<system-out>`` lists its comparisons for people reading the test in a CI's test view.
- ``legacy``/``xunit1``: a ``<property>`` of its testcase, as ``record_property`` writes it
  (pytest's own ``file``/``line`` attributes already put that family outside the schema).

A property's value is the comparison's summary as JSON, nothing cut: status, kind, the full
baseline and target values, change, rule (and the unit, when the values are bare numbers).

The comparisons travel in ``item.user_properties``: pytest carries them over xdist, and the
session's report redaction covers them (the verdicts are redacted already). Moving them to the
suite happens in the process that writes the XML (the xdist controller), just before pytest's
writer sees each report; pytest has no public API for that, so the writer's own objects are
used (``_pytest.junitxml``), and without them (another pytest) the properties stay where
``record_property`` would put them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Generator, Sequence
from typing import Any

import pytest

from ..baseline.verdict import Status, Verdict

__all__ = [
    "JUNIT_PROPERTY_PREFIX",
    "JUnitEvidence",
    "comparisons_text",
    "junit_property",
    "junit_summary",
]

JUNIT_PROPERTY_PREFIX = "prodval:"

# Where each kind's evidence keeps the compared values: exact and number their JSON values,
# distribution its summaries, shape the two shapes, paired the two sides' medians.
_BASELINE_EVIDENCE = ("baseline", "baseline_shape", "control")
_TARGET_EVIDENCE = ("target", "target_shape")
_SUMMARY_FIELDS = ("baseline", "target", "unit", "change", "rule")


def _full(evidence: dict[str, Any], keys: Sequence[str], shown: str) -> Any:
    for key in keys:
        if evidence.get(key) is not None:
            return evidence[key]
    return shown  # limit and missing: the display text is all there is, and it is not cut


def junit_summary(verdict: Verdict) -> dict[str, Any]:
    """The comparison as a JUnit property's JSON: the full values, not the table's cut text.

    ``baseline``/``target`` are the compared values where the verdict's evidence holds them,
    else the display text (a limit's bound, a missing entry's placeholder).
    """
    baseline = _full(verdict.evidence, _BASELINE_EVIDENCE, verdict.baseline)
    if verdict.status is Status.RECORDED:
        target: Any = baseline  # what was recorded is what the target showed
    else:
        target = _full(verdict.evidence, _TARGET_EVIDENCE, verdict.target)
    summary: dict[str, Any] = {
        "status": verdict.status.value,
        "kind": verdict.kind,
        "baseline": baseline,
        "target": target,
        "change": verdict.change,
        "rule": verdict.rule,
    }
    unit = verdict.evidence.get("unit")
    if isinstance(unit, str) and unit:
        summary["unit"] = unit
    return summary


def junit_property(verdict: Verdict) -> tuple[str, str]:
    """``(name, value)`` of the comparison's ``<property>``: ``prodval:<key>``, full JSON."""
    value = json.dumps(junit_summary(verdict), ensure_ascii=False, default=str)
    return f"{JUNIT_PROPERTY_PREFIX}{verdict.key}", value


def _shown(value: Any, kind: str) -> str:
    # An exact value's JSON tells "1" from 1; a display text reads better without quotes.
    if isinstance(value, str) and kind != "exact":
        return value
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def comparisons_text(properties: Sequence[tuple[str, str]]) -> str:
    """The testcase's ``<system-out>``: each comparison of ``properties`` (prodval's JUnit
    properties, as redacted on the report) in a few lines, full values included."""
    count = len(properties)
    lines = [
        f"prodval: {count} baseline comparison{'' if count == 1 else 's'} "
        f"(each also a <property> of the testsuite, named {JUNIT_PROPERTY_PREFIX}<key>, "
        "as JSON)"
    ]
    for name, value in properties:
        key = name[len(JUNIT_PROPERTY_PREFIX) :]
        try:
            summary = json.loads(value)
        except ValueError:
            summary = None
        if not isinstance(summary, dict):
            lines.append(f"{key}: {value}")
            continue
        status = str(summary.get("status", ""))
        shown = status.upper() if status in (Status.FAILED.value, Status.MISSING.value) else status
        kind = str(summary.get("kind", ""))
        lines.append(f"{shown} {key.rsplit('::', 1)[-1]} ({kind})")
        for field in _SUMMARY_FIELDS:
            if field in summary and summary[field] != "":
                text = _shown(summary[field], kind if field in ("baseline", "target") else "")
                lines.append(f"  {field + ':':<9} {text}")
        lines.append(f"  key:      {key}")
    return "\n".join(lines) + "\n"


def _log_xml(config: pytest.Config) -> Any:
    """pytest's JUnit writer in this process (the xdist controller, or the only process)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - another pytest
        return None
    return config.stash.get(xml_key, None)


def _ours(name: object) -> bool:
    return isinstance(name, str) and name.startswith(JUNIT_PROPERTY_PREFIX)


class JUnitEvidence:
    """With ``--junitxml``: every comparison in the JUnit XML, as the family allows it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_prodval_comparison(self, item: pytest.Item, verdict: Verdict) -> None:
        item.user_properties.append(junit_property(verdict))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        xml = _log_xml(self.config)
        if xml is None or getattr(xml, "family", "xunit1") == "xunit1":
            return (yield)  # a worker, or legacy: testcase properties, as record_property
        ours = [(str(p[0]), str(p[1])) for p in report.user_properties if _ours(p[0])]
        if not ours:
            return (yield)
        # xunit2 has no testcase properties: pytest's writer must not see these.
        report.user_properties = [p for p in report.user_properties if not _ours(p[0])]
        if report.when != "teardown":  # the teardown report carries the test's whole list
            return (yield)
        case = self._testcase(xml, report, ours)
        for name, value in ours:
            xml.add_global_property(name, value)
        result = yield
        if case is not None:
            _one_system_out(case)
        return result

    @staticmethod
    def _testcase(xml: Any, report: pytest.TestReport, ours: list[tuple[str, str]]) -> Any:
        """Add the comparisons' ``<system-out>`` to the report's testcase; its reporter."""
        from _pytest.junitxml import bin_xml_escape

        try:
            case = xml.node_reporter(report)
            out = ET.Element("system-out")
            out.text = bin_xml_escape(comparisons_text(ours))
            case.append(out)
        except (AttributeError, TypeError):  # pragma: no cover - another pytest's writer
            return None
        return case


def _one_system_out(case: Any) -> None:
    """One ``<system-out>`` per testcase, ours first: Jenkins shows the first one only, and
    pytest writes its own when ``junit_logging`` captures stdout."""
    try:
        element = case.to_xml()  # the written testcase, once pytest finalized it
    except (AttributeError, TypeError, KeyError):  # pragma: no cover - not finalized
        return
    if not isinstance(element, ET.Element):  # pragma: no cover - another pytest's writer
        return
    outs = element.findall("system-out")
    if len(outs) < 2:
        return
    first, *rest = outs
    first.text = "\n".join(out.text or "" for out in outs)
    for out in rest:
        element.remove(out)
