"""The gate's notification: a Slack-compatible message about a record, POSTed once.

A failed notification is written into the record and never changes the gate's exit code. The
record keeps only the webhook's scheme and host: webhook paths carry their secret.

The POST has one total deadline (connect, TLS, sending, the answer's head and body: the
bounded transport of ``exchange.py``), so a webhook that trickles its answer a byte at a time
costs the gate ``timeout_s``, not a socket timeout per byte; its answer is read up to
``ANSWER_CAP_BYTES`` and no further.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ANSWER_CAP_BYTES", "NOTIFY_CHECKS", "notify", "notify_target", "slack_message"]

NOTIFY_CHECKS = 10
ANSWER_CAP_BYTES = 64 * 2**10  # a webhook answers "ok"; nothing of it is kept


def notify_target(url: str) -> str:
    """Where a notification went, without the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


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
    for when, entry in (record.get("integrity") or {}).items():  # --deploy only
        if isinstance(entry, dict) and "matched" in entry:
            state = "matched the snapshot" if entry["matched"] else "DIFFERS from the snapshot"
            facts.append(f"data {when.replace('_', ' ')}: {state}")
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


def notify(record: dict[str, Any], url: str, timeout_s: float) -> dict[str, Any]:
    """POST the record's message to ``url`` within ``timeout_s`` in all; what happened, for
    the record's ``notification``."""
    import httpx

    from ..exchange import bounded_transport

    body = json.dumps(slack_message(record)).encode()
    target = notify_target(url)
    result: dict[str, Any] = {"target": target, "sent": False}
    transport = bounded_transport(max_body_bytes=ANSWER_CAP_BYTES, default_total_s=timeout_s)
    try:
        with httpx.Client(transport=transport, timeout=timeout_s) as client:
            response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    except httpx.TimeoutException:
        result["error"] = f"timed out: no complete answer within {timeout_s:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}".replace(url, target)
    else:
        result["status"] = response.status_code
        if response.is_success:
            result["sent"] = True
        else:
            result["error"] = f"HTTP {response.status_code}"
    return result
