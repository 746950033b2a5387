"""``baseline.distribution`` for samples under load: time windows, a control, the interval rule."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from pytest_prodval.baseline.kinds.distribution import DistributionComparator
from pytest_prodval.baseline.verdict import Entry, Status, Verdict
from pytest_prodval.load.samples import Endpoint, window_medians

KEY = "suites/performance/test_load.py::test_endpoint::latency of GET /x"


def windows(seed: int, centre: float, n: int = 20, spread: float = 0.03) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in centre * np.exp(rng.normal(0, spread, n))]


def judge(base: dict[str, Any], target: dict[str, Any], **rule: Any) -> Verdict:
    comparator = DistributionComparator()
    entry, _ = comparator.record(KEY, windows(1, 10, 200, 0.3), unit="ms", **base, **rule)
    stored: Entry = json.loads(json.dumps(entry))
    return comparator.compare(KEY, stored, windows(2, 10, 200, 0.3), unit="ms", **target, **rule)


def test_a_shift_that_the_control_also_shows_is_calibrated_away() -> None:
    base = {"windows": windows(3, 10.0), "control": windows(4, 0.4, 100), "control_name": "tcp"}
    # The whole machine got 3 ms slower: the API's windows and the control alike.
    target = {"windows": windows(5, 13.0), "control": windows(6, 3.4, 100), "control_name": "tcp"}
    verdict = judge(base, target, decision="interval")
    assert verdict.status is Status.PASSED, verdict.message
    assert "control:  tcp median 0.39" in verdict.message, verdict.message
    assert verdict.evidence["calibration"]["shift"] == pytest.approx(3.0, abs=0.05)
    uncalibrated = judge({"windows": base["windows"]}, {"windows": target["windows"]})
    assert uncalibrated.status is Status.FAILED
    assert "control:  none" in uncalibrated.message


def test_a_slowdown_the_control_does_not_show_fails_with_the_whole_story() -> None:
    base = {"windows": windows(3, 10.0), "control": windows(4, 0.4, 100)}
    target = {"windows": windows(5, 14.0), "control": windows(6, 0.4, 100)}
    verdict = judge(base, target, decision="interval", note="the same environment's last run")
    assert verdict.status is Status.FAILED
    for part in (
        "1.40x slower than baseline",
        "judged:   on 20 and 20 time-window medians",
        "ratio:",
        "CI",
        "p-value:",
        "whole CI is above 1.10x",
        "compared: the same environment's last run",
    ):
        assert part in verdict.message, verdict.message


def test_the_interval_rule_passes_an_estimate_beyond_the_tolerance_whose_interval_is_not() -> None:
    base = {"windows": windows(7, 10.0, 8, 0.15)}
    target = {"windows": windows(8, 13.5, 8, 0.15)}
    estimate = judge(base, target, decision="estimate", alpha=0.05)
    interval = judge(base, target, decision="interval", alpha=0.05)
    assert estimate.evidence["ratio"] > 1.1 and estimate.evidence["ci_low"] < 1.1
    assert estimate.status is Status.FAILED
    assert interval.status is Status.PASSED


def test_too_few_windows_fail_rather_than_pass_vacuously() -> None:
    verdict = judge({"windows": windows(1, 10.0)}, {"windows": windows(2, 10.0, 3)})
    assert verdict.status is Status.FAILED
    assert "too few time windows to judge: 3 target time windows" in verdict.message


def test_recording_keeps_the_windows_and_a_thinned_control() -> None:
    entry, _ = DistributionComparator().record(
        KEY, [1.0] * 30, windows=[1.0] * 6, control=list(range(1, 5001)), control_name="tcp"
    )
    assert entry["windows"] == [1.0] * 6 and entry["control_name"] == "tcp"
    assert len(entry["control"]) == 2000 and entry["control"][-1] == 5000
    with pytest.raises(ValueError, match="from 4 time windows; need 5"):
        DistributionComparator().record(KEY, [1.0] * 30, windows=[1.0] * 4)


def test_an_unknown_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="decision must be one of estimate, interval"):
        DistributionComparator().record(KEY, [1.0] * 30, decision="median")


def test_window_medians_are_per_second_medians_of_successful_requests_in_time_order() -> None:
    t = np.array([0.1, 0.2, 0.3, 0.4, 1.1, 1.2, 1.3, 1.4, 5.5], dtype=np.float64)
    ms = np.array([1, 2, 3, 100, 10, 20, 30, 40, 5], dtype=np.float64)
    ok = np.array([True, True, True, False, True, True, True, True, True])
    endpoint = Endpoint("GET /x", "GET", t, ms, ok)
    # The failed 100 ms request is left out; the last window has one request: too few.
    # (Windows of 1 s: min_window_s, and the 5.4 s span still gives 5 windows.)
    assert window_medians(endpoint, min_window_s=1.0, per_window=1) == [2.0, 25.0]


def test_a_static_control_calibrates_by_its_ratio() -> None:
    # The CPU got twice as busy: the API's windows and a static endpoint on the same host
    # both take twice as long.
    base = {"windows": windows(3, 10.0), "control": windows(4, 2.0, 100)}
    target = {"windows": windows(5, 20.0), "control": windows(6, 4.0, 100)}
    ratio = judge(
        {**base, "calibration": "ratio"}, {**target, "calibration": "ratio"}, decision="interval"
    )
    assert ratio.status is Status.PASSED, ratio.message
    assert "are divided by its ratio 2" in ratio.message
    assert ratio.evidence["calibration"]["mode"] == "ratio"
    shift = judge(base, target, decision="interval")  # a shift of 2 ms leaves 18 ms vs 10 ms
    assert shift.status is Status.FAILED


def test_controls_of_different_kinds_are_not_compared() -> None:
    base = {"windows": windows(3, 10.0), "control": windows(4, 0.4, 100), "control_name": "tcp"}
    target = {"windows": windows(5, 10.0), "control": windows(6, 3.0, 100), "control_name": "web"}
    verdict = judge(base, target, decision="interval")
    assert verdict.evidence["calibration"] is None
    assert "control:  none" in verdict.message


def test_a_route_too_uneven_for_time_windows_is_cut_into_blocks_of_consecutive_requests() -> None:
    # Nine requests in the first second, one at 10 s: time windows would give one window.
    t = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 10.0], dtype=np.float64)
    ms = np.arange(1, 11, dtype=np.float64)
    endpoint = Endpoint("GET /ready", "GET", t, ms, np.ones(10, dtype=np.bool_))
    assert window_medians(endpoint) == [1.5, 3.5, 5.5, 7.5, 9.5]
