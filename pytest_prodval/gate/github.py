"""GitHub Actions output of the gate: a Markdown step summary and one ``::error`` per failed check.

``render`` is a pure function of the gate record and the suites' prodval summary (what each
failed comparison found); ``publish`` is the small writer the recording phase calls. Only
under GitHub Actions (``GITHUB_ACTIONS=true``): the summary is appended to the file named by
``GITHUB_STEP_SUMMARY``, the workflow commands go to stdout. Everything shown passes the
environment's redactor (the record and summary were redacted already; this is once more).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..safety.redaction import Redactor

__all__ = ["Rendered", "escape_data", "escape_property", "publish", "render"]

HEADLINES = {
    "passed": "passed: the release stays",
    "rolled_back": "rolled back: the checks failed, the previous release is back and verified",
    "rollback_failed": "rollback failed: the deployment is in an unknown state, act now",
    "verification_failed": "rolled back but not verified: act now",
    "misconfigured": "undecided: the gate is misconfigured, nothing was validated",
    "interrupted": "interrupted",
    "undecided": "undecided: nothing was validated, nothing was rolled back",
    "not_deployed": "not deployed: a prerequisite failed (readiness, data snapshot, backup)",
    "restore_failed": "rolled back but the restore failed: the data is unknown, act now",
    "data_lost": "rolled back but data was lost: act now",
}
MAX_ANNOTATIONS = 20  # GitHub shows only the first few per step anyway
MESSAGE_CHARS = 1500


def escape_data(text: str) -> str:
    """A workflow command's message, escaped like GitHub's toolkit (``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, escaped like GitHub's toolkit (``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclasses.dataclass(frozen=True)
class Rendered:
    markdown: str
    commands: list[str]


def _differences(summary: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The failed or missing comparisons of the summary, by check (node id)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for comparison in (summary or {}).get("comparisons") or []:
        if isinstance(comparison, dict) and comparison.get("status") in ("failed", "missing"):
            found.setdefault(str(comparison.get("nodeid", "")), []).append(comparison)
    return found


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def render(
    record: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    redactor: Redactor,
    locations: Mapping[str, tuple[str, int | None]] | None = None,
) -> Rendered:
    """The step summary and the ``::error`` commands of a gate record.

    ``locations`` maps a check id to its file and line where known (from the JUnit XML).
    """
    red = redactor.redact_url
    decision = str(record.get("decision", "undecided"))
    headline = HEADLINES.get(decision, decision)
    env = str(record.get("environment", "?"))
    target = record.get("target") or {}
    release = target.get("version") if isinstance(target, dict) else None
    lines = [
        f"## prodval-gate: {headline}",
        "",
        f"- **Decision:** `{decision}` (exit {record.get('exit_code')})",
        f"- **Environment:** `{env}`",
        f"- **Release:** `{release}`" if release else "- **Release:** unknown",
        f"- **Reason:** {_cell(red(str(record.get('reason', ''))))}",
    ]
    rollback = record.get("rollback") or {}
    if rollback.get("ran") is not False and "succeeded" in rollback:
        lines.append(f"- **Rollback:** {'succeeded' if rollback['succeeded'] else 'failed'}")
    verification = record.get("verification") or {}
    if "passed" in verification:
        lines.append(f"- **Verification:** {'passed' if verification['passed'] else 'failed'}")
    suites = record.get("suites") or {}
    failed = suites.get("failed_checks") or []
    differences = _differences(summary)
    commands: list[str] = []
    if failed:
        lines += ["", f"### Failed checks ({len(failed)})", ""]
        lines += ["| Check | Outcome | Message |", "| --- | --- | --- |"]
        for check in failed:
            first = (check.get("message") or "").splitlines()[:1]
            lines.append(
                f"| `{_cell(red(check['check']))}` | {check['outcome']} "
                f"| {_cell(red(first[0] if first else ''))} |"
            )
    shown = [c for c in failed if differences.get(c["check"])]
    if shown:
        lines += ["", "### What differs from the baseline", ""]
        lines += ["| Check | Key | Status | Difference |", "| --- | --- | --- | --- |"]
        for check in shown:
            for comparison in differences[check["check"]]:
                key = _cell(red(str(comparison.get("key"))))
                lines.append(
                    f"| `{_cell(red(check['check']))}` | `{key}` "
                    f"| {comparison.get('status')} "
                    f"| {_cell(red(str(comparison.get('message', ''))))} |"
                )
    for check in failed[:MAX_ANNOTATIONS]:
        check_id = red(check["check"])
        file, line = (locations or {}).get(check["check"], (check_id.split("::")[0], None))
        properties = [f"title={escape_property(f'prodval-gate ({env}): {check_id}')}"]
        if file:
            properties.append(f"file={escape_property(red(file))}")
        if line:
            properties.append(f"line={line}")
        message = [red(check.get("message") or check["outcome"])]
        message += [
            red(f"{comparison.get('key')}: {comparison.get('message', '')}")
            for comparison in differences.get(check["check"], [])
        ]
        text = _clip("\n".join(message))
        commands.append(f"::error {','.join(properties)}::{escape_data(text)}")
    lines.append("")
    return Rendered("\n".join(lines) + "\n", commands)


def locations(junit: Path) -> dict[str, tuple[str, int | None]]:
    """Each failed check's file and the line its failure was raised at, from the JUnit XML."""
    from .record import _check_id

    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return {}
    found: dict[str, tuple[str, int | None]] = {}
    for case in root.iter("testcase"):
        element = case.find("failure")
        if element is None:
            element = case.find("error")
        if element is None:
            continue
        check = _check_id(case.get("classname", ""), case.get("name", ""))
        file = check.split("::")[0]
        hits = re.findall(rf"^{re.escape(file)}:(\d+):", element.text or "", re.MULTILINE)
        found[check] = (file, int(hits[-1]) if hits else None)
    return found


def publish(
    record: Mapping[str, Any],
    config: str,
    env: str,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> None:
    """Under GitHub Actions: append the step summary, print the ``::error`` commands."""
    from .record import _redactor

    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    redactor = _redactor(Path(config), env)[0]
    suites = record.get("suites") or {}
    summary = None
    if suites.get("summary"):
        try:
            summary = json.loads(Path(suites["summary"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = None
    junit = suites.get("junit")
    rendered = render(
        record,
        summary if isinstance(summary, dict) else None,
        redactor,
        locations(Path(junit)) if junit else None,
    )
    out = sys.stdout if out is None else out
    for command in rendered.commands:
        print(command, file=out)
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(rendered.markdown)
        except OSError as exc:
            print(f"prodval-gate: step summary not written: {exc.strerror}", file=sys.stderr)
