"""What a check is, for a report: suite, module, name, severity, evidenced rules, docs link.

Pure functions of the pytest item (markers, docstring, path) and of the project's declared
taxonomy, so that every process of an xdist run, and the serial run, derive exactly the same
labels. The plugin knows no suite: the validation project names its suite markers in the ini
key ``prodval_suites`` and their default severities in ``prodval_severities`` (``suite=level``
lines). Nothing here imports Allure.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

__all__ = [
    "DEFAULT_DOCS_URL",
    "SEVERITIES",
    "SEVERITIES_INI",
    "SEVERITY_MARKER",
    "SUITES_INI",
    "CheckLabels",
    "Taxonomy",
    "check_labels",
    "evidenced_rules",
]

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
SEVERITY_MARKER = "prodval_severity"
SUITES_INI = "prodval_suites"
SEVERITIES_INI = "prodval_severities"
DEFAULT_LEVEL = "normal"
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


@dataclasses.dataclass(frozen=True)
class Taxonomy:
    """The project's suites (markers, in the order docs list them) and default severities."""

    suites: tuple[str, ...] = ()
    severities: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Taxonomy:
        """The declaration in the ini file; a bad value is a one-line ``pytest.UsageError``."""
        declared = {_marker_name(line) for line in config.getini("markers")}
        suites: list[str] = []
        for raw in config.getini(SUITES_INI):
            name = str(raw).strip()
            if not name.isidentifier():
                raise pytest.UsageError(f"ini {SUITES_INI}: {name!r} is not a marker name")
            if name not in declared:
                raise pytest.UsageError(
                    f"ini {SUITES_INI}: {name!r} is not a declared marker; "
                    f'declare it in the ini "markers" list ("{name}: what the suite checks")'
                )
            if name in suites:
                raise pytest.UsageError(f"ini {SUITES_INI}: {name!r} is listed twice")
            suites.append(name)
        severities: dict[str, str] = {}
        for raw in config.getini(SEVERITIES_INI):
            line = str(raw).strip()
            suite, sep, level = (part.strip() for part in line.partition("="))
            if not sep or suite not in suites or level not in SEVERITIES:
                raise pytest.UsageError(
                    f"ini {SEVERITIES_INI}: {line!r}: expected suite=level with a suite of "
                    f"{SUITES_INI} ({', '.join(suites) or 'none declared'}) and a level of "
                    f"{', '.join(SEVERITIES)}"
                )
            severities[suite] = level
        return cls(tuple(suites), severities)

    def suite_of(self, item: pytest.Item) -> str | None:
        return next(
            (name for name in self.suites if item.get_closest_marker(name) is not None), None
        )


def _marker_name(line: object) -> str:
    """``"name(args): help"`` -> ``"name"``, as pytest reads its ``markers`` lines."""
    return str(line).split(":", 1)[0].split("(", 1)[0].strip()


def check_labels(item: pytest.Item, docs_template: str | None, taxonomy: Taxonomy) -> CheckLabels:
    """Labels of ``item``; raises ``ValueError`` for an unknown ``prodval_severity`` level."""
    suite = taxonomy.suite_of(item)
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
        severity=_severity(item, taxonomy.severities.get(suite or "", DEFAULT_LEVEL)),
        tags=evidenced_rules(_docstring(item)),
        docs_url=docs,
    )


def _severity(item: pytest.Item, default: str) -> str:
    marker = item.get_closest_marker(SEVERITY_MARKER)
    if marker is None:
        return default
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
