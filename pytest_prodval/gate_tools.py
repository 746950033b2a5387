"""Helpers the bash deployment gate (``prodval-gate``) calls: split, record, notify.

The gate's control flow (locking, timeouts, signals, the rollback) is bash, in
``pytest_prodval/scripts/prodval-gate``; what needs the plugin's code lives here:

- ``split``: split the ``--verify`` text the way a shell would, NUL-separated.
- ``record``: write the gate record, a JSON file. Failed checks and their messages come from
  the JUnit XML and ``prodval-summary.json`` that the plugin already redacted; the rollback
  command and its output are passed through the environment's redactor here, because they never
  went through the plugin.
- ``notify``: POST a Slack-compatible message about a record, and note the result in it.

The preflight probe of the target is a pytest plugin, ``pytest_prodval.gate_preflight``.

Exit codes: 0 done; 3 the gate cannot go on (a ``--verify`` text that does not split).
``notify`` always exits 0: a failed notification must not change the gate's decision.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import textwrap
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .baseline.store import BaselineError, BaselineFile, atomic_write_text
from .redaction import Redactor

__all__ = ["build_record", "failed_checks", "main", "slack_message"]

EXIT_OK, EXIT_MISUSE = 0, 3
RECORD_SCHEMA = 1
MESSAGE_CHARS = 1500
TAIL_LINES = 40
TAIL_CHARS = 6000
NOTIFY_CHECKS = 10

# pytest's exit codes, in the words the record uses.
PYTEST_MEANING = {
    0: "all checks passed",
    1: "checks failed",
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest usage error",
    5: "no checks were collected",
}


# --- helpers --------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"prodval-gate: {message}", file=sys.stderr)


def _redactor(config: Path | None, env: str) -> tuple[Redactor, str | None]:
    """The environment's redactor; an empty one (and why) when the config cannot be loaded."""
    if config is None:
        return Redactor(()), "no config"
    from .config import ConfigError, load_config

    try:
        return load_config(config).environment(env).redactor(), None
    except ConfigError as exc:
        return Redactor(()), str(exc)


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters."""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept if len(kept) <= chars else "…" + kept[-(chars - 1) :]


def _check_id(classname: str, name: str) -> str:
    """JUnit's classname + name back to a pytest node id (``pkg.mod.Class`` is a best guess)."""
    parts = classname.split(".")
    # The module is the last lower-case-initial part; what follows is a class.
    split_at = len(parts)
    while split_at > 1 and parts[split_at - 1][:1].isupper():
        split_at -= 1
    module = "/".join(parts[:split_at]) + ".py"
    return "::".join([module, *parts[split_at:], name])


def failed_checks(junit: Path | None, redactor: Redactor) -> list[dict[str, str]] | None:
    """Each failed or erroring check in a JUnit XML file: check id, outcome, message.

    None when the file is missing or unreadable (a run killed before pytest wrote it).
    """
    if junit is None:
        return None
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return None
    failed = []
    for case in root.iter("testcase"):
        for outcome in ("failure", "error"):
            element = case.find(outcome)
            if element is None:
                continue
            failed.append(
                {
                    "check": _check_id(case.get("classname", ""), case.get("name", "")),
                    "outcome": "failed" if outcome == "failure" else "error",
                    "message": redactor.redact_url(_clip(_failure_message(element))),
                }
            )
    return failed


def _failure_message(element: ET.Element) -> str:
    """The exception lines of a JUnit failure (pytest's ``E`` lines), else its message."""
    text = element.text or ""
    raised = [line[1:] for line in text.splitlines() if line[:1] == "E" and line[1:2] in " "]
    if raised:
        return textwrap.dedent("\n".join(raised))
    return element.get("message") or text.strip()


def _failed_comparisons(summary: dict[str, Any] | None, redactor: Redactor) -> list[Any]:
    if summary is None:
        return []
    return [
        {
            "key": comparison.get("key"),
            "status": comparison.get("status"),
            "message": redactor.redact_url(_clip(str(comparison.get("message", "")))),
        }
        for comparison in summary.get("comparisons", [])
        if comparison.get("status") in ("failed", "missing")
    ]


def _pytest_run(
    exit_code: int | None,
    junit: Path | None,
    summary_path: Path | None,
    redactor: Redactor,
    **extra: Any,
) -> dict[str, Any]:
    summary = _read_json(summary_path)
    meaning = None
    if exit_code is not None:
        meaning = PYTEST_MEANING.get(exit_code)
        if meaning is None and exit_code > 128:
            meaning = f"pytest was killed by signal {exit_code - 128}"
    return {
        "pytest_exit_code": exit_code,
        "meaning": meaning,
        **extra,
        "counts": summary.get("counts") if summary else None,
        "failed_checks": failed_checks(junit, redactor),
        "failed_comparisons": _failed_comparisons(summary, redactor),
        "junit": str(junit) if junit and junit.exists() else None,
        "summary": str(summary_path) if summary_path and summary_path.exists() else None,
    }


def _seconds(span: str | None) -> float | None:
    """``START,END`` (epoch seconds, bash's $EPOCHREALTIME) -> elapsed seconds."""
    if not span:
        return None
    start, _, end = span.partition(",")
    try:
        return round(float(end) - float(start), 3)
    except ValueError:
        return None


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    moment = dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc)
    return moment.replace(microsecond=0).isoformat()


def _baseline(path: Path | None, summary: dict[str, Any] | None) -> dict[str, Any]:
    if path is None:
        return {"path": None, "provenance": None}
    if summary and summary.get("baseline"):
        return {"path": str(path), "provenance": summary["baseline"].get("provenance")}
    try:
        loaded = BaselineFile.load(path)
    except BaselineError as exc:
        return {"path": str(path), "provenance": None, "error": str(exc)}
    if not loaded.exists:
        return {"path": str(path), "provenance": None, "error": "file not found"}
    provenance = loaded.provenance.to_json() if loaded.provenance else None
    return {"path": str(path), "provenance": provenance}


def _notify_target(url: str) -> str:
    """Where a notification went, without the path: webhook paths carry their secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


# --- record ---------------------------------------------------------------------------------


def build_record(args: argparse.Namespace) -> dict[str, Any]:
    """The gate record as a JSON-able dict (see docs/gate.md for every field)."""
    redactor, config_problem = _redactor(args.config, args.env)
    suites_summary = _read_json(args.suites_summary)
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "decision": args.decision,
        "exit_code": args.exit_code,
        "reason": redactor.redact(args.reason),
        "environment": args.env,
        "config": str(args.config) if args.config else None,
        "started_at": _iso(args.started),
        "finished_at": _iso(args.finished),
        "durations_s": {
            name: _seconds(getattr(args, name))
            for name in ("preflight", "suites", "rollback", "verification")
        },
        "target": (suites_summary or {}).get("target"),
        "baseline": _baseline(args.baseline, suites_summary),
        "pytest_args": [redactor.redact_url(arg) for arg in args.pytest_arg],
        "suites": None,
        "rollback": None,
        "verification": None,
        "interrupted_by": args.interrupted or None,
        "notification": None,
    }
    record["durations_s"]["total"] = _seconds(f"{args.started},{args.finished}")
    if config_problem and args.config:
        record["config_problem"] = config_problem
    if args.suites_ran:
        record["suites"] = _pytest_run(
            args.suites_exit,
            args.suites_junit,
            args.suites_summary,
            redactor,
            timed_out=args.suites_timed_out,
            timeout_s=args.timeout,
        )
    if args.rollback_ran:
        output = ""
        if args.rollback_output is not None:
            try:
                output = args.rollback_output.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                output = f"(output unreadable: {exc.strerror})"
        record["rollback"] = {
            "command": redactor.redact_url(args.rollback_command),
            "exit_code": args.rollback_exit,
            "timed_out": args.rollback_timed_out,
            "timeout_s": args.rollback_timeout,
            "succeeded": args.rollback_exit == 0 and not args.rollback_timed_out,
            "output_tail": redactor.redact_url(tail(output)),
        }
    elif args.rollback_command is not None:
        record["rollback"] = {
            "command": redactor.redact_url(args.rollback_command),
            "ran": False,
        }
    if args.verify_ran:
        record["verification"] = {
            "selection": redactor.redact(args.verify_selection or ""),
            "passed": args.verify_exit == 0 and not args.verify_timed_out,
            **_pytest_run(
                args.verify_exit,
                args.verify_junit,
                args.verify_summary,
                redactor,
                timed_out=args.verify_timed_out,
            ),
        }
    elif args.verify_skipped:
        record["verification"] = {"skipped": args.verify_skipped}
    return record


def _print_outcome(record: dict[str, Any], path: Path) -> None:
    suites = record.get("suites") or {}
    for check in (suites.get("failed_checks") or [])[:20]:
        first = check["message"].splitlines()[0] if check["message"] else ""
        _say(f"  {check['outcome']}: {check['check']}: {first[:160]}")
    rollback = record.get("rollback") or {}
    if rollback.get("output_tail"):
        _say("rollback output (last lines, redacted):")
        for line in rollback["output_tail"].splitlines():
            print(f"  | {line}", file=sys.stderr)
    verification = record.get("verification") or {}
    for check in (verification.get("failed_checks") or [])[:20]:
        _say(f"  verification {check['outcome']}: {check['check']}")
    _say(f"gate record: {path}")


def cmd_record(args: argparse.Namespace) -> int:
    record = build_record(args)
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    _print_outcome(record, args.out)
    return EXIT_OK


# --- notify ---------------------------------------------------------------------------------


def slack_message(record: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible message (``text`` fallback plus ``blocks``) about a gate record."""
    icons = {0: ":white_check_mark:", 1: ":leftwards_arrow_with_hook:"}
    icon = icons.get(int(record.get("exit_code", 2)), ":rotating_light:")
    env = record.get("environment")
    headline = f"{icon} prodval-gate {env}: {record.get('decision')} (exit {record['exit_code']})"
    failed = (record.get("suites") or {}).get("failed_checks") or []
    lines = [f"• `{check['check']}`: {check['message'][:200]}" for check in failed[:NOTIFY_CHECKS]]
    if len(failed) > NOTIFY_CHECKS:
        lines.append(f"… and {len(failed) - NOTIFY_CHECKS} more (see the gate record)")
    rollback = record.get("rollback") or {}
    verification = record.get("verification") or {}
    facts = [record.get("reason") or ""]
    if "succeeded" in rollback:
        facts.append(
            "rollback: "
            + ("succeeded" if rollback["succeeded"] else "FAILED")
            + (" (timed out)" if rollback.get("timed_out") else "")
        )
    if "passed" in verification:
        facts.append("verification: " + ("passed" if verification["passed"] else "FAILED"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f for f in facts if f)}},
    ]
    if lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Failed checks*\n" + "\n".join(lines)},
            }
        )
    return {"text": f"{headline}: {record.get('reason')}", "blocks": blocks}


def cmd_notify(args: argparse.Namespace) -> int:
    record = _read_json(args.record)
    if record is None:
        _say(f"notification not sent: cannot read the gate record {args.record}")
        return EXIT_OK
    body = json.dumps(slack_message(record)).encode()
    request = urllib.request.Request(
        args.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    result: dict[str, Any] = {"target": _notify_target(args.url), "sent": False}
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            result.update(sent=True, status=response.status)
    except urllib.error.HTTPError as exc:
        result.update(status=exc.code, error=f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        result["error"] = f"{type(exc).__name__}: {reason}".replace(args.url, result["target"])
    record["notification"] = result
    atomic_write_text(args.record, json.dumps(record, indent=2) + "\n")
    if result["sent"]:
        _say(f"notification sent to {result['target']}")
    else:
        _say(f"notification to {result['target']} failed ({result['error']}); exit code unchanged")
    return EXIT_OK


# --- probe and split ------------------------------------------------------------------------


def cmd_split(args: argparse.Namespace) -> int:
    try:
        words = shlex.split(args.text)
    except ValueError as exc:
        _say(f"--verify {args.text!r}: {exc}")
        return EXIT_MISUSE
    sys.stdout.write("".join(f"{word}\0" for word in words))
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------


def _optional_int(text: str) -> int | None:
    return None if text == "" else int(text)


def _optional_path(text: str) -> Path | None:
    return None if text == "" else Path(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_prodval.gate_tools")
    sub = parser.add_subparsers(dest="command", required=True)

    split = sub.add_parser("split", help="split text like a shell, NUL-separated")
    split.add_argument("text")
    split.set_defaults(func=cmd_split)

    notify = sub.add_parser("notify", help="POST a Slack-compatible message about a record")
    notify.add_argument("--record", type=Path, required=True)
    notify.add_argument("--url", required=True)
    notify.add_argument("--timeout", type=float, default=10.0)
    notify.set_defaults(func=cmd_notify)

    record = sub.add_parser("record", help="write the gate record")
    add = record.add_argument
    add("--out", type=Path, required=True)
    add("--config", type=_optional_path, default=None)
    add("--env", required=True)
    add("--baseline", type=_optional_path, default=None)
    add("--decision", required=True)
    add("--exit-code", type=int, required=True)
    add("--reason", required=True)
    add("--started", required=True)
    add("--finished", required=True)
    for span in ("preflight", "suites", "rollback", "verification"):
        add(f"--{span}", default=None, help="START,END epoch seconds")
    add("--pytest-arg", action="append", default=[])
    add("--timeout", type=_optional_int, default=None)
    add("--interrupted", default="")
    add("--suites-ran", action="store_true")
    add("--suites-exit", type=_optional_int, default=None)
    add("--suites-timed-out", action="store_true")
    add("--suites-junit", type=_optional_path, default=None)
    add("--suites-summary", type=_optional_path, default=None)
    add("--rollback-command", default=None)
    add("--rollback-ran", action="store_true")
    add("--rollback-exit", type=_optional_int, default=None)
    add("--rollback-timed-out", action="store_true")
    add("--rollback-timeout", type=_optional_int, default=None)
    add("--rollback-output", type=_optional_path, default=None)
    add("--verify-ran", action="store_true")
    add("--verify-skipped", default="")
    add("--verify-selection", default=None)
    add("--verify-exit", type=_optional_int, default=None)
    add("--verify-timed-out", action="store_true")
    add("--verify-junit", type=_optional_path, default=None)
    add("--verify-summary", type=_optional_path, default=None)
    record.set_defaults(func=cmd_record)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
