"""The performance suite as an operator runs it: record on a clean docpipe, compare clean (pass),
then deploy ``slow_api`` and see the latency comparison fail with the whole story.

Short loads (15 s) keep it near 90 s; the effect size is generous (``slow_api=4``: every
route about 5x slower, as the client sees it) so that a busy machine cannot hide it. The fine
figures (+25%, 20 A/A repetitions) are ``benchmarks/gate_accuracy.py``'s job, not a test's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docpipe.control import run_docpipe

from pytest_prodval import CONTROL

from .suite_runner import deploy, run_suites

# One deployment, steps in order; and latency is judged, so nothing else may run meanwhile.
pytestmark = [pytest.mark.xdist_group("performance-suite"), pytest.mark.alone]

LOAD = {
    "users": 4,
    "spawn_rate": 20,
    "duration_s": 15,
    "max_rps": 30,
    "upload_every_s": 4,
    "warmup_s": 2,
}
# The clean comparison must never fail on a busy machine: allow a typical request 30% slower;
# slow_api=4 makes every route about 5x slower as the client sees it (benchmarks/slow_api.py).
# The fault burns CPU, which slows the TCP control too on a machine with a hog, and the
# calibration divides that part away: slow_api=2 (3x) came out at 1.5x, inside the interval
# rule's reach of a 15 s run (seen once in CI). How often the rule errs: the benchmark.
LATENCY_TOLERANCE = 0.3
RELAXED_SLO = {"api_p95_ms": 5000, "db_p95_ms": 5000, "external_ms": 5000, "error_ratio": 0.05}
FAULT = "slow_api=4"
SUITE_TIMEOUT_S = 120


class Platform:
    def __init__(self, home: Path, config: Path, work: Path) -> None:
        self.home, self.config, self.work = home, config, work
        self.baseline = work / "baseline.json"

    def deploy(self, *faults: str) -> None:
        deploy(self.home, *faults)

    def suite(self, label: str, *extra: str) -> tuple[int, str, dict[str, object]]:
        summary = self.work / label / "summary.json"
        result = run_suites(
            "suites/performance",
            "-m",
            "performance",
            config=self.config,
            baseline=self.baseline,
            summary=summary,
            extra=extra,
            timeout=SUITE_TIMEOUT_S,
        )
        assert summary.exists(), result.stdout[-3000:] + result.stderr[-3000:]
        return result.returncode, result.stdout, json.loads(summary.read_text())


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("performance-suite")
    home = work / "home"
    result = run_docpipe(home, "up", "--ports", "auto")
    assert result.returncode == 0, result.stderr
    try:
        generated = run_docpipe(home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        config = yaml.safe_load(generated.stdout)
        # docpipe's config names the control (the embedder stand-in's /health); keep it.
        local = config["environments"]["local"]
        local["load"] = LOAD | {"control_url": local["load"]["control_url"]}
        # The absolute SLOs are not what this test is about; a busy machine must not fail them.
        config["environments"]["local"]["slo"] = RELAXED_SLO
        config["environments"]["local"]["params"]["latency_tolerance"] = LATENCY_TOLERANCE
        (work / "prodval.yaml").write_text(yaml.safe_dump(config))
        yield Platform(home, work / "prodval.yaml", work)
    finally:
        run_docpipe(home, "down")


def latency_comparisons(summary: dict[str, object]) -> list[dict[str, Any]]:
    comparisons = summary["comparisons"]
    assert isinstance(comparisons, list)
    return [c for c in comparisons if c["kind"] == "distribution"]


def test_recording_then_comparing_the_clean_platform_passes(platform: Platform) -> None:
    code, output, summary = platform.suite("record", "--record-baseline")
    assert code == 0, output[-3000:]
    assert len(latency_comparisons(summary)) == 4
    code, output, summary = platform.suite("clean")
    assert code == 0, output[-4000:]
    compared = latency_comparisons(summary)
    assert {c["status"] for c in compared} == {"passed"}
    for comparison in compared:
        evidence = comparison["evidence"]
        assert Path(evidence["chart"]).read_text().lstrip().startswith("<?xml")
        assert Path(evidence["locust_report"]).name == "load.html"
        assert evidence["calibration"]["name"] == CONTROL  # TCP connect time
        assert evidence["calibration"]["mode"] == "ratio"
    assert (platform.work / "clean" / "load" / "load.html").exists()
    assert "prodval load" in output  # live progress lines


def test_slow_api_fails_the_latency_comparison_with_baseline_target_p_value_interval_and_ratio(
    platform: Platform,
) -> None:
    platform.deploy(FAULT)
    try:
        code, output, summary = platform.suite("slow_api")
    finally:
        platform.deploy()
    assert code == 1, output[-3000:]
    failed = [c for c in latency_comparisons(summary) if c["status"] == "failed"]
    assert failed, output[-3000:]
    message = str(failed[0]["message"])
    for part in (
        "slower than baseline",
        "baseline: median",
        "target:   median",
        "p-value:",
        "CI",
        "ratio:",
        f"control:  {CONTROL} median",
        "the same environment's",
    ):
        assert part in message, message
    assert "test_endpoint_latency_under_load_is_not_slower_than_the_baseline" in output
