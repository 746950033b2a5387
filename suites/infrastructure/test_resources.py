"""Resources of the API host (CPU, memory, disk) from the API's /metrics, and storage readiness.

CPU readings are momentary ("since the previous scrape"), so one scrape is a coin toss: the CPU
checks scrape every half second and judge the median of the last four windows, failing only when
it stays above the limit for several seconds -- sustained saturation, which is what an operator
acts on, not a spike. Host CPU is judged on protected environments only, where the host runs
the platform alone; on a shared development host it mostly measures the neighbours, so there
the API process's own CPU is what is judged (on every environment).
"""

from __future__ import annotations

import statistics
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_prodval import Baseline, TargetEnv

pytestmark = [pytest.mark.infrastructure]

# CPU windows of CPU_WINDOW_S each: a CPU check passes once the median of the last CPU_WINDOWS
# windows is under the limit, and fails only if that never happens within CPU_DEADLINE_S.
CPU_WINDOWS = 4
CPU_WINDOW_S = 0.5
CPU_DEADLINE_S = 8.0
HOST_CPU = "docpipe_host_cpu_percent"
PROCESS_CPU = "docpipe_process_cpu_percent"  # percent of one core
GAUGES = {
    "memory": ("docpipe_host_memory_percent", "memory_percent"),
    "disk": ("docpipe_host_disk_percent", "disk_percent"),
}


def _scrape(api: httpx.Client) -> dict[str, float]:
    response = api.get("/metrics")
    assert response.status_code == 200, (
        f"GET /metrics answered {response.status_code} (expected 200): {response.text[:200]}"
    )
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = float(sample.value)
    return values


@pytest.fixture(scope="module")
def cpu_windows(api: httpx.Client, target: TargetEnv) -> dict[str, list[float]]:
    """Host and API process CPU per window, sampled until the judged gauges look settled."""
    limit = float(target.slo.cpu_percent)
    judged = [PROCESS_CPU, HOST_CPU] if target.protected else [PROCESS_CPU]
    windows: dict[str, list[float]] = {HOST_CPU: [], PROCESS_CPU: []}
    deadline = time.monotonic() + CPU_DEADLINE_S
    _scrape(api)  # starts the first window: its own values cover an unknown past interval
    while True:
        time.sleep(CPU_WINDOW_S)
        values = _scrape(api)
        for name, samples in windows.items():
            if name in values:
                samples.append(values[name])
        settled = all(
            len(windows[name]) >= CPU_WINDOWS
            and statistics.median(windows[name][-CPU_WINDOWS:]) <= limit
            for name in judged
        )
        enough = len(windows[HOST_CPU]) >= CPU_WINDOWS
        if (settled and enough) or time.monotonic() > deadline:
            return windows


def _cpu_story(windows: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{name} per {CPU_WINDOW_S:g} s window: {', '.join(f'{v:.0f}' for v in samples) or '-'}"
        for name, samples in windows.items()
    )


@pytest.mark.parametrize("gauge", [PROCESS_CPU, HOST_CPU])
def test_cpu_use_does_not_stay_above_the_slo(
    gauge: str, cpu_windows: dict[str, list[float]], target: TargetEnv, baseline: Baseline
) -> None:
    """The API process's CPU (and, on protected environments, the host's) gets under the SLO.

    Guards against: CPU that stays saturated -- a hot loop shipped with the release (the API
    process, % of one core), a runaway process or an undersized host (host CPU, judged where
    the host is dedicated); brief spikes pass.
    """
    if gauge == HOST_CPU and not target.protected:
        pytest.skip(
            f"environment {target.name!r} is not protected: its host may be shared, so host "
            "CPU measures the neighbours; the API process's own CPU is judged instead"
        )
    samples = cpu_windows[gauge]
    assert samples, f"GET /metrics has no {gauge} gauge"
    recent = samples[-CPU_WINDOWS:]
    observed = statistics.median(recent)
    limit = float(target.slo.cpu_percent)
    baseline.limit(
        f"median of the last {CPU_WINDOWS} windows",
        observed,
        at_most=limit,
        unit="%",
        source="slo.cpu_percent in prodval.yaml",
        note=f"sampled for {len(samples) * CPU_WINDOW_S:g} s; {_cpu_story(cpu_windows)}",
    )


@pytest.mark.parametrize("resource", ["memory", "disk"])
def test_host_resource_use_is_within_the_slo(
    resource: str, api: httpx.Client, target: TargetEnv, baseline: Baseline
) -> None:
    """The API host's memory use and its storage disk's use stay under their SLOs.

    Guards against: a host running out of memory (leaks, an undersized host) or disk (the
    storage directory's volume filling up).
    """
    metric, slo_key = GAUGES[resource]
    values = _scrape(api)
    assert metric in values, f"GET /metrics has no {metric} gauge"
    limit = float(getattr(target.slo, slo_key))
    baseline.limit(
        metric, values[metric], at_most=limit, unit="%", source=f"slo.{slo_key} in prodval.yaml"
    )


def test_storage_is_ready(api: httpx.Client) -> None:
    """The API reports its document storage ready (GET /ready, storage component).

    Guards against: an unmounted, read-only or unreachable storage volume after a deploy.
    """
    response = api.get("/ready")
    try:
        storage = response.json().get("components", {}).get("storage")
    except ValueError:
        storage = None
    assert isinstance(storage, dict), (
        f"GET /ready answered {response.status_code} without a storage component: "
        f"{response.text[:200]}"
    )
    assert storage.get("ok") is True, (
        f"storage not ready (GET /ready answered {response.status_code}): "
        f"{storage.get('error', 'ok is false')}"
    )
