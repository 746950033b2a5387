"""Helpers shared by the suites: JSON reads that fail loudly, waiting for a document, erasing,
and sweeping synthetic documents that earlier runs left behind.

``wait_for_state`` polls a document until it reaches one of ``states`` within a limit (the
callers pass ``target.slo.worker_seconds``). A document still ``uploaded`` after a few seconds
while ``/ready`` reports no live worker fails at once, with what ``/ready`` said, instead of
waiting the whole limit for a queue nobody consumes (the ``worker_stalled`` fault).

``sweep_synthetic`` lists synthetic documents created before a cutoff (``GET /documents``) and
erases them: what a killed run (SIGKILL, a lost machine) could not erase itself. ``sweep_as``
is the run's policy around it (age and budget from ``params``, the cutoff, a redacted
problem), the one both the operator's sweep and the other tenant's use.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import pytest

from pytest_prodval import TargetEnv

__all__ = [
    "SWEEP_BUDGET_S",
    "SWEEP_MAX_DOCUMENTS",
    "SYNTHETIC_SUBJECT_PREFIX",
    "AwaitState",
    "Sweep",
    "erase",
    "get_json",
    "query_timeout",
    "sweep_after_s",
    "sweep_as",
    "sweep_budget_s",
    "sweep_synthetic",
    "wait_for_state",
]

SYNTHETIC_SUBJECT_PREFIX = "prodval-synthetic-"
ERASE_ATTEMPTS = 3


class Uploads(Protocol):
    """What ``await_state`` needs of the ``synthetic`` fixture: the client that uploaded."""

    @property
    def uploader(self) -> httpx.Client: ...


# The ``await_state`` fixture: (synthetic, document id, states) -> (document, seconds).
AwaitState = Callable[[Uploads, str, set[str]], tuple[dict[str, Any], float]]

POLL_S = 0.1
# The sweep erases at most this many documents per run, and starts no request after its
# budget (``params.synthetic_sweep_budget_s``, at most a quarter of the run's); the next run
# goes on from there. Its time counts against the run, not the first check (budget.py).
SWEEP_MAX_DOCUMENTS = 200
SWEEP_BUDGET_S = 60.0
SWEEP_PARAM = "synthetic_sweep_after_s"
SWEEP_BUDGET_PARAM = "synthetic_sweep_budget_s"
SWEEP_RUN_SHARE = 0.25
MAX_SWEEP_AGE_S = 1e9  # about 31 years: keeps the cutoff a representable time
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


def sweep_after_s(params: Mapping[str, Any], run_s: float) -> float:
    """Age from which a synthetic document is a leftover: ``params.synthetic_sweep_after_s``,
    else the run budget ``timeouts.run_s`` (no run lives longer, so no live run owns it).

    Raises ValueError naming the parameter when it is not a number of seconds >= 0.
    """
    raw = params.get(SWEEP_PARAM)
    if raw is None:
        return float(run_s)
    return _seconds_param(SWEEP_PARAM, raw, zero=True)


def sweep_budget_s(params: Mapping[str, Any], run_s: float) -> float:
    """How long the sweep may take: ``params.synthetic_sweep_budget_s`` (default 60 s), and at
    most a quarter of ``timeouts.run_s``, so that the checks keep the rest of the run.

    Raises ValueError naming the parameter when it is not a number of seconds > 0.
    """
    raw = params.get(SWEEP_BUDGET_PARAM)
    value = SWEEP_BUDGET_S if raw is None else _seconds_param(SWEEP_BUDGET_PARAM, raw, zero=False)
    return min(value, float(run_s) * SWEEP_RUN_SHARE)


def _seconds_param(name: str, raw: Any, *, zero: bool) -> float:
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"params.{name}: expected a number of seconds {bound}, got {raw!r}")
    return value


@dataclasses.dataclass
class Sweep:
    """What one sweep did: documents erased, documents it could not erase, and why it stopped
    short (``problem``: could not list at all; ``truncated``: more may be left)."""

    after_s: float
    swept: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, int] = dataclasses.field(default_factory=dict)  # id -> last status
    problem: str | None = None
    truncated: bool = False
    budget_s: float = SWEEP_BUDGET_S
    out_of_time: bool = False  # stopped between requests: its budget was used up

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sweep:
        return cls(
            after_s=float(data["after_s"]),
            swept=list(data["swept"]),
            failed=dict(data["failed"]),
            problem=data["problem"],
            truncated=bool(data["truncated"]),
            budget_s=float(data["budget_s"]),
            out_of_time=bool(data["out_of_time"]),
        )

    @classmethod
    def merged(cls, sweeps: list[Sweep]) -> Sweep:
        """One account of the sweeps of several processes (xdist workers sweep alike: what one
        erased, another finds gone)."""
        swept = sorted({i for s in sweeps for i in s.swept})
        failed = {i: st for s in sweeps for i, st in s.failed.items() if i not in swept}
        problems = list(dict.fromkeys(s.problem for s in sweeps if s.problem))
        return cls(
            after_s=sweeps[0].after_s,
            swept=swept,
            failed=failed,
            problem="; ".join(problems) or None,
            truncated=any(s.truncated for s in sweeps),
            budget_s=sweeps[0].budget_s,
            out_of_time=any(s.out_of_time for s in sweeps),
        )

    def lines(self) -> list[str]:
        """The terminal report: one line, two when something is left over."""
        age = f"older than {self.after_s:g} s"
        lines = []
        if self.swept:
            shown = ", ".join(self.swept[:5]) + (", ..." if len(self.swept) > 5 else "")
            lines.append(
                f"prodval: swept {len(self.swept)} synthetic document(s) {age} left by earlier "
                f"runs: {shown}"
            )
        elif self.problem:
            lines.append(f"prodval: synthetic leftovers not swept: {self.problem}")
        elif not self.failed and not self.truncated:
            lines.append(f"prodval: no synthetic documents {age} to sweep")
        if self.failed:
            shown = ", ".join(f"{i} ({st or 'no answer'})" for i, st in self.failed.items())
            lines.append(f"prodval: synthetic documents that could not be erased: {shown}")
        if self.problem and self.swept:
            lines.append(f"prodval: synthetic sweep incomplete: {self.problem}")
        if self.out_of_time and not self.problem:
            lines.append(
                f"prodval: synthetic sweep stopped: {self.budget_text()} was used up; more "
                "synthetic leftovers may remain, the next run goes on"
            )
        elif self.truncated:
            lines.append(
                "prodval: more synthetic leftovers may remain "
                f"(at most {SWEEP_MAX_DOCUMENTS} per run); the next run goes on"
            )
        return lines

    def budget_text(self) -> str:
        return f"its budget of {self.budget_s:g} s (params.{SWEEP_BUDGET_PARAM})"


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _request_s(client: httpx.Client, left: float) -> float:
    """A request's total deadline: the client's (``api.timeout``), or what is left if less."""
    own = [s for s in (client.timeout.connect, client.timeout.read, client.timeout.pool) if s]
    return min([left, *own])


def _list_leftovers(
    client: httpx.Client, query: dict[str, str], deadline: float, sweep: Sweep
) -> httpx.Response | str:
    """GET /documents, retried like ``erase`` until ``deadline`` (``time.monotonic()``); the
    response, or why there is none."""
    problem = "GET /documents: no answer"
    for attempt in range(ERASE_ATTEMPTS):
        if attempt:
            time.sleep(POLL_S)
        left = deadline - time.monotonic()
        if left <= 0:
            sweep.out_of_time = True
            return f"the sweep stopped: {sweep.budget_text()} was used up ({problem})"
        try:
            response = client.get("/documents", params=query, timeout=_request_s(client, left))
        except httpx.HTTPError as exc:
            problem = f"GET /documents: {type(exc).__name__}: {exc}"[:300]
            continue
        if response.status_code < 500:
            return response
        problem = f"GET /documents answered {response.status_code}"
    return problem


def sweep_synthetic(
    client: httpx.Client,
    created_before: dt.datetime,
    after_s: float,
    *,
    max_documents: int = SWEEP_MAX_DOCUMENTS,
    budget_s: float = SWEEP_BUDGET_S,
) -> Sweep:
    """Erase synthetic documents created before ``created_before``; never raises for the target.

    Only documents whose subject starts with ``SYNTHETIC_SUBJECT_PREFIX`` and whose creation
    time is before the cutoff are erased, judged here again: a target that ignored the filters
    still cannot make the sweep erase anything that is not a synthetic leftover.
    """
    sweep = Sweep(after_s=after_s, budget_s=budget_s)
    deadline = time.monotonic() + budget_s
    query = {
        "subject_prefix": SYNTHETIC_SUBJECT_PREFIX,
        "created_before": created_before.astimezone(dt.timezone.utc).isoformat(),
        "limit": str(max_documents),
    }
    response = _list_leftovers(client, query, deadline, sweep)
    if isinstance(response, str):
        sweep.problem = response
        return sweep
    if response.status_code in (404, 405):
        sweep.problem = (
            f"the target cannot list synthetic data (GET /documents answered "
            f"{response.status_code}); leftovers of killed runs stay until erased by hand"
        )
        return sweep
    try:
        documents = response.json()["documents"] if response.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        documents = None
    if not isinstance(documents, list):
        sweep.problem = (
            f"GET /documents answered {response.status_code} without a document list: "
            f"{response.text[:200]}"
        )
        return sweep
    for document in documents[:max_documents]:
        if not isinstance(document, dict):
            continue
        document_id, created = document.get("id"), _parse_time(document.get("created_at"))
        subject = document.get("subject_id")
        if not isinstance(document_id, str) or not isinstance(subject, str):
            continue
        if not subject.startswith(SYNTHETIC_SUBJECT_PREFIX):
            continue
        if created is None or created >= created_before:
            continue
        if time.monotonic() > deadline:
            sweep.truncated = sweep.out_of_time = True
            break
        status = erase(client, document_id)
        if status == 204:
            sweep.swept.append(document_id)
        elif status != 404:  # 404: gone already (another xdist worker's sweep got there first)
            sweep.failed[document_id] = status
    sweep.truncated = sweep.truncated or len(documents) >= max_documents
    return sweep


def sweep_as(
    target: TargetEnv, role: str, connect: Callable[[], httpx.Client], loaded_at: dt.datetime
) -> Sweep:
    """Sweep the synthetic leftovers ``connect()`` (``role``'s client) may erase: those created
    ``sweep_after_s`` before ``loaded_at`` (when the caller's suites were loaded), within
    ``sweep_budget_s``; the problem, if any, redacted.

    Never raises for the target or the configuration: a bad parameter, or a ``LookupError``
    from ``connect`` (no credentials for ``role``), becomes the sweep's ``problem``. The
    parameters are read before ``connect`` is called, so a bad parameter is the problem
    reported even when the role is not set up either.
    """
    run_s = float(target.timeouts.run_s)
    try:
        after_s = sweep_after_s(target.params, run_s)
        budget_s = sweep_budget_s(target.params, run_s)
    except ValueError as exc:
        sweep = Sweep(after_s=run_s, problem=str(exc))
    else:
        try:
            client = connect()
        except LookupError as exc:
            sweep = Sweep(after_s=after_s, problem=f"{exc} (the sweep erases as {role})")
        else:
            cutoff = loaded_at - dt.timedelta(seconds=min(after_s, MAX_SWEEP_AGE_S))
            sweep = sweep_synthetic(client, cutoff, after_s, budget_s=budget_s)
    if sweep.problem:
        sweep.problem = target.redactor().redact(sweep.problem)
    return sweep


def query_timeout(target: TargetEnv) -> float:
    """The database's query timeout; a check that has the ``db`` fixture has a database."""
    if target.database is None:
        pytest.skip(f"environment {target.name!r} has no database configured")
    return target.database.timeout
