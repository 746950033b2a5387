"""Each comparator on its own: record, store as JSON, compare, and read the verdict."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_prodval.baseline.kinds.display import SHORT, fmt_num, fmt_pct, fmt_ratio
from pytest_prodval.baseline.kinds.distribution import DistributionComparator
from pytest_prodval.baseline.kinds.exact import ExactComparator
from pytest_prodval.baseline.kinds.limit import LimitJudge
from pytest_prodval.baseline.kinds.number import NumberComparator
from pytest_prodval.baseline.kinds.registry import COMPARATORS, JUDGES, comparator_for, judge_for
from pytest_prodval.baseline.kinds.shape import ShapeComparator, merge_shapes, shape_of
from pytest_prodval.baseline.verdict import Entry, Status, Verdict

KEY = "test_api.py::test_health::latency of GET /health"


def stored(entry: Entry) -> Entry:
    """The entry as the baseline file gives it back: through JSON text."""
    data: Entry = json.loads(json.dumps(entry, allow_nan=False))
    return data


def judge(comparator: Any, baseline: Any, target: Any, **options: Any) -> Verdict:
    entry, recorded = comparator.record(KEY, baseline, **options)
    assert recorded.status is Status.RECORDED
    verdict: Verdict = comparator.compare(KEY, stored(entry), target, **options)
    assert verdict.status in (Status.PASSED, Status.FAILED)
    for short in (verdict.baseline, verdict.target, verdict.change):
        assert len(short) <= SHORT
    json.dumps(verdict.to_json(), allow_nan=False)  # reports must be able to write it
    return verdict


def lognormal(seed: int, scale: float, n: int = 200, sigma: float = 0.3) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.lognormal(math.log(10 * scale), sigma, n)]


# --- registry ---------------------------------------------------------------------------


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert set(COMPARATORS) == {"exact", "number", "shape", "distribution"}
    for kind in COMPARATORS:
        assert comparator_for(kind).kind == kind
    # A limit and a paired comparison are judged without a baseline entry: not comparators.
    assert set(JUDGES) == {"limit", "paired"}
    for kind in JUDGES:
        judge = judge_for(kind)
        assert judge is JUDGES[kind]
        assert judge.kind == kind
    assert judge_for("number") is None


def test_an_unknown_kind_is_refused_with_the_known_kinds_listed() -> None:
    with pytest.raises(
        ValueError, match=r"'fuzzy'.*distribution, exact, limit, number, paired, shape"
    ):
        comparator_for("fuzzy")


@pytest.mark.parametrize(
    ("kind", "value"),
    [("exact", 1), ("number", 1.5), ("shape", {"a": 1}), ("distribution", [1.0] * 20)],
)
def test_an_entry_of_another_kind_is_refused(kind: str, value: Any) -> None:
    entry = {"kind": "other", "value": 1}
    with pytest.raises(ValueError, match=f"of kind 'other', not '{kind}'"):
        comparator_for(kind).compare(KEY, entry, value)


@pytest.mark.parametrize("kind", ["exact", "number", "shape", "distribution"])
def test_a_misspelt_option_is_refused_rather_than_ignored(kind: str) -> None:
    with pytest.raises(TypeError, match=r"unknown option.*tolerence"):
        comparator_for(kind).record(KEY, [1.0] * 20 if kind != "shape" else {}, tolerence=1)


# --- display ----------------------------------------------------------------------------


def test_numbers_are_shown_with_three_significant_digits_and_a_unit() -> None:
    assert fmt_num(12.345, "ms") == "12.3 ms"
    assert fmt_num(0.001234) == "0.00123"
    assert fmt_num(12345) == "12345"
    assert fmt_num(12345.6, "ms") == "12346 ms"
    assert fmt_num(5, "%") == "5%"
    assert fmt_pct(0.123) == "+12.3%"
    assert fmt_pct(-0.05) == "-5%"
    assert fmt_ratio(1.5234) == "1.52x"


# --- exact ------------------------------------------------------------------------------


def test_an_equal_json_value_passes_and_tuples_count_as_lists() -> None:
    value = {"status": 200, "tags": ("a", "b"), "ratio": 0.5, "ok": True, "none": None}
    verdict = judge(ExactComparator(), value, {**value, "tags": ["a", "b"]})
    assert verdict.status is Status.PASSED
    assert verdict.rule == "equal to baseline"


def test_the_exact_entry_keeps_the_plain_json_value() -> None:
    entry, _ = ExactComparator().record(KEY, {"t": (1, np.int64(2))})
    assert entry == {"kind": "exact", "value": {"t": [1, 2]}}


def test_an_exact_failure_lists_the_differing_paths() -> None:
    baseline = {"a": {"b": 1}, "items": [1, 2, 3, 4], "odd key": "x"}
    target = {"a": {"b": 2}, "items": [1, 2, 3], "odd key": "y", "new": True}
    verdict = judge(ExactComparator(), baseline, target)
    assert verdict.status is Status.FAILED
    assert verdict.change == "4 differences"
    lines = verdict.message.splitlines()
    assert lines[0] == f"{KEY}: differs from baseline (4 differences)"
    assert "$.a.b: 1 -> 2" in verdict.message
    assert "$.items[3]: missing" in verdict.message
    assert '$["odd key"]: "x" -> "y"' in verdict.message
    assert "$.new: unexpected true" in verdict.message
    assert verdict.baseline.startswith('{"a":{"b":1}')


def test_a_scalar_exact_failure_shows_baseline_and_target() -> None:
    verdict = judge(ExactComparator(), 200, 503)
    assert (verdict.baseline, verdict.target) == ("200", "503")
    assert "$: 200 -> 503" in verdict.message


def test_the_exact_difference_list_is_capped() -> None:
    verdict = judge(ExactComparator(), list(range(50)), [-1] * 50)
    assert "… and 40 more" in verdict.message
    assert len(verdict.message.splitlines()) == 4 + 10 + 1


def test_a_boolean_never_equals_a_number_but_1_equals_1_0() -> None:
    assert judge(ExactComparator(), 1, True).status is Status.FAILED
    assert judge(ExactComparator(), 1, 1.0).status is Status.PASSED


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ({1, 2}, TypeError, r"\$: set is not JSON-serializable"),
        ({"a": [object()]}, TypeError, r"\$\.a\[0\]: object is not JSON-serializable"),
        ({1: "x"}, TypeError, "keys must be str; got int"),
        ({"x": math.nan}, ValueError, r"\$\.x: nan has no JSON form"),
    ],
)
def test_a_value_without_a_json_form_is_refused(
    value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ExactComparator().record(KEY, value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(derandomize=True, database=None, max_examples=100)
@given(json_values)
def test_any_json_value_matches_itself_after_a_trip_through_the_file(value: Any) -> None:
    assert judge(ExactComparator(), value, value).status is Status.PASSED
    assert judge(ShapeComparator(), value, value).status is Status.PASSED


# --- number -----------------------------------------------------------------------------


def test_the_number_entry_keeps_the_value_and_unit() -> None:
    entry, verdict = NumberComparator().record(KEY, 120, unit="ms")
    assert entry == {"kind": "number", "value": 120, "unit": "ms"}
    assert verdict.baseline == "120 ms"


def test_without_a_tolerance_a_number_must_be_equal() -> None:
    assert judge(NumberComparator(), 0.3, 0.3).status is Status.PASSED
    verdict = judge(NumberComparator(), 10, 10.0001)
    assert verdict.status is Status.FAILED
    assert (verdict.baseline, verdict.target) == ("10", "10.0001")
    assert verdict.rule == "equal to baseline"


@pytest.mark.parametrize(
    ("target", "options", "status"),
    [
        (104, {"rel": 0.05}, Status.PASSED),
        (106, {"rel": 0.05}, Status.FAILED),
        (94, {"rel": 0.05}, Status.FAILED),
        (105, {"rel": 0.05}, Status.PASSED),  # exactly on the edge
        (108, {"rel": 0.05, "abs": 10}, Status.PASSED),  # the larger allowance wins
        (111, {"rel": 0.05, "abs": 10}, Status.FAILED),
        (112, {"rel": 0.15, "abs": 1}, Status.PASSED),
    ],
)
def test_a_number_passes_within_the_larger_of_its_tolerances(
    target: float, options: dict[str, Any], status: Status
) -> None:
    assert judge(NumberComparator(), 100, target, **options).status is status


def test_a_float_on_the_tolerance_edge_is_not_failed_by_round_off() -> None:
    assert judge(NumberComparator(), 0.3, 0.3 * 1.05, rel=0.05).status is Status.PASSED


@pytest.mark.parametrize(
    ("direction", "target", "status"),
    [
        ("higher_is_worse", 50, Status.PASSED),
        ("higher_is_worse", 120, Status.FAILED),
        ("lower_is_worse", 150, Status.PASSED),
        ("lower_is_worse", 80, Status.FAILED),
        ("either", 80, Status.FAILED),
        ("either", 120, Status.FAILED),
    ],
)
def test_a_change_in_the_harmless_direction_always_passes(
    direction: str, target: float, status: Status
) -> None:
    verdict = judge(NumberComparator(), 100, target, rel=0.1, direction=direction)
    assert verdict.status is status


def test_without_a_tolerance_only_the_harmful_direction_must_be_equal() -> None:
    verdict = judge(NumberComparator(), 100, 99, direction="higher_is_worse")
    assert verdict.status is Status.PASSED
    assert verdict.rule == "not above baseline"


def test_a_number_failure_shows_baseline_target_change_and_rule() -> None:
    verdict = judge(
        NumberComparator(), 120, 150, rel=0.05, abs=2, direction="higher_is_worse", unit="ms"
    )
    assert verdict.status is Status.FAILED
    assert (verdict.baseline, verdict.target, verdict.change) == ("120 ms", "150 ms", "+25%")
    assert verdict.rule == "within ±5% or ±2 ms, higher is worse"
    headline, *details = verdict.message.splitlines()
    assert headline == (
        f"{KEY}: 150 ms is 25% higher than baseline 120 ms "
        "(allowed: within ±5% or ±2 ms, higher is worse)"
    )
    assert "  change:   +25% (+30 ms)" in details
    assert "  allowed:  up to 6 ms higher" in details
    assert verdict.evidence["allowed_deviation"] == pytest.approx(6.0)


def test_a_change_from_a_zero_baseline_is_shown_in_absolute_units() -> None:
    verdict = judge(NumberComparator(), 0, 3, abs=1, unit="errors")
    assert verdict.change == "+3 errors"
    assert verdict.message.splitlines()[0].startswith(f"{KEY}: 3 errors is 3 errors higher")


@pytest.mark.parametrize(
    ("value", "options", "error", "match"),
    [
        (True, {}, TypeError, "value must be a real number; got bool"),
        ("12", {}, TypeError, "value must be a real number; got str"),
        (math.nan, {}, ValueError, "value must be finite"),
        (math.inf, {}, ValueError, "value must be finite"),
        (1.0, {"rel": -0.1}, ValueError, "rel must be >= 0"),
        (1.0, {"abs": "2"}, TypeError, "abs must be a real number"),
        (1.0, {"direction": "up"}, ValueError, "direction must be one of"),
        (1.0, {"unit": 5}, TypeError, "unit must be a str"),
    ],
)
def test_an_invalid_number_argument_is_refused(
    value: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        NumberComparator().record(KEY, value, **options)


def test_a_number_in_another_unit_than_its_baseline_is_refused() -> None:
    entry, _ = NumberComparator().record(KEY, 200, unit="ms")
    with pytest.raises(ValueError, match="unit 's' differs from the baseline's unit 'ms'"):
        NumberComparator().compare(KEY, entry, 0.2, unit="s")


# --- shape ------------------------------------------------------------------------------

BODY = {
    "id": 1,
    "name": "a",
    "score": 0.5,
    "meta": {"next": None, "total": 2},
    "items": [{"id": 1, "note": "x"}, {"id": 2}],
    "tags": [],
}


def test_the_shape_entry_is_readable_json_of_types() -> None:
    entry, _ = ShapeComparator().record(KEY, BODY)
    assert entry == {
        "kind": "shape",
        "shape": {
            "id": "integer",
            "name": "string",
            "score": "number",
            "meta": {"next": "null", "total": "integer"},
            "items": [{"id": "integer", "note?": "string"}],
            "tags": [],
        },
    }


def test_the_same_shape_with_other_values_passes() -> None:
    target = {**BODY, "id": 7, "name": "b", "items": [{"id": 3, "note": "y"}], "tags": [1, "x"]}
    verdict = judge(ShapeComparator(), BODY, target)
    assert verdict.status is Status.PASSED
    assert verdict.change == "same shape"


def test_every_shape_difference_is_listed_with_its_path() -> None:
    target = {
        "id": "1",
        "name": "a",
        "score": 1,  # an integer where the baseline says number is fine
        "meta": {"next": None, "extra": 1},
        "items": [{"id": 1.5}],
        "tags": {},
    }
    verdict = judge(ShapeComparator(), BODY, target)
    assert verdict.status is Status.FAILED
    lines = verdict.message.splitlines()
    assert lines[0] == f"{KEY}: shape differs from baseline (5 differences)"
    assert lines[1:6] == [
        "  $.id: expected integer, got string",
        "  $.meta.total: missing key",
        "  $.meta.extra: unexpected key",
        "  $.items[0].id: expected integer, got number",
        "  $.tags: expected array, got object",
    ]
    assert lines[6] == "  rule: same shape as baseline"


def test_extra_keys_pass_when_allowed() -> None:
    target = {**BODY, "added": {"x": 1}, "meta": {"next": None, "total": 2, "more": True}}
    assert judge(ShapeComparator(), BODY, target).status is Status.FAILED
    verdict = judge(ShapeComparator(), BODY, target, allow_extra=True)
    assert verdict.status is Status.PASSED
    assert verdict.rule == "same shape as baseline; extra keys allowed"


def test_optional_paths_may_be_absent_or_null_in_the_target() -> None:
    baseline = {"meta": {"next": "p2"}, "items": [{"id": 1, "note": "x"}]}
    target = {"meta": {"next": None}, "items": [{"id": 2}]}
    assert judge(ShapeComparator(), baseline, target).status is Status.FAILED
    verdict = judge(
        ShapeComparator(), baseline, target, optional=["$.meta.next", "$.items[0].note"]
    )
    assert verdict.status is Status.PASSED
    assert verdict.rule == "same shape as baseline; optional: $.items[].note, $.meta.next"


def test_an_optional_path_recorded_as_null_accepts_any_later_value() -> None:
    target = {**BODY, "meta": {"next": "p3", "total": 2}}
    assert judge(ShapeComparator(), BODY, target).status is Status.FAILED
    assert judge(ShapeComparator(), BODY, target, optional=["$.meta.next"]).status is (
        Status.PASSED
    )


def test_an_optional_path_is_marked_in_the_recorded_shape() -> None:
    entry, _ = ShapeComparator().record(KEY, {"a": 1, "b": [{"c": 2}]}, optional=["$.b[].c"])
    assert entry["shape"] == {"a": "integer", "b": [{"c?": "integer"}]}


def test_array_elements_merge_into_one_shape() -> None:
    assert shape_of([1, 2.5]) == ["number"]
    assert shape_of(["a", None]) == ["string|null"]
    assert shape_of([[1, 2], [], [3]]) == [["integer"]]
    assert shape_of([{"a": 1}, {"b": "x"}]) == [{"a?": "integer", "b?": "string"}]
    assert shape_of([{"a": {"b": 1}}, {"a": None}]) == [{"a?": {"b": "integer"}}]
    assert shape_of([1, {"a": 1}]) == ["any"]
    assert merge_shapes({"x?": "integer"}, {"x": "number"}) == {"x?": "number"}


def test_nested_array_differences_are_grouped_by_path() -> None:
    baseline = {"rows": [[{"id": 1}]]}
    target = {"rows": [[{"id": 1}, {"id": "2"}], [{"id": "3"}]]}
    verdict = judge(ShapeComparator(), baseline, target)
    assert verdict.message.splitlines()[1] == (
        "  $.rows[][].id: expected integer, got string (2 times, first at $.rows[0][1].id)"
    )


def test_a_long_list_of_shape_differences_is_capped() -> None:
    baseline = {f"k{i:02}": 1 for i in range(40)}
    verdict = judge(ShapeComparator(), baseline, {k: "s" for k in baseline})
    lines = verdict.message.splitlines()
    assert len(lines) == 1 + 15 + 1 + 1
    assert lines[16] == "  … and 25 more"
    assert verdict.evidence["difference_count"] == 40


def test_keys_ending_in_a_question_mark_survive_the_shape_encoding() -> None:
    value = {"ok?": True, "path\\": 1}
    entry, _ = ShapeComparator().record(KEY, value)
    assert entry["shape"] == {"ok?\\": "boolean", "path\\\\": "integer"}
    assert judge(ShapeComparator(), value, value).status is Status.PASSED
    assert judge(ShapeComparator(), value, {"path\\": 1}).status is Status.FAILED


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"optional": ["meta.next"]}, ValueError, "optional paths look like"),
        ({"optional": 3}, TypeError, "optional must be an iterable"),
        ({"allow_extra": "yes"}, TypeError, "allow_extra must be a bool"),
    ],
)
def test_an_invalid_shape_option_is_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ShapeComparator().record(KEY, BODY, **options)


# --- distribution -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_samples_from_the_same_distribution_pass(seed: int) -> None:
    baseline, target = lognormal(2 * seed, 1.0), lognormal(2 * seed + 1, 1.0)
    assert judge(DistributionComparator(), baseline, target).status is Status.PASSED


def test_a_one_and_a_half_times_slowdown_fails_with_the_evidence() -> None:
    verdict = judge(DistributionComparator(), lognormal(1, 1.0), lognormal(2, 1.5), unit="ms")
    assert verdict.status is Status.FAILED
    evidence = verdict.evidence
    assert evidence["ratio"] == pytest.approx(1.5, rel=0.1)
    assert evidence["ci_low"] < evidence["ratio"] < evidence["ci_high"]
    assert evidence["ci_low"] > 1.1
    assert evidence["p_value"] < 1e-6
    headline, *details = verdict.message.splitlines()
    assert headline == f"{KEY}: {fmt_ratio(evidence['ratio'])} slower than baseline (allowed 1.10x)"
    text = "\n".join(details)
    assert "baseline: median 10" in text
    assert "(n=200)" in text
    assert f"99% CI {fmt_ratio(evidence['ci_low'])} to {fmt_ratio(evidence['ci_high'])}" in text
    assert f"p-value:  {evidence['p_value']:.2g} < alpha 0.01" in text
    assert "tolerance 10%, higher is worse" in text
    assert verdict.change.startswith(fmt_ratio(evidence["ratio"]))


def test_distribution_evidence_holds_every_number() -> None:
    verdict = judge(DistributionComparator(), lognormal(1, 1.0), lognormal(2, 1.0))
    evidence = verdict.evidence
    for side in ("baseline", "target"):
        assert set(evidence[side]) == {"n", "median", "p50", "p90", "p95", "p99"}
        assert evidence[side]["n"] == 200
    for name in ("ratio", "ci_low", "ci_high", "p_value", "alpha", "tolerance", "method"):
        assert name in evidence
    assert evidence["method"] == "mann-whitney-u + hodges-lehmann (log-ratio)"


def test_a_small_but_significant_slowdown_within_tolerance_passes() -> None:
    verdict = judge(DistributionComparator(), lognormal(3, 1.0, n=5000), lognormal(4, 1.05, n=5000))
    assert verdict.evidence["p_value"] < 1e-6  # real, but smaller than the tolerance
    assert verdict.evidence["ratio"] == pytest.approx(1.05, rel=0.02)
    assert verdict.status is Status.PASSED


def test_a_speed_up_passes_when_higher_is_worse() -> None:
    verdict = judge(DistributionComparator(), lognormal(5, 1.0), lognormal(6, 0.6), unit="ms")
    assert verdict.status is Status.PASSED
    assert "faster than baseline" in verdict.message


@pytest.mark.parametrize(
    ("direction", "status"),
    [
        ("lower_is_worse", Status.FAILED),
        ("either", Status.FAILED),
        ("higher_is_worse", Status.PASSED),
    ],
)
def test_a_throughput_drop_fails_when_lower_is_worse(direction: str, status: Status) -> None:
    verdict = judge(
        DistributionComparator(), lognormal(7, 1.0), lognormal(8, 0.6), direction=direction
    )
    assert verdict.status is status


def test_too_few_samples_fail_with_a_reason() -> None:
    comparator = DistributionComparator()
    entry, _ = comparator.record(KEY, lognormal(9, 1.0, n=30))
    verdict = comparator.compare(KEY, stored(entry), lognormal(10, 1.0, n=12))
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        f"{KEY}: too few samples to judge: 12 target samples (min_samples is 20)"
    )


def test_recording_too_few_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="from 5 samples; min_samples is 20"):
        DistributionComparator().record(KEY, [1.0] * 5)


def test_the_stored_samples_are_rounded_and_thinned_keeping_quantiles() -> None:
    samples = lognormal(11, 1.0, n=12_000)
    entry, _ = DistributionComparator().record(KEY, samples, unit="ms")
    assert list(entry)[:5] == ["kind", "unit", "n", "median", "p95"]
    assert entry["n"] == 12_000
    assert len(entry["samples"]) == 5000
    assert entry["samples"] == sorted(entry["samples"])
    assert entry["samples"][0] == float(f"{min(samples):.6g}")
    assert entry["samples"][-1] == float(f"{max(samples):.6g}")
    assert all(v == float(f"{v:.6g}") for v in entry["samples"])
    assert np.quantile(entry["samples"], 0.95) == pytest.approx(entry["p95"], rel=1e-3)


def test_identical_constant_samples_pass() -> None:
    verdict = judge(DistributionComparator(), [5] * 30, [5.0] * 30)
    assert verdict.status is Status.PASSED
    assert verdict.evidence["p_value"] == 1.0


def test_samples_with_zeros_are_compared_by_their_shift() -> None:
    rng = np.random.default_rng(12)
    baseline = rng.normal(10, 3, 200).clip(0)
    target = rng.normal(15, 3, 200).clip(0)
    verdict = judge(DistributionComparator(), [0.0, *baseline], list(target))
    assert verdict.status is Status.FAILED
    assert verdict.evidence["method"] == "mann-whitney-u + hodges-lehmann (shift)"
    assert verdict.evidence["shift"] == pytest.approx(5, abs=1)
    assert "shift 5" in verdict.message


@pytest.mark.parametrize(
    ("samples", "options", "error", "match"),
    [
        ([1.0, math.nan] * 20, {}, ValueError, r"samples\[1\] is nan; samples must be finite"),
        ([1.0, "2"] * 20, {}, ValueError, r"samples\[1\] is str, not a number"),
        ([True] * 20, {}, ValueError, r"samples\[0\] is bool"),
        (np.ones((20, 2)), {}, ValueError, "must be a 1-D array"),
        (3.0, {}, TypeError, "must be a sequence of numbers; got float"),
        ([1.0] * 20, {"alpha": 0}, ValueError, "alpha must be between 0 and 1"),
        ([1.0] * 20, {"tolerance": -0.1}, ValueError, "tolerance must be >= 0"),
        ([1.0] * 20, {"min_samples": 1}, ValueError, "min_samples must be >= 2"),
        ([1.0] * 20, {"min_samples": 2.5}, TypeError, "min_samples must be an int"),
        ([1.0] * 20, {"direction": "slower"}, ValueError, "direction must be one of"),
    ],
)
def test_an_invalid_distribution_argument_is_refused(
    samples: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        DistributionComparator().record(KEY, samples, **options)


def test_a_numpy_array_of_samples_is_accepted() -> None:
    rng = np.random.default_rng(13)
    baseline = rng.lognormal(0, 0.3, 100)
    verdict = judge(DistributionComparator(), baseline, rng.lognormal(0, 0.3, 100))
    assert verdict.status is Status.PASSED


def test_a_huge_target_sample_is_judged_on_a_bounded_number_of_pairs() -> None:
    verdict = judge(
        DistributionComparator(), lognormal(14, 1.0, n=6000), lognormal(15, 1.0, n=200_000)
    )
    assert verdict.status is Status.PASSED
    assert verdict.evidence["target"]["n"] == 200_000
    assert verdict.evidence["ci_low"] < 1 < verdict.evidence["ci_high"]


# --- limit ------------------------------------------------------------------------------

SLO_KEY = "suites/test_api.py::test_latency::p95"


def limit(value: Any, **options: Any) -> Verdict:
    verdict = LimitJudge().judge(SLO_KEY, value, **options)
    assert verdict.status in (Status.PASSED, Status.FAILED)
    for short in (verdict.baseline, verdict.target, verdict.change):
        assert len(short) <= SHORT
    json.dumps(verdict.to_json(), allow_nan=False)
    return verdict


def test_a_breached_limit_says_what_differs_first_then_where_the_limit_comes_from() -> None:
    source = "slo.api_p95_ms in prodval.yaml"
    verdict = limit(212.4, at_most=200, unit="ms", source=source)
    assert verdict.status is Status.FAILED
    lines = verdict.message.splitlines()
    assert lines[0] == f"p95 212.4 ms is above the limit 200 ms ({source})"
    assert f"check:  {SLO_KEY}" in verdict.message
    assert (verdict.baseline, verdict.target, verdict.change) == (
        "≤ 200 ms",
        "212.4 ms",
        "12.4 ms over",
    )
    assert verdict.rule == f"at most 200 ms ({source})"
    evidence = verdict.evidence
    assert evidence["value"] == 212.4
    assert evidence["bound"] == 200
    assert evidence["bound_kind"] == "at_most"
    assert (evidence["unit"], evidence["source"]) == ("ms", source)
    assert evidence["margin"] == pytest.approx(-12.4)


def test_a_minimum_that_is_not_reached_is_below_the_limit() -> None:
    verdict = limit(3, at_least=14, unit="days", source="tls.min_days")
    assert verdict.message.splitlines()[0] == "p95 3 days is below the limit 14 days (tls.min_days)"
    assert verdict.evidence["value"] == 3 and isinstance(verdict.evidence["value"], int)
    assert verdict.change == "11 days under"


@pytest.mark.parametrize(
    ("value", "options", "status"),
    [
        (199.9, {"below": 200}, Status.PASSED),
        (200, {"below": 200}, Status.FAILED),  # strict: at the limit is not below it
        (200, {"at_most": 200}, Status.PASSED),
        (200.001, {"at_most": 200}, Status.FAILED),
        (0, {"above": 0}, Status.FAILED),
        (0.001, {"above": 0}, Status.PASSED),
        (14, {"at_least": 14}, Status.PASSED),
        (13.99, {"at_least": 14}, Status.FAILED),
        (5, {"above": 0, "below": 10}, Status.PASSED),
        (10, {"above": 0, "below": 10}, Status.FAILED),
        (-1, {"at_least": 0, "at_most": 1}, Status.FAILED),
        (7, {"at_least": 7, "at_most": 7}, Status.PASSED),
    ],
)
def test_each_bound_judges_its_edge_as_its_name_says(
    value: float, options: dict[str, float], status: Status
) -> None:
    assert limit(value, **options).status is status


def test_a_value_at_a_strict_limit_says_so() -> None:
    verdict = limit(200, below=200, unit="ms")
    assert verdict.message.splitlines()[0] == "p95 200 ms is at the limit, which it must be below"
    assert verdict.change == "at the limit"


def test_of_two_bounds_the_breached_one_is_reported() -> None:
    verdict = limit(12, at_least=1, below=10)
    assert verdict.evidence["bound_kind"] == "below"
    assert verdict.evidence["bounds"] == {"at_least": 1, "below": 10}
    assert verdict.rule == "at least 1 and below 10"
    assert verdict.baseline == "≥ 1, < 10"


def test_a_passing_limit_shows_the_room_to_spare() -> None:
    verdict = limit(150, below=200, unit="ms")
    assert verdict.status is Status.PASSED
    assert verdict.change == "50 ms to spare"
    assert verdict.message == f"{SLO_KEY}: 150 ms is below 200 ms (50 ms to spare)"


def test_values_that_differ_never_read_the_same() -> None:
    verdict = limit(0.1 + 0.2, at_most=0.3)
    assert verdict.status is Status.FAILED
    assert verdict.target != verdict.baseline.removeprefix("≤ ")
    assert "0.30000000000000004 is above the limit 0.3" in verdict.message


@pytest.mark.parametrize(
    ("value", "options", "error", "match"),
    [
        (1, {}, TypeError, "a limit needs a bound"),
        (1, {"below": 2, "at_most": 2}, TypeError, "one upper bound; got below and at_most"),
        (1, {"above": 0, "at_least": 0}, TypeError, "one lower bound; got above and at_least"),
        (1, {"at_least": 5, "at_most": 4}, ValueError, "leave no value that passes"),
        (1, {"above": 4, "below": 4}, ValueError, "leave no value that passes"),
        (True, {"below": 2}, TypeError, "value must be a real number; got bool"),
        (1, {"below": True}, TypeError, "below must be a real number; got bool"),
        (math.nan, {"below": 2}, ValueError, "value must be finite"),
        (1, {"at_most": math.inf}, ValueError, "at_most must be finite"),
        ("1", {"below": 2}, TypeError, "value must be a real number; got str"),
        (1, {"below": 2, "source": 3}, TypeError, "source must be a str"),
        (1, {"below": 2, "unit": None}, TypeError, "unit must be a str"),
        (1, {"belw": 2}, TypeError, r"unknown option\(s\) for a limit baseline: belw"),
    ],
)
def test_bad_limit_arguments_are_refused_in_one_line(
    value: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as raised:
        LimitJudge().judge(SLO_KEY, value, **options)
    assert "\n" not in str(raised.value)


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(derandomize=True, database=None, max_examples=200)
@given(finite, finite, st.sampled_from(["below", "at_most", "above", "at_least"]))
def test_a_limit_passes_exactly_when_the_value_is_within_its_bound(
    value: float, bound: float, kind: str
) -> None:
    inside = {
        "below": value < bound,
        "at_most": value <= bound,
        "above": value > bound,
        "at_least": value >= bound,
    }[kind]
    verdict = limit(value, **{kind: bound})
    assert (verdict.status is Status.PASSED) == inside


def test_a_failure_leads_with_the_comparison_name_and_its_first_difference_the_key_last() -> None:
    exact = judge(ExactComparator(), {"a": 1, "b": 2}, {"a": 2, "b": 3})
    shape = judge(ShapeComparator(), {"id": 1}, {"id": "1"})
    single = judge(ExactComparator(), "DENY", "SAMEORIGIN")
    assert exact.failure_text("x-frame").splitlines()[0] == (
        "x-frame: $.a: 1 -> 2, … — differs from baseline (2 differences)"
    )
    assert single.failure_text("x-frame").splitlines()[0] == (
        'x-frame: "DENY" -> "SAMEORIGIN" — differs from baseline (1 difference)'
    )
    lines = shape.failure_text("body").splitlines()
    assert (
        lines[0]
        == "body: $.id: expected integer, got string — shape differs from baseline (1 difference)"
    )
    assert lines[-1] == f"  key: {KEY}"
    assert "  $.id: expected integer, got string" in lines[1:]  # the details stay below
    missing = Verdict(
        key=KEY,
        kind="exact",
        status=Status.MISSING,
        rule="",
        baseline="",
        target="",
        change="",
        message=f"no baseline entry {KEY!r}",
    )
    assert missing.failure_text("x") == missing.message
