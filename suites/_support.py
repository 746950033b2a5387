"""Helpers shared by the suites: JSON reads that fail loudly, waiting for a document, erasing.

``wait_for_state`` polls a document until it reaches one of ``states`` within a limit (the
callers pass ``target.slo.worker_seconds``). A document still ``uploaded`` after a few seconds
while ``/ready`` reports no live worker fails at once, with what ``/ready`` said, instead of
waiting the whole limit for a queue nobody consumes (the ``worker_stalled`` fault).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

__all__ = ["SYNTHETIC_SUBJECT_PREFIX", "AwaitState", "erase", "get_json", "wait_for_state"]

SYNTHETIC_SUBJECT_PREFIX = "prodval-synthetic-"
ERASE_ATTEMPTS = 3

# The ``await_state`` fixture: (synthetic, document id, states) -> (document, seconds).
AwaitState = Callable[[Any, str, set[str]], tuple[dict[str, Any], float]]

POLL_S = 0.1
# After this long still ``uploaded``, ask /ready whether any worker is alive (then every 2 s).
STALL_PROBE_AFTER_S = 2.0
STALL_PROBE_EVERY_S = 2.0


def get_json(
    client: httpx.Client, path: str, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET ``path`` and return its JSON body; fail with the answer unless it is a 200."""
    response = client.get(path, params=query)
    if response.status_code != 200:
        pytest.fail(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def _dead_workers(client: httpx.Client) -> dict[str, Any] | None:
    """What /ready says about the workers when it says none is alive; None otherwise."""
    try:
        workers = client.get("/ready").json()["components"]["workers"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None  # /ready unreachable or of another shape: no opinion, keep waiting
    if isinstance(workers, dict) and workers.get("ok") is False:
        return workers
    return None


def wait_for_state(
    client: httpx.Client, document_id: str, states: set[str], limit_s: float
) -> tuple[dict[str, Any], float]:
    """Poll the document until it is in one of ``states``: (document, seconds taken)."""
    started = time.monotonic()
    next_probe = started + STALL_PROBE_AFTER_S
    while True:
        document = get_json(client, f"/documents/{document_id}")
        now = time.monotonic()
        state = document.get("state")
        if state in states:
            return document, now - started
        if now - started > limit_s:
            pytest.fail(
                f"document {document_id} still {state!r} after {limit_s:g} s "
                f"(target.slo.worker_seconds; expected {' or '.join(sorted(states))}); "
                f"states so far: {[h.get('to') for h in document.get('history', [])]}"
            )
        if state == "uploaded" and now >= next_probe:
            workers = _dead_workers(client)
            if workers is not None:
                pytest.fail(
                    f"document {document_id} still 'uploaded' after {now - started:.1f} s "
                    f"and /ready reports no live worker: {workers}"
                )
            next_probe = now + STALL_PROBE_EVERY_S
        time.sleep(POLL_S)


def erase(client: httpx.Client, document_id: str) -> int:
    """DELETE a document, retrying on 5xx and transport errors; the last status (0: none).

    204 and 404 both mean it is gone. Retried because a failing API (the ``error_rate`` fault)
    must still not be left holding synthetic data.
    """
    status = 0
    for attempt in range(ERASE_ATTEMPTS):
        if attempt:
            time.sleep(POLL_S)
        try:
            status = client.delete(f"/documents/{document_id}").status_code
        except httpx.HTTPError:
            continue
        if status in (204, 404):
            break
    return status
