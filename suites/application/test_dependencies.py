"""Dependencies as the API and the workers see them: parser, embedder and the database read path.

The embedder's own URL is internal (not in prodval.yaml), so its real latency is read where it
is recorded: the synthetic document's state history, whose ``embedding -> completed`` step is
the embeddings call (plus storing the chunks).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.application]

READ_SAMPLES = 30
# Processing steps of the state history and the external service each one waits for.
STEPS = [("parsing", "parsed", "parser"), ("embedding", "completed", "embedder")]


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@pytest.mark.parametrize("component", ["parser", "embedder"])
def test_external_service_answers_the_readiness_probe_within_the_external_slo(
    component: str, ready_report: Any, target: Any
) -> None:
    """The API reaches the external service for /ready, within slo.external_ms.

    Guards against: a parser or embedder that is down, unreachable or slow to answer from the
    API's network (its /health probe, as measured by the API's /ready).
    """
    probe = ready_report.components.get(component)
    assert isinstance(probe, dict), (
        f"GET /ready ({ready_report.status_code}) reports no {component!r} component: "
        f"{sorted(ready_report.components)}"
    )
    ok, error = probe.get("ok"), probe.get("error")
    assert ok is True, f"/ready: {component} not ok: {error}"
    limit = float(target.slo.external_ms)
    latency = float(probe.get("latency_ms", math.inf))
    assert latency < limit, (
        f"/ready: {component} answered its probe in {latency:.0f} ms; limit {limit:g} ms "
        "(slo.external_ms)"
    )


def _at(entry: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(entry["at"]))


@pytest.mark.synthetic
@pytest.mark.parametrize(("start", "end", "service"), STEPS)
def test_processing_step_waits_for_its_service_within_the_external_slo(
    start: str, end: str, service: str, completed_document: Any, target: Any
) -> None:
    """A synthetic document's parse / embed step took less than slo.external_ms.

    Guards against: a slow embedder or parser (`slow_embedder`) that /ready's health probe
    does not see, because only the real calls are slow.
    """
    document = completed_document.document
    history = document.get("history") or []
    started = next((e for e in history if e.get("to") == start), None)
    ended = next((e for e in history if e.get("from") == start and e.get("to") == end), None)
    assert started is not None and ended is not None, (
        f"the synthetic document {completed_document.id} ({document.get('state')}, "
        f"{document.get('failure_reason')}) has no {start} -> {end} step in its history: "
        + " ".join(f"{e.get('from')}->{e.get('to')}" for e in history)
    )
    took_ms = (_at(ended) - _at(started)).total_seconds() * 1000
    limit = float(target.slo.external_ms)
    assert took_ms < limit, (
        f"the {start} -> {end} step (the {service} call) of synthetic document "
        f"{completed_document.id} took {took_ms:.0f} ms; limit {limit:g} ms (slo.external_ms)"
    )


def _read_round(client: httpx.Client, path: str) -> tuple[list[float], dict[int, int]]:
    """``READ_SAMPLES`` sequential GETs: latencies (ms) and the count of each non-200 status."""
    latencies: list[float] = []
    failures: dict[int, int] = {}
    for _ in range(READ_SAMPLES):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            failures[response.status_code] = failures.get(response.status_code, 0) + 1
    return latencies, failures


@pytest.mark.synthetic
def test_document_read_path_p95_is_within_the_api_slo(
    api_as: Callable[[str], httpx.Client], completed_document: Any, target: Any
) -> None:
    """30 reads of a synthetic document stay within slo.api_p95_ms and slo.error_ratio.

    Guards against: a slow database under the API (`slow_db`: every query of the read path is
    delayed), reads that fail (`error_rate`).
    """
    client = api_as("viewer")
    path = f"/documents/{completed_document.id}"
    latencies, failures = _read_round(client, path)
    failed = sum(failures.values())
    ratio_limit = float(target.slo.error_ratio)
    ratio = failed / READ_SAMPLES
    assert ratio <= ratio_limit, (
        f"{failed} of {READ_SAMPLES} reads of GET /documents/{{id}} failed "
        f"({ratio:.0%}; limit {ratio_limit:.0%}, slo.error_ratio); statuses: "
        + ", ".join(f"{status} x{count}" for status, count in sorted(failures.items()))
    )
    limit = float(target.slo.api_p95_ms)
    rounds = [latencies]
    # Over the limit: measure once more and fail only if it is over again, so that a
    # neighbour's burst on a shared host does not fail a deploy (slow_db fails both rounds).
    if p95(latencies) >= limit:
        rounds.append(_read_round(client, path)[0])
    best = min(p95(samples) for samples in rounds)
    assert best < limit, (
        f"GET /documents/{{id}} p95 over {READ_SAMPLES} reads exceeded {limit:g} ms "
        f"(slo.api_p95_ms) in {len(rounds)} rounds: "
        + "; ".join(
            f"p95 {p95(samples):.0f} ms, median {statistics.median(samples):.0f} ms"
            for samples in rounds
        )
    )
