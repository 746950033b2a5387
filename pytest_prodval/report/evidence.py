"""One baseline comparison rendered for reviewers: an HTML table, JSON (JUnit: ``junit.py``).

The verdicts reaching these functions are already redacted (``Baseline`` redacts values before
comparing), so nothing here handles secrets; the Allure writer still scrubs what it writes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..baseline.verdict import Verdict

__all__ = [
    "comparison_name",
    "evidence_files",
    "evidence_html",
    "evidence_json",
]

# Evidence keys a comparison may carry that point at files worth attaching: the chart a
# distribution comparison draws, and what a check names with ``attachments=`` (Locust's report).
FILE_EVIDENCE = {"chart": "latency chart", "locust_report": "Locust report"}

_STATUS_COLOURS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "missing": "#c62828",
    "recorded": "#1565c0",
}
_STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:8px;color:#222}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}"
    "th{background:#f3f3f3;width:7em}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:8px 0 0;"
    "font:12px/1.35 ui-monospace,monospace}"
)


def comparison_name(verdict: Verdict) -> str:
    """The name the check gave the comparison: the last ``::`` segment of its key."""
    return verdict.key.rsplit("::", 1)[-1]


def evidence_html(verdict: Verdict) -> str:
    """A small self-contained page: baseline, target, change, rule, verdict, full message."""
    status = verdict.status.value
    colour = _STATUS_COLOURS.get(status, "#222")
    rows = [
        ("comparison", verdict.key),
        ("kind", verdict.kind),
        ("baseline", verdict.baseline),
        ("target", verdict.target),
        ("change", verdict.change),
        ("rule", verdict.rule),
    ]
    body = "".join(f"<tr><th>{name}</th><td>{html.escape(value)}</td></tr>" for name, value in rows)
    verdict_row = (
        f'<tr><th>verdict</th><td style="color:{colour};font-weight:bold">'
        f"{html.escape(status.upper())}</td></tr>"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(comparison_name(verdict))}</title><style>{_STYLE}</style></head>"
        f"<body><table>{body}{verdict_row}</table>"
        f"<pre>{html.escape(verdict.message)}</pre></body></html>\n"
    )


def evidence_json(verdict: Verdict) -> str:
    """The whole verdict, evidence included, as indented JSON."""
    return json.dumps(verdict.to_json(), indent=2, default=str, ensure_ascii=False) + "\n"


def evidence_files(verdict: Verdict, *bases: Path) -> list[tuple[str, Path]]:
    """``(label, path)`` of every existing file named by the evidence (chart, Locust report).

    Relative paths are tried against each of ``bases`` in turn (rootdir, invocation dir).
    """
    found: list[tuple[str, Path]] = []
    for key, label in FILE_EVIDENCE.items():
        value = verdict.evidence.get(key)
        if not isinstance(value, str) or not value:
            continue
        path = Path(value)
        candidates = [path] if path.is_absolute() else [base / path for base in bases]
        existing = next((c for c in candidates if c.is_file()), None)
        if existing is not None:
            found.append((label, existing))
    return found
