"""Performance under load: SLOs from prodval.yaml, and each endpoint's latency distribution
against the baseline, judged on time windows and calibrated by a TCP-connect control.

The load is one Locust run per session (``load_run`` in conftest.py). Method and limits:
docs/performance.md and docs/statistics.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_prodval import (
    CONTROL,
    Baseline,
    Endpoint,
    LoadRun,
    TargetEnv,
    paired_windows,
    window_medians,
)

from .conftest import baseline_note

pytestmark = [pytest.mark.performance, pytest.mark.synthetic]

ENDPOINTS = ["GET /health", "GET /ready", "GET /documents/{id}", "GET /documents/{id}/result"]
# A typical request may get 15% slower than the baseline, once calibrated by the control,
# and only a change whose whole 99% interval is beyond that fails: a false alarm rolls back a
# good release (measured in benchmarks/gate_accuracy.py, docs/performance.md).
# ``params.latency_tolerance`` in prodval.yaml overrides it per environment.
TOLERANCE = 0.15
ALPHA = 0.01
# Beside a control deployment measured at the same time, shared drift cancels window by
# window, so the rule can be tighter: a typical request 10% slower than the control's, and
# significant (benchmarks/gate_accuracy.py, docs/performance.md).
PAIRED_TOLERANCE = 0.10


def _fail_if_stopped(run: LoadRun) -> None:
    if run.stopped_early:
        pytest.fail(run.stopped_early)


def _slo(key: str) -> str:
    return f"slo.{key} in prodval.yaml"


def test_the_api_p95_under_load_is_within_the_slo(
    load_run: LoadRun, target: TargetEnv, baseline: Baseline
) -> None:
    """Under the environment's load profile, the p95 of all API requests is below slo.api_p95_ms.

    Guards against: an API that is fast alone but slow under concurrent traffic.
    """
    latencies = load_run.samples.api_latencies(load_run.profile.warmup_s)
    if not latencies.size:
        pytest.fail("no successful API request under load")
    baseline.limit(
        "API p95 under load",
        float(np.quantile(latencies, 0.95)),
        below=target.slo.api_p95_ms,
        unit="ms",
        source=_slo("api_p95_ms"),
        note=f"{latencies.size} requests; {load_run.profile.describe()}",
    )


def test_the_error_ratio_under_load_is_below_the_slo(
    load_run: LoadRun, target: TargetEnv, baseline: Baseline
) -> None:
    """Under load, the share of failed API requests is below slo.error_ratio.

    Guards against: errors that appear only under concurrency (pool exhaustion, timeouts).
    """
    _fail_if_stopped(load_run)
    samples = load_run.samples
    by_endpoint = ", ".join(f"{e.name}: {e.failures}/{e.count}" for e in samples.api())
    baseline.limit(
        "failed requests under load",
        samples.error_ratio() * 100,
        below=target.slo.error_ratio * 100,
        unit="%",
        source=_slo("error_ratio"),
        note=f"{samples.failures()} of {samples.requests()} requests failed: {by_endpoint}",
    )


def test_the_throughput_under_load_reaches_the_minimum(
    load_run: LoadRun, target: TargetEnv, baseline: Baseline
) -> None:
    """Under load, the API serves at least slo.min_rps requests per second.

    Guards against: a release whose capacity dropped below what the environment needs.
    """
    _fail_if_stopped(load_run)
    baseline.limit(
        "throughput under load",
        load_run.samples.rps(load_run.profile.warmup_s),
        at_least=target.slo.min_rps,
        unit="req/s",
        source=_slo("min_rps"),
        note=load_run.profile.describe(),
    )


@pytest.mark.parametrize(
    ("probe", "slo_key"),
    [("database", "db_p95_ms"), ("parser", "external_ms"), ("embedder", "external_ms")],
)
def test_dependency_latency_seen_by_ready_under_load_is_within_its_slo(
    load_run: LoadRun, target: TargetEnv, baseline: Baseline, probe: str, slo_key: str
) -> None:
    """Under load, the database and external-service latency /ready reports stays within the SLO.

    Params: none; limits are slo.db_p95_ms and slo.external_ms.
    Guards against: a database or dependency that slows down only under concurrent traffic.
    """
    endpoint = load_run.samples.endpoints.get(f"probe: {probe}")
    if endpoint is None or endpoint.count == 0:
        pytest.skip(f"/ready reported no {probe} latency under load (not measurable here)")
    baseline.limit(
        f"{probe} p95 under load",
        endpoint.after(load_run.profile.warmup_s).p95(),
        below=float(getattr(target.slo, slo_key)),
        unit="ms",
        source=_slo(slo_key),
    )


@pytest.mark.parametrize("name", ENDPOINTS)
def test_endpoint_latency_under_load_is_not_slower_than_the_baseline(
    load_run: LoadRun,
    baseline: Baseline,
    target: TargetEnv,
    control_target: TargetEnv | None,
    params: dict[str, Any],
    name: str,
) -> None:
    """Each endpoint's latency under load is not slower than the known-good release's.

    Paired mode (``--control-env``): judged against the control deployment measured at the
    same time, window by window; fails when the target is significantly slower and the
    estimated ratio is beyond ``paired_tolerance``. Without a control deployment: against the
    recorded baseline, on per-second window medians calibrated by the ratio of TCP connect
    times to the API's port, failing only when the whole 99% interval of the calibrated ratio
    is beyond ``latency_tolerance`` (docs/performance.md).
    Params: ``latency_tolerance`` (optional, default 0.15), ``paired_tolerance`` (optional,
    default 0.10).
    Guards against: a release that made a route slower (the slow_api fault).
    """
    _fail_if_stopped(load_run)
    warmup = load_run.profile.warmup_s
    endpoint = load_run.samples.endpoints.get(name)
    if endpoint is None:
        pytest.fail(f"no {name} requests under load; the locustfile sends them")
    endpoint = endpoint.after(warmup)
    if control_target is not None:
        _judge_beside_the_control(load_run, baseline, control_target, params, name, endpoint)
        return
    # TCP connect time to the API's port is answered by the kernel, whatever the release. On a
    # shared machine every hop between processes gets slower or faster together, so a route
    # moves by the control's ratio; of the controls measured, this one tracked the machine
    # best (docs/performance.md, "Choosing the control").
    control = load_run.samples.endpoints.get(CONTROL)
    baseline.distribution(
        f"latency of {name}",
        [float(v) for v in endpoint.latencies()],
        unit="ms",
        tolerance=float(params.get("latency_tolerance", TOLERANCE)),
        alpha=ALPHA,
        decision="interval",
        min_samples=10,  # windows are the unit judged; a rarely called route has few requests
        windows=window_medians(endpoint),
        control=None if control is None else [float(v) for v in control.after(warmup).latencies()],
        control_name=CONTROL,
        calibration="ratio",
        note=baseline_note(baseline, target),
        attachments={"locust_report": load_run.html},
    )


def _judge_beside_the_control(
    load_run: LoadRun,
    baseline: Baseline,
    control_target: TargetEnv,
    params: dict[str, Any],
    name: str,
    endpoint: Endpoint,
) -> None:
    beside = load_run.samples.control_side.get(name)
    if beside is None:
        pytest.fail(f"no {name} requests to the control deployment {control_target.name}")
    windows = paired_windows(endpoint, beside.after(load_run.profile.warmup_s))
    baseline.paired(
        f"latency of {name}",
        windows.target,
        control=windows.control,
        control_name=control_target.name,
        unit="ms",
        tolerance=float(params.get("paired_tolerance", PAIRED_TOLERANCE)),
        alpha=ALPHA,
        times=windows.times,
        window_s=windows.window_s,
        note=f"{load_run.profile.describe()}, the same load on both at the same time",
        attachments={"locust_report": load_run.html},
    )
