"""Failure categories for Allure: why a gate failed, grouped the way a reviewer triages it.

One definition, written in two forms:

- ``categories.json`` in the results directory (Allure 2's format, also read by Allure 3's
  ``classic`` and ``allure2`` report plugins): matched by message, trace and status only;
- ``allurerc.json`` next to it, an Allure 3 configuration whose ``categories`` also match
  labels (the check's suite), read by ``allure generate --config``.

Order matters: Allure 3 puts a test in the first category that matches, so an unreachable
target is reported as such even when the check that saw it is a security check.

Regexes use ``[\\s\\S]`` rather than ``.`` with a flag, because Allure 2 (Java) matches the whole
message while Allure 3 (JavaScript, no inline flags) searches it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["CATEGORIES", "Category", "allure2_categories", "allure3_config"]

_ANY = r"[\s\S]*"
PROBLEM_STATUSES = ("failed", "broken")


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    description: str
    statuses: tuple[str, ...] = PROBLEM_STATUSES
    message: str | None = None  # a regex found anywhere in the failure message
    trace: str | None = None  # Allure 2 only: for rules Allure 2 cannot express with labels
    epic: str | None = None  # Allure 3 only: the check's suite label


def _any_of(*alternatives: str) -> str:
    return f"{_ANY}(?:{'|'.join(alternatives)}){_ANY}"


CATEGORIES = (
    Category(
        "Infrastructure unreachable",
        "The target, its database or a dependency did not answer: connection refused or "
        "reset, DNS, TLS or timeouts. Look at the platform before reading other failures.",
        message=_any_of(
            "TargetUnreachable",
            "ConnectError",
            "ConnectTimeout",
            "ReadTimeout",
            "WriteTimeout",
            "PoolTimeout",
            "RemoteProtocolError",
            "Connection refused",
            "ConnectionRefusedError",
            "ConnectionResetError",
            "Name or service not known",
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "TimeoutError",
            r"answered 50[234]",
        ),
    ),
    Category(
        "Security",
        "A security check failed: authentication, authorization, headers, TLS, error pages.",
        epic="security",
        trace=_any_of(r"suites/security/"),
    ),
    Category(
        "Compliance",
        "A compliance check failed: audit trail, retention, erasure, export (HIPAA, GDPR).",
        epic="compliance",
        trace=_any_of(r"suites/compliance/"),
    ),
    Category(
        "Performance regression",
        "Latency or throughput is worse than the baseline or the SLO (distribution tests, "
        "numbers in time units, SLO limits).",
        message=_any_of(
            "Mann-Whitney",
            r"(?:slower|faster) than baseline",
            r"\d (?:ms|s) is \S+ (?:higher|lower) than baseline",
            r"slo\.\w+",
        ),
    ),
    Category(
        "Contract drift",
        "What the target answers differs from the baseline: values, status codes, JSON shapes, "
        "fields added or removed, states, or a comparison with no baseline entry.",
        message=_any_of(
            "differs from baseline",
            "unexpected key",
            "missing key",
            "no baseline entry",
        ),
    ),
)


def allure2_categories() -> list[dict[str, Any]]:
    """``categories.json``: rules Allure 2 can express (message, trace, statuses)."""
    rules: list[dict[str, Any]] = []
    for category in CATEGORIES:
        rule: dict[str, Any] = {
            "name": category.name,
            "description": category.description,
            "matchedStatuses": list(category.statuses),
        }
        if category.message is not None:
            rule["messageRegex"] = category.message
        if category.trace is not None:
            rule["traceRegex"] = category.trace
        rules.append(rule)
    return rules


def allure3_config(report_name: str) -> dict[str, Any]:
    """``allurerc.json`` for ``allure generate --config``: the report's name and categories."""
    rules: list[dict[str, Any]] = []
    for category in CATEGORIES:
        matcher: dict[str, Any] = {"statuses": list(category.statuses)}
        if category.message is not None:
            matcher["message"] = category.message
        if category.epic is not None:
            matcher["labels"] = {"epic": f"^{category.epic}$"}
        rules.append({"name": category.name, "matchers": matcher, "groupByMessage": True})
    return {"name": report_name, "categories": {"rules": rules}}
