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
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

if TYPE_CHECKING:
    from .conftest import CompletedDocument, ReadyReport

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
    component: str, ready_report: ReadyReport, target: TargetEnv, baseline: Baseline
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
    latency = probe.get("latency_ms")
    assert isinstance(latency, (int, float)), f"/ready: {component} reports no latency_ms"
    baseline.limit(
        "probe latency",
        float(latency),
        below=float(target.slo.external_ms),
        unit="ms",
        source="slo.external_ms in prodval.yaml",
        note=f"{component}'s probe, as GET /ready measured it",
    )


def _at(entry: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(entry["at"]))


@pytest.mark.synthetic
@pytest.mark.parametrize(("start", "end", "service"), STEPS)
def test_processing_step_waits_for_its_service_within_the_external_slo(
    start: str,
    end: str,
    service: str,
    completed_document: CompletedDocument,
    target: TargetEnv,
    baseline: Baseline,
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
    baseline.limit(
        "step duration",
        took_ms,
        below=float(target.slo.external_ms),
        unit="ms",
        source="slo.external_ms in prodval.yaml",
        note=f"the {start} -> {end} step (the {service} call) of synthetic document "
        f"{completed_document.id}",
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
    api_as: Callable[[str], httpx.Client],
    completed_document: CompletedDocument,
    target: TargetEnv,
    baseline: Baseline,
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
    baseline.limit(
        "error ratio",
        ratio,
        at_most=ratio_limit,
        source="slo.error_ratio in prodval.yaml",
        note=f"{failed} of {READ_SAMPLES} reads of GET /documents/{{id}} failed; statuses: "
        + (", ".join(f"{status} x{count}" for status, count in sorted(failures.items())) or "-"),
    )
    limit = float(target.slo.api_p95_ms)
    rounds = [latencies]
    # Over the limit: measure once more and fail only if it is over again, so that a
    # neighbour's burst on a shared host does not fail a deploy (slow_db fails both rounds).
    if p95(latencies) >= limit:
        rounds.append(_read_round(client, path)[0])
    best = min(p95(samples) for samples in rounds)
    baseline.limit(
        "p95",
        best,
        below=limit,
        unit="ms",
        source="slo.api_p95_ms in prodval.yaml",
        note=f"the better of {len(rounds)} rounds of {READ_SAMPLES} reads of "
        "GET /documents/{id}: "
        + "; ".join(
            f"p95 {p95(samples):.0f} ms, median {statistics.median(samples):.0f} ms"
            for samples in rounds
        ),
    )
