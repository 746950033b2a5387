"""Failure categories for Allure, keyed on the failed verdicts, never on message wording.

Every failed check has a failed verdict (a comparison, a limit, or the fallback of kind
``check``, ``unreachable`` or ``timeout``). The Allure writer labels the check's result with
each failed verdict as ``prodval_verdict = <kind>:<status>`` (and ``prodval_kind = <kind>``),
and the categories match that label. One definition, written in two forms:

- ``allurerc.json``, an Allure 3 configuration (``allure generate --config``) whose category
  matchers read labels: the full table below;
- ``categories.json`` (Allure 2's format, also read by Allure 3's ``classic`` and ``allure2``
  plugins), which can match only message, trace and status: there the stable key is the
  exception class the message starts with (``TargetUnreachable``, ``CheckTimedOut``,
  ``BaselineMismatch``), so comparisons and limits share one category.

Order matters: Allure puts a test in the first category that matches.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "ALLURE2_CATEGORIES",
    "CATEGORIES",
    "KIND_LABEL",
    "VERDICT_LABEL",
    "Category",
    "allure2_categories",
    "allure3_config",
    "verdict_label",
]

KIND_LABEL = "prodval_kind"
VERDICT_LABEL = "prodval_verdict"
PROBLEM_STATUSES = ("failed", "broken")
# Allure 2 (Java) matches the whole message: the class, maybe module-qualified, then anything.
_ANY = r"[\s\S]*"


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    description: str
    verdict: str  # regex over the ``prodval_verdict`` label (``<kind>:<status>``)
    statuses: tuple[str, ...] = PROBLEM_STATUSES


def verdict_label(kind: str, status: str) -> str:
    return f"{kind}:{status}"


CATEGORIES = (
    Category(
        "Target unreachable",
        "The target, its database or a dependency did not answer (connection refused or reset, "
        "DNS, TLS, timeouts). Look at the platform before reading other failures.",
        verdict=r"^unreachable:",
    ),
    Category(
        "Time budget exceeded",
        "A check ran out of its time budget (timeouts.check_s) or the run out of its own "
        "(timeouts.run_s).",
        verdict=r"^timeout:",
    ),
    Category(
        "SLO breached",
        "A measured value is beyond a configured limit: latency SLOs, certificate validity, "
        "TLS version, pool use, ratios (baseline.limit).",
        verdict=r"^limit:failed$",
    ),
    Category(
        "Latency regression",
        "Samples are significantly and materially worse than the baseline's "
        "(baseline.distribution).",
        verdict=r"^distribution:failed$",
    ),
    Category(
        "Metric drift",
        "A number moved beyond its tolerance from the baseline (baseline.number).",
        verdict=r"^number:failed$",
    ),
    Category(
        "Contract drift",
        "What the target answers differs from the baseline (values, status codes, JSON shapes), "
        "or a comparison has no baseline entry to be judged against.",
        verdict=r"^(?:exact|shape):failed$|:missing$",
    ),
    Category(
        "Check failed",
        "The check failed on its own assertion or an error, without a comparison saying why.",
        verdict=r"^check:",
    ),
)


# Allure 2's categories: by the exception class its message starts with (None: any failure).
ALLURE2_CATEGORIES = (
    ("Target unreachable", "TargetUnreachable"),
    ("Time budget exceeded", "CheckTimedOut"),
    # Without labels a breached limit and a differing comparison raise the same class.
    ("SLO breached or baseline differs", "BaselineMismatch"),
    ("Check failed", None),
)


def allure2_categories() -> list[dict[str, Any]]:
    """``categories.json``: what Allure 2 can tell apart without labels (the exception class)."""
    rules: list[dict[str, Any]] = []
    for name, exception in ALLURE2_CATEGORIES:
        rule: dict[str, Any] = {"name": name, "matchedStatuses": list(PROBLEM_STATUSES)}
        if exception is not None:
            rule["messageRegex"] = rf"(?:[\w.]+\.)?{exception}:{_ANY}"
        rules.append(rule)
    return rules


def allure3_config(report_name: str) -> dict[str, Any]:
    """``allurerc.json`` for ``allure generate --config``: the report's name and categories."""
    rules = [
        {
            "name": category.name,
            "matchers": {
                "statuses": list(category.statuses),
                "labels": {VERDICT_LABEL: category.verdict},
            },
            "groupByMessage": True,
        }
        for category in CATEGORIES
    ]
    return {"name": report_name, "categories": {"rules": rules}}
