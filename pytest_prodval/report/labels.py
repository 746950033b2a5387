"""What a check is, for a report: suite, module, name, severity, evidenced rules, docs link.

Pure functions of the pytest item (markers, docstring, path), so that every process of an xdist
run, and the serial run, derive exactly the same labels. Nothing here imports Allure.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

__all__ = [
    "DEFAULT_DOCS_URL",
    "SEVERITIES",
    "SEVERITY_MARKER",
    "SUITES",
    "CheckLabels",
    "check_labels",
    "evidenced_rules",
]

SUITES = ("infrastructure", "application", "pipeline", "security", "compliance", "performance")
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
SEVERITY_MARKER = "prodval_severity"
DEFAULT_SEVERITY = {
    "security": "blocker",
    "compliance": "blocker",
    "pipeline": "critical",
    "application": "critical",
}
# Placeholders: {check} (function name), {suite}, {module} (file stem), {nodeid}.
DEFAULT_DOCS_URL = "docs/checks.md#{suite}"

# "HIPAA 45 CFR 164.312(a)(1) (access control), 164.308(a)(4)" -> framework "HIPAA", then
# every reference: "Art.17", "164.312(a)(1)", "7.4.1", "800-52r2", with (b)(1)-style subsections.
_FRAMEWORK = re.compile(r"^\s*((?:[A-Z][A-Z0-9]+\s+)+)")
_REFERENCE = re.compile(r"(?<![\w.])(Art\.\s?\d+|\d+(?:\.\d+)+|\d+-\d+\w*)((?:\([0-9a-z]+\))*)")


@dataclasses.dataclass(frozen=True)
class CheckLabels:
    """The labels of one check; ``suite`` is None for a test without a suite marker."""

    suite: str | None
    module: str
    story: str
    severity: str
    tags: tuple[str, ...]
    docs_url: str


def check_labels(item: pytest.Item, docs_template: str | None) -> CheckLabels:
    """Labels of ``item``; raises ``ValueError`` for an unknown ``prodval_severity`` level."""
    suite = next((name for name in SUITES if item.get_closest_marker(name) is not None), None)
    module = item.path.stem.removeprefix("test_").replace("_", " ")
    function = getattr(item, "originalname", None) or item.name.split("[")[0]
    story = function.removeprefix("test_").replace("_", " ").strip() or function
    fields = {"check": function, "suite": suite or "", "module": item.path.stem}
    # A check without a suite links to the page itself rather than to an empty anchor.
    template = docs_template or DEFAULT_DOCS_URL
    try:
        docs = template.format_map({**fields, "nodeid": item.nodeid})
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"ini prodval_docs_url = {template!r}: {exc!r}; "
            "placeholders are {check}, {suite}, {module}, {nodeid}"
        ) from None
    docs = docs.rstrip("#")
    return CheckLabels(
        suite=suite,
        module=module,
        story=story,
        severity=_severity(item, suite),
        tags=evidenced_rules(_docstring(item)),
        docs_url=docs,
    )


def _severity(item: pytest.Item, suite: str | None) -> str:
    marker = item.get_closest_marker(SEVERITY_MARKER)
    if marker is None:
        return DEFAULT_SEVERITY.get(suite or "", "normal")
    level = marker.args[0] if marker.args else marker.kwargs.get("level")
    if level not in SEVERITIES:
        raise ValueError(
            f"{item.nodeid}: @pytest.mark.{SEVERITY_MARKER}({level!r}): "
            f"expected one of {', '.join(SEVERITIES)}"
        )
    return str(level)


def _docstring(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    if function is None:
        return ""
    return inspect.getdoc(function) or ""


def evidenced_rules(docstring: str) -> tuple[str, ...]:
    """Tags for the rules named on the docstring's ``Evidences:`` line (continuations included).

    ``HIPAA 45 CFR 164.312(b) and 164.312(c)(1)`` gives ``HIPAA-164.312(b)``,
    ``HIPAA-164.312(c)(1)``; ``GDPR Art.17 (and Art.5(2) accountability)`` gives
    ``GDPR-Art.17``, ``GDPR-Art.5(2)``; clauses are separated by ``;``.
    """
    text = _evidences_line(docstring)
    tags: list[str] = []
    framework = ""
    for clause in text.split(";"):
        found = _FRAMEWORK.match(clause)
        if found:
            framework = "-".join(found.group(1).split())
        for number, subsections in _REFERENCE.findall(clause):
            reference = number.replace(" ", "") + subsections
            tag = f"{framework}-{reference}" if framework else reference
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


def _evidences_line(docstring: str) -> str:
    collected: list[str] = []
    inside = False
    for raw in docstring.splitlines():
        line = raw.strip()
        if line.startswith("Evidences:"):
            inside = True
            collected.append(line.removeprefix("Evidences:"))
        elif inside and line and not re.match(r"^[A-Z][\w ]*:", line):
            collected.append(line)
        else:
            inside = False
    return " ".join(collected)
