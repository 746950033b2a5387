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
    shift = {"control_name": "tcp", "calibration": "shift"}
    base = {"windows": windows(3, 10.0), "control": windows(4, 0.4, 100), **shift}
    # The whole machine got 3 ms slower: the API's windows and the control alike.
    target = {"windows": windows(5, 13.0), "control": windows(6, 3.4, 100), **shift}
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
    assert verdict.evidence["ratio"] == pytest.approx(1.4, abs=0.02)
    for part in (
        "x slower than baseline (allowed 1.10x)",
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
    # A shift of 2 ms leaves 18 ms vs 10 ms.
    shift = judge(
        {**base, "calibration": "shift"}, {**target, "calibration": "shift"}, decision="interval"
    )
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


# --- "could detect": the smallest slowdown this run would catch 19 times in 20 --------------


def test_every_verdict_says_the_smallest_slowdown_it_could_have_detected() -> None:
    base, target = {"windows": windows(3, 10.0, 20, 0.1)}, {"windows": windows(5, 10.0, 20, 0.1)}
    interval = judge(base, target, decision="interval")
    estimate = judge(base, target, decision="estimate")
    for verdict in (interval, estimate):
        assert verdict.status is Status.PASSED, verdict.message
        detectable = verdict.evidence["detectable_ratio"]
        assert verdict.evidence["detectable"] == {"higher": detectable, "power": 0.95}
        pct = f"+{(detectable - 1) * 100:.3g}%"
        assert f"could detect ≥ {pct})" in verdict.message.splitlines()[0], verdict.message
        line = (
            f"  detects:  a slowdown of {pct} ({detectable:.2f}x) or more, in about 19 of 20 runs"
        )
        assert line in verdict.message, verdict.message
        assert "drift between runs is not in it" in verdict.message
    # Judging the whole interval pays for fewer false alarms with sensitivity: it detects less.
    assert 1.1 < estimate.evidence["detectable_ratio"] < interval.evidence["detectable_ratio"]
    # A failure says it too, below its headline (it did catch a change).
    failed = judge(base, {"windows": windows(5, 15.0, 20, 0.1)}, decision="interval")
    assert failed.status is Status.FAILED and "  detects:  a slowdown of +" in failed.message
    assert "could detect" not in failed.message.splitlines()[0]


@pytest.mark.parametrize("decision", ["interval", "estimate"])
def test_a_slowdown_as_large_as_the_printed_one_fails_about_19_times_in_20(decision: str) -> None:
    base = windows(3, 10.0, 20, 0.1)
    printed = judge({"windows": base}, {"windows": windows(4, 10.0, 20, 0.1)}, decision=decision)
    ratio = printed.evidence["detectable_ratio"]
    caught = [
        judge(
            {"windows": base},
            {"windows": windows(100 + i, 10.0 * ratio, 20, 0.1)},
            decision=decision,
        ).failed
        for i in range(20)
    ]
    assert sum(caught) >= 16, (ratio, caught)  # 19 expected; the printed figure is an estimate
    halfway = [
        judge(
            {"windows": base},
            {"windows": windows(100 + i, 10.0 * (1 + (ratio - 1) / 2), 20, 0.1)},
            decision=decision,
        ).failed
        for i in range(20)
    ]
    assert sum(halfway) < sum(caught), (ratio, halfway)


def test_each_harmful_direction_has_its_detectable_change() -> None:
    base, target = {"windows": windows(3, 10.0, 20, 0.1)}, {"windows": windows(5, 10.0, 20, 0.1)}
    lower = judge(base, target, direction="lower_is_worse", decision="interval")
    assert set(lower.evidence["detectable"]) == {"lower", "power"}
    assert lower.evidence["detectable_ratio"] < 0.9
    assert "  detects:  a drop of " in lower.message and "could detect ≤ -" in lower.message
    either = judge(base, target, direction="either", decision="interval")
    assert (
        either.evidence["detectable"]["higher"] > 1.1 > 0.9 > either.evidence["detectable"]["lower"]
    )
    assert "a slowdown of +" in either.message and ", or a drop of " in either.message


# --- the evidence carries what was judged ---------------------------------------------------


def test_the_evidence_holds_the_judged_windows_after_calibration_and_the_band() -> None:
    base = {"windows": windows(3, 10.0), "control": windows(4, 2.0, 100), "calibration": "ratio"}
    target = {"windows": windows(5, 20.0), "control": windows(6, 4.0, 100), "calibration": "ratio"}
    verdict = judge(base, target, decision="interval")
    judged, factor = verdict.evidence["judged"], verdict.evidence["calibration"]["factor"]
    assert judged["baseline"] == [float(f"{v:.6g}") for v in base["windows"]]
    assert judged["target"] == pytest.approx([v / factor for v in target["windows"]], rel=1e-5)
    assert all(v == float(f"{v:.6g}") for v in judged["target"])
    median = float(np.median(judged["baseline"]))
    assert verdict.evidence["tolerance_band"] == pytest.approx(
        {"reference": median, "from": median, "to": median * 1.1}, rel=1e-5
    )
    # Judged per request: no windows to repeat (the samples are in the baseline file).
    plain = judge({}, {})
    assert plain.evidence["judged"] is None and plain.evidence["tolerance_band"]["to"] > 0


# --- a control is used, or refused: never silently ignored ----------------------------------


def test_a_control_without_windows_is_refused_in_both_modes_naming_the_option() -> None:
    comparator = DistributionComparator()
    message = r"^control= calibrates time windows: pass windows= too \(see docs/statistics.md\)$"
    with pytest.raises(ValueError, match=message):
        comparator.record(KEY, [1.0] * 30, control=[0.4] * 30)
    entry, _ = comparator.record(KEY, windows(1, 10, 200, 0.3), unit="ms")
    with pytest.raises(ValueError, match=message):
        comparator.compare(KEY, entry, windows(2, 10, 200, 0.3), control=[0.4] * 30)


def test_a_control_or_windows_that_cannot_be_used_are_named_in_the_message() -> None:
    control = windows(4, 0.4, 100)
    no_control = judge(
        {"windows": windows(3, 10.0)}, {"windows": windows(5, 10.0), "control": control}
    )
    assert (
        "control:  none (the baseline entry has no control; record it again)" in no_control.message
    )
    missing = judge(
        {"windows": windows(3, 10.0), "control": control}, {"windows": windows(5, 10.0)}
    )
    assert "(the baseline entry has a 'control' control, this call none)" in missing.message
    other = judge(
        {"windows": windows(3, 10.0), "control": control, "control_name": "tcp"},
        {"windows": windows(5, 10.0), "control": control, "control_name": "web"},
    )
    assert "(the baseline entry's control is 'tcp', not 'web')" in other.message
    per_request = judge({}, {"windows": windows(5, 10.0)})
    assert per_request.evidence["windows"] is None
    assert (
        "  judged:   per request: the baseline entry has no time windows; record it again"
        in per_request.message
    )
    no_windows = judge({"windows": windows(3, 10.0)}, {})
    assert "  judged:   per request: the baseline entry has time windows, this call none" in (
        no_windows.message
    )
