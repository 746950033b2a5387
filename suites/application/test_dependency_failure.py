"""Behaviour when a dependency fails: readiness says so, the pipeline fails cleanly, and
everything recovers. Destructive: each check takes one dependency away.

How a dependency is taken away and given back is the environment's, in prodval.yaml
(``docpipe prodval-config`` writes both for a docpipe deployment)::

    params:
      pause_commands:  {parser: "docpipe --home H pause parser", database: "...", ...}
      resume_commands: {parser: "docpipe --home H resume parser", ...}

A command is a string (split like a shell would, without running one) or a list of
arguments; it runs with ``params.dependency_command_s`` (default 60 s) as its whole deadline.
The resume command always runs once the pause command has started, also when the check fails.
Each phase (readiness noticing, the pipeline's outcome, recovery) is polled for at most
``params.dependency_failure_s`` (default 20 s). A dependency without a pause command is
skipped. The checks need the target to themselves: under pytest-xdist with more than one
worker they are skipped (run them in a pass of their own: ``pytest -m destructive``).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.application, pytest.mark.destructive]

# What the worker calls (a document fails or retries) and what the API needs itself (the upload
# itself must fail cleanly).
WORKER_SERVICES = ("parser", "embedder")
API_DEPENDENCIES = ("database", "storage")
DEPENDENCIES = (*API_DEPENDENCIES, *WORKER_SERVICES)
PHASE_S = 20.0
COMMAND_S = 60.0
POLL_S = 0.1
# A Python stack trace, as a leaky error handler would put it in a body or a reason.
_TRACE = re.compile(r"Traceback \(most recent call last\)|\bFile \"[^\"]+\", line \d+")

T = TypeVar("T")


def _seconds(params: dict[str, Any], name: str, default: float) -> float:
    raw = params.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not raw > 0:
        pytest.fail(f"params.{name}: expected a number of seconds > 0, got {raw!r}")
    return float(raw)


def _command(params: dict[str, Any], table: str, dependency: str) -> list[str]:
    raw = params[table][dependency]
    if isinstance(raw, str) and raw.strip():
        return shlex.split(raw)
    if isinstance(raw, list) and raw and all(isinstance(a, str) for a in raw):
        return list(raw)
    pytest.fail(f"params.{table}.{dependency}: expected a command (a string or a list of strings)")


def _commands(params: dict[str, Any], target: TargetEnv, dependency: str) -> tuple[list[str], ...]:
    """(pause, resume) of ``dependency``; a skip when it has no pause command."""
    for table in ("pause_commands", "resume_commands"):
        if not isinstance(params.get(table, {}), dict):
            pytest.fail(f"params.{table}: expected a mapping of dependency -> command")
    if dependency not in params.get("pause_commands", {}):
        pytest.skip(
            f"params.pause_commands.{dependency} is not set for environment {target.name!r}: "
            f"how to take {dependency} away there is unknown"
        )
    if dependency not in params.get("resume_commands", {}):
        pytest.fail(
            f"params.resume_commands.{dependency} is not set: a dependency is paused only "
            "with a way to bring it back"
        )
    return _command(params, "pause_commands", dependency), _command(
        params, "resume_commands", dependency
    )


def _run(argv: list[str], what: str, timeout: float, target: TargetEnv) -> str | None:
    """Run a command to its end within ``timeout``; None, or what went wrong (redacted)."""
    shown = target.redactor().redact(shlex.join(argv))
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"{what} command `{shown}` did not finish within {timeout:g} s"
    except OSError as exc:
        return f"{what} command `{shown}` could not be started: {exc.strerror}"
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        said = target.redactor().redact(output[0])[:300]
        return f"{what} command `{shown}` exited with {done.returncode}: {said}"
    return None


@contextlib.contextmanager
def _paused(
    dependency: str, commands: tuple[list[str], ...], timeout: float, target: TargetEnv
) -> Iterator[None]:
    """``dependency`` is away inside the block; the resume command runs whatever happens."""
    pause, resume = commands
    try:
        problem = _run(pause, f"the {dependency} pause", timeout, target)
        if problem is not None:
            pytest.fail(problem)
        yield
    finally:
        problem = _run(resume, f"the {dependency} resume", timeout, target)
        if problem is not None:
            during = sys.exc_info()[1]
            also = f" (after the check had already failed: {during})" if during else ""
            pytest.fail(f"{problem}; the environment may still be without {dependency}{also}")


def _poll(probe: Callable[[], T | None], limit_s: float) -> tuple[T | None, float]:
    """Call ``probe`` until it returns something (then: that, seconds) or ``limit_s`` passes."""
    started = time.monotonic()
    while True:
        found = probe()
        elapsed = time.monotonic() - started
        if found is not None or elapsed > limit_s:
            return found, elapsed
        time.sleep(POLL_S)


def _ready(api: httpx.Client) -> tuple[int, dict[str, Any]]:
    """GET /ready: (status code, body); (0, {}) when it does not answer, a body not JSON: {}."""
    try:
        response = api.get("/ready")
    except httpx.HTTPError:
        return 0, {}
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def _failing(body: dict[str, Any]) -> dict[str, str]:
    """Components /ready reports not ok: name -> its error."""
    components = body.get("components")
    if not isinstance(components, dict):
        return {}
    return {
        name: str(c.get("error") or "ok is false") if isinstance(c, dict) else "not an object"
        for name, c in components.items()
        if not (isinstance(c, dict) and c.get("ok") is True)
    }


def _traced(text: str) -> bool:
    return _TRACE.search(text) is not None


def _xdist_neighbours(config: pytest.Config) -> bool:
    # This run's own workers (its workerinput), not an outer pytest-xdist's environment.
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return int(workerinput.get("workercount", 1)) > 1


def _readiness_while_away(
    api: httpx.Client, dependency: str, limit_s: float, how: str
) -> dict[str, Any]:
    """Poll /ready until it reports ``dependency`` not ok; what it said then. Fails if never."""

    def says_so() -> tuple[int, dict[str, Any]] | None:
        status, body = _ready(api)
        return (status, body) if dependency in _failing(body) else None

    found, took = _poll(says_so, limit_s)
    if found is None:
        status, body = _ready(api)
        pytest.fail(
            f"GET /ready still reports {dependency} ok {took:.1f} s after it was {how} (answered "
            f"{status}, status {body.get('status')!r}, not ok: {sorted(_failing(body)) or 'none'})"
        )
    status, body = found
    problems = []
    if status != 503:
        problems.append(f"answered {status}, expected 503")
    if body.get("status") == "ready":
        problems.append("its status is 'ready'")
    error = _failing(body)[dependency]
    if error == "ok is false":
        problems.append(f"{dependency} has no error saying why")
    assert not problems, f"GET /ready with {dependency} {how}: " + "; ".join(problems)
    return {"status_code": status, "status": body.get("status"), "failing": sorted(_failing(body))}


def _document(client: httpx.Client, document_id: str) -> dict[str, Any] | None:
    try:
        response = client.get(f"/documents/{document_id}")
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _reason_naming(document: dict[str, Any], dependency: str) -> str | None:
    """The failure reason or retry note of ``document`` that names ``dependency``."""
    reasons = [document.get("failure_reason")]
    reasons += [entry.get("reason") for entry in document.get("history") or []]
    named = [r for r in reasons if isinstance(r, str) and dependency in r.lower()]
    return named[-1] if named else None


def _upload_meets_the_outage(
    synthetic: SyntheticDocuments, dependency: str, limit_s: float
) -> tuple[dict[str, Any], str | None]:
    """A worker service away: the document uploaded now ends in a retry or failure naming it.

    Returns the outcome (``retry`` or ``failed``) and the document's id when it is to be
    retried (it must complete after the resume).
    """
    created = synthetic.upload()
    assert created.status_code == 201, (
        f"POST /documents answered {created.status_code} with {dependency} away (the API does "
        f"not need it to take an upload): {created.text[:200]}"
    )
    document_id = str(created.json()["id"])

    def outcome() -> dict[str, Any] | None:
        document = _document(synthetic.uploader, document_id)
        if document is None:
            return None
        named = _reason_naming(document, dependency)
        return document if named or document.get("state") in ("failed", "completed") else None

    document, took = _poll(outcome, limit_s)
    if document is None:
        last = _document(synthetic.uploader, document_id) or {}
        pytest.fail(
            f"document {document_id} uploaded with {dependency} away is still "
            f"{last.get('state')!r} after {took:.1f} s with no retry or failure recorded: "
            + " ".join(f"{e.get('from')}->{e.get('to')}" for e in last.get("history") or [])
        )
    reason = _reason_naming(document, dependency)
    assert reason is not None, (
        f"document {document_id} went {document.get('state')!r} with {dependency} away, "
        f"without a reason naming {dependency} (failure_reason {document.get('failure_reason')!r})"
    )
    assert not _traced(reason), f"document {document_id}: a traceback as its reason: {reason[:300]}"
    if document.get("state") == "failed":
        return {"document": "failed"}, None
    return {"document": "retry"}, document_id


def _upload_is_refused_cleanly(
    synthetic: SyntheticDocuments, dependency: str, timeout: float
) -> dict[str, Any]:
    """An API dependency away: the upload is refused at once with a 5xx and no traceback.

    Returns the answer's status and error code (a 503 with Retry-After says "come back").
    """
    try:
        refused = synthetic.upload()
    except httpx.TimeoutException:
        pytest.fail(f"POST /documents did not answer within {timeout:g} s with {dependency} away")
    assert refused.status_code >= 500, (
        f"POST /documents answered {refused.status_code} with {dependency} away; expected a "
        f"5xx: the document cannot be stored (body: {refused.text[:200]})"
    )
    assert not _traced(refused.text), (
        f"POST /documents with {dependency} away answered {refused.status_code} with a "
        f"traceback: {refused.text[:300]}"
    )
    try:
        body = refused.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return {
        "upload": refused.status_code,
        "error": error,
        "retry-after": "retry-after" in refused.headers,
    }


def _recovered(
    api: httpx.Client, synthetic: SyntheticDocuments, retried: str | None, limit_s: float
) -> None:
    """After the resume: /ready all ok again, and a document (the retried one, else a new
    upload) reaches completed."""
    _, took = _poll(lambda: True if _ready(api)[0] == 200 else None, limit_s)
    status, body = _ready(api)
    assert status == 200, (
        f"GET /ready answered {status} {took:.1f} s after the resume; not ok: "
        + ", ".join(f"{n} ({e})" for n, e in _failing(body).items())
    )
    if retried is None:
        created = synthetic.upload()
        assert created.status_code == 201, (
            f"POST /documents answered {created.status_code} after the resume: {created.text[:200]}"
        )
        retried = str(created.json()["id"])

    def completed() -> dict[str, Any] | None:
        document = _document(synthetic.uploader, retried)
        return document if document and document.get("state") in ("completed", "failed") else None

    document, took = _poll(completed, limit_s)
    state = (document or _document(synthetic.uploader, retried) or {}).get("state")
    assert state == "completed", (
        f"document {retried} is {state!r} {took:.1f} s after the resume, not completed "
        f"(failure_reason {(document or {}).get('failure_reason')!r})"
    )


@pytest.mark.synthetic
@pytest.mark.parametrize("dependency", DEPENDENCIES)
def test_with_a_dependency_away_readiness_names_it_the_pipeline_fails_cleanly_and_recovers(
    dependency: str,
    api: httpx.Client,
    synthetic: SyntheticDocuments,
    params: dict[str, Any],
    target: TargetEnv,
    baseline: Baseline,
    pytestconfig: pytest.Config,
) -> None:
    """With one dependency paused: /ready answers 503 naming it; the pipeline fails cleanly;
    after the resume /ready is ok and a document completes.

    Clean failure: an upload while the parser or embedder is away is taken (201) and ends in a
    retry or failure whose reason names the service, not stuck; while the database or storage
    is away the upload is refused at once with a 5xx without a traceback. The components /ready
    reports not ok, and how the pipeline failed (retry or failure; the refusal's status and
    error), are the baseline's.

    Guards against: readiness that reports ok while a dependency is down (a load balancer keeps
    sending traffic), a probe blaming the wrong component, documents stuck without a reason
    or failed for good when a service is briefly down, an outage answered with a traceback or
    a 500 where it was a 503, no recovery after it.
    """
    if _xdist_neighbours(pytestconfig):
        pytest.skip("takes a dependency away: needs the target to itself (run without -n)")
    commands = _commands(params, target, dependency)
    limit_s = _seconds(params, "dependency_failure_s", PHASE_S)
    command_s = _seconds(params, "dependency_command_s", COMMAND_S)
    how = f"paused (params.pause_commands.{dependency})"
    retried: str | None = None
    with _paused(dependency, commands, command_s, target):
        readiness = _readiness_while_away(api, dependency, limit_s, how)
        if dependency in WORKER_SERVICES:
            pipeline, retried = _upload_meets_the_outage(synthetic, dependency, limit_s)
        else:
            pipeline = _upload_is_refused_cleanly(synthetic, dependency, float(target.api.timeout))
    _recovered(api, synthetic, retried, limit_s)
    baseline.exact("readiness while away", readiness)
    baseline.exact("pipeline while away", pipeline)
