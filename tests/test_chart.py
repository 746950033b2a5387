"""The latency charts: a distribution verdict's chart draws what was judged (the windows, the
target's calibrated, and the tolerance band); the paired chart draws both deployments' windows
over time and their ratio. Same data, same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_prodval.baseline.kinds.distribution import DistributionComparator
from pytest_prodval.baseline.verdict import Entry, Status, Verdict
from pytest_prodval.report.chart import (
    PairedPanel,
    Panel,
    distribution_panel,
    write_chart,
    write_paired_chart,
)

KEY = "tests/test_x.py::test_x::latency of GET /x"


def values(seed: int, centre: float, n: int, spread: float) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in centre * np.exp(rng.normal(0, spread, n))]


def machine_twice_as_slow() -> tuple[Verdict, list[float], list[float]]:
    """The issue's case: raw curves clearly apart (the whole machine 2x slower, the control
    too), and the calibrated windows that pass."""
    comparator = DistributionComparator()
    base_samples, target_samples = values(1, 10, 200, 0.3), values(2, 20, 200, 0.3)
    entry, _ = comparator.record(
        KEY,
        base_samples,
        unit="ms",
        windows=values(3, 10, 20, 0.05),
        control=values(4, 2, 100, 0.05),
        calibration="ratio",
    )
    stored: Entry = json.loads(json.dumps(entry))
    verdict = comparator.compare(
        KEY,
        stored,
        target_samples,
        unit="ms",
        windows=values(5, 20, 20, 0.05),
        control=values(6, 4, 100, 0.05),
        calibration="ratio",
        decision="interval",
    )
    return verdict, base_samples, target_samples


def test_a_windowed_verdict_is_drawn_from_its_calibrated_windows_and_band(tmp_path: Path) -> None:
    verdict, base_samples, target_samples = machine_twice_as_slow()
    assert verdict.status is Status.PASSED, verdict.message
    panel = distribution_panel("GET /x", verdict.evidence, "passed", (base_samples, target_samples))
    judged = verdict.evidence["judged"]
    assert list(panel.baseline) == judged["baseline"] and list(panel.target) == judged["target"]
    # What gave the verdict's ratio, not the raw samples twice as slow.
    assert np.median(panel.target) / np.median(panel.baseline) == pytest.approx(1.0, abs=0.06)
    band = verdict.evidence["tolerance_band"]
    assert panel.band == (band["from"], band["to"]) and band["to"] > band["from"]
    assert panel.labels[0] == "baseline windows"
    assert panel.labels[1].startswith("target windows ÷ 2") and panel.labels[1].endswith(
        "(control)"
    )
    assert panel.verdict.startswith(f"PASSED {verdict.evidence['ratio']:.2f}x (CI ")
    assert "could detect ≥ +" in panel.verdict
    svg = write_chart(tmp_path / "x.svg", [panel], title="GET /x").read_text()
    for text in ("baseline windows (n=20)", "target windows ÷ 2", "could detect", "allowed"):
        assert text in svg, text
    assert "share of time windows at most x" in svg


def test_a_verdict_without_windows_draws_the_samples(tmp_path: Path) -> None:
    comparator = DistributionComparator()
    entry, _ = comparator.record(KEY, values(1, 10, 60, 0.3), unit="ms")
    verdict = comparator.compare(KEY, entry, values(2, 10, 60, 0.3), unit="ms")
    panel = distribution_panel("GET /x", verdict.evidence, "passed", ([1.0, 2.0], [3.0]))
    assert (list(panel.baseline), list(panel.target)) == ([1.0, 2.0], [3.0])
    assert panel.labels == ("baseline", "target") and panel.band is not None


def test_the_chart_is_the_same_bytes_for_the_same_data(tmp_path: Path) -> None:
    panel = Panel("GET /x", [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "PASSED", band=(2.0, 2.2))
    first = write_chart(tmp_path / "a.svg", [panel], "t").read_bytes()
    assert write_chart(tmp_path / "b.svg", [panel], "t").read_bytes() == first


def paired(title: str, slower: float) -> PairedPanel:
    times = [float(t) for t in range(30)]
    control = values(7, 10, 30, 0.1)
    target = [v * slower * f for v, f in zip(control, values(8, 1, 30, 0.05), strict=True)]
    return PairedPanel(
        title,
        times_s=times,
        target=target,
        control=control,
        target_name="green",
        control_name="blue",
        tolerance=0.1,
        verdict=f"FAILED {slower:.2f}x (CI 1.30x to 1.45x)",
    )


def test_the_paired_chart_draws_both_sides_and_their_ratio(tmp_path: Path) -> None:
    path = write_paired_chart(tmp_path / "charts" / "p.svg", paired("GET /x", 1.4), "paired")
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in ("green", "blue", "green / blue", "allowed 1.10x", "FAILED 1.40x", "GET /x"):
        assert text in svg, text
    again = write_paired_chart(tmp_path / "again.svg", paired("GET /x", 1.4), "paired")
    assert again.read_bytes() == path.read_bytes()
    two = write_paired_chart(
        tmp_path / "two.svg", [paired("GET /x", 1.4), paired("GET /y", 1.0)], "paired"
    ).read_text()
    assert "GET /y" in two and "GET /x" in two


def test_a_paired_panel_with_sides_of_different_lengths_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^PairedPanel 'GET /x': times_s, target and control"):
        PairedPanel("GET /x", [0.0, 1.0], [1.0, 2.0], [1.0], "green", "blue", 0.1)


def test_the_plugin_draws_the_calibrated_windows_it_judged(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_latency="""
        import numpy as np

        def values(seed, centre, n, spread):
            rng = np.random.default_rng(seed)
            return [float(v) for v in centre * np.exp(rng.normal(0, spread, n))]

        def test_latency(baseline):
            slow = 1.0 if baseline.recording else 2.0  # the whole machine, not the release
            baseline.distribution(
                "latency of GET /x",
                values(1, 10 * slow, 200, 0.3),
                unit="ms",
                decision="interval",
                windows=values(2, 10 * slow, 20, 0.05),
                control=values(3, 2 * slow, 100, 0.05),
                control_name="tcp",
                calibration="ratio",
            )
        """
    )
    summary = project.path / "out" / "summary.json"
    project.runpytest(
        "--target-env=local", "--record-baseline", f"--prodval-summary={summary}"
    ).assert_outcomes(passed=1)
    project.runpytest("--target-env=local", f"--prodval-summary={summary}").assert_outcomes(
        passed=1
    )
    (comparison,) = json.loads(summary.read_text())["comparisons"]
    evidence = comparison["evidence"]
    assert len(evidence["judged"]["target"]) == 20 and evidence["detectable_ratio"] > 1.1
    svg = Path(evidence["chart"]).read_text()
    for text in ("baseline vs target (calibrated windows)", "target windows ÷ 2", "(tcp)"):
        assert text in svg, text
    assert "could detect" in comparison["message"]
