"""Paired mode: the target judged beside a control deployment measured at the same time.

The judge (``baseline.paired``) on windows whose drift both sides share, the paired windows cut
from a load run's samples, ``--control-env`` as a user passes it, and the gate handing it on.
The whole suite against two real docpipe deployments is in tests/test_blue_green.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from pytest_prodval import Status, Verdict
from pytest_prodval.baseline.kinds.paired import PairedJudge
from pytest_prodval.errors import GateUsageError
from pytest_prodval.gate.arguments import parse
from pytest_prodval.load.samples import LoadSamples, paired_windows

from .conftest import INI
from .fake_servers import raw_server
from .gate_harness import FakeTarget, Project, gate_args, run_gate

KEY = "suites/performance/test_load.py::test_endpoint::latency of GET /x"


def sides(seed: int, factor: float, n: int = 25) -> tuple[list[float], list[float]]:
    """Window medians of target and control: a machine drifting 2-3x in steps (shared by both
    sides), each side's own window noise (0.13 in log terms), the target ``factor`` slower."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(np.exp(rng.normal(0, 0.4, 5)), math.ceil(n / 5))[:n]
    control = 10 * drift * np.exp(rng.normal(0, 0.13, n))
    target = factor * 10 * drift * np.exp(rng.normal(0, 0.13, n))
    return [float(v) for v in target], [float(v) for v in control]


def judge(target: list[float], control: list[float], **options: object) -> Verdict:
    return PairedJudge().judge(
        KEY, target, control=control, control_name="blue", target_name="green", unit="ms", **options
    )


def test_drift_both_sides_share_cancels_and_a_real_slowdown_fails_naming_the_control() -> None:
    target, control = sides(1, 1.0)
    same = judge(target, control)
    assert same.status is Status.PASSED, same.message
    # The drift alone spreads the windows 2-3x; an unpaired comparison would see it.
    assert max(control) / min(control) > 2
    slow_target, slow_control = sides(1, 1.5)
    slow = judge(slow_target, slow_control)
    assert slow.status is Status.FAILED
    headline = slow.message.splitlines()[0]
    assert headline.startswith(f"{KEY}: 1.")
    assert "slower than the control deployment blue (allowed 1.10x, 25 paired windows)" in headline
    evidence = slow.evidence
    assert evidence["control_name"] == "blue" and evidence["target_name"] == "green"
    assert evidence["ci_low"] < evidence["ratio"] < evidence["ci_high"]
    assert evidence["ratio"] == pytest.approx(1.5, rel=0.1)
    assert evidence["p_value"] < 1e-4
    assert len(evidence["judged"]["target"]) == 25
    assert "Wilcoxon signed-rank, one-sided, green higher" in slow.message


def test_the_rule_false_alarms_rarely_and_catches_a_quarter_slower() -> None:
    """On simulated windows as noisy as this hardware's (0.19 between adjacent windows)."""
    alarms = detections = 0
    for seed in range(100):
        target, control = sides(seed, 1.0)
        alarms += judge(target, control).failed
        slow_target, slow_control = sides(seed, 1.25)
        detections += judge(slow_target, slow_control).failed
    assert alarms <= 2
    assert detections >= 95


def test_each_verdict_says_the_smallest_change_it_would_have_caught() -> None:
    target, control = sides(3, 1.0)
    verdict = judge(target, control)
    slower = verdict.evidence["detectable_ratio"]
    assert 1.10 <= slower < 1.5
    assert verdict.evidence["detectable"]["higher"] == slower
    assert f"detects:  a slowdown of +{(slower - 1) * 100:.3g}%" in verdict.message
    assert "in about 19 of 20 runs" in verdict.message
    # What it prints holds: that slowdown (and not much less) is caught about 19 times in 20.
    caught = sum(judge(*sides(seed, slower)).failed for seed in range(40, 80))
    assert caught >= 34
    interval = judge(target, control, decision="interval")
    assert interval.evidence["detectable_ratio"] > slower


def test_too_few_windows_fail_and_bad_input_is_one_line() -> None:
    target, control = sides(4, 1.0, n=6)
    few = judge(target, control)
    assert few.status is Status.FAILED
    assert "too few paired windows to judge: 6 (min_pairs is 10)" in few.message
    with pytest.raises(ValueError, match="come in pairs: 6 target and 5 control windows"):
        judge(target, control[:5])
    with pytest.raises(TypeError, match="paired needs control_name="):
        PairedJudge().judge(KEY, target, control=control)
    with pytest.raises(ValueError, match="min_pairs must be >= 8"):
        judge(target, control, min_pairs=3)
    with pytest.raises(TypeError, match="unknown option"):
        judge(target, control, tolerence=0.2)


def test_equal_sides_are_not_significant() -> None:
    values = [5.0] * 12
    verdict = judge(values, values)
    assert verdict.status is Status.PASSED
    assert verdict.evidence["p_value"] == 1.0
    assert verdict.evidence["ratio"] == 1.0


def write_samples(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_samples_are_read_per_side_and_cut_into_the_same_windows(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = []
    for second in range(12):
        for k in range(4):
            t = 1000 + second + k * 0.2
            rows.append({"t": t, "type": "GET", "name": "GET /x", "ms": 10 + k, "ok": True})
            rows.append(
                {"t": t + 0.01, "type": "GET", "name": "GET /x", "ms": 20 + k, "ok": True}
                | {"side": "control"}
            )
    # Second 5 has no successful control request: that window has no pair and is left out.
    rows = [r for r in rows if not (r.get("side") and 1005 <= float(r["t"]) < 1006)]  # type: ignore[arg-type]
    rows.append({"created": "doc-1"})
    rows.append({"created": "doc-2", "side": "control"})
    samples = LoadSamples.read(write_samples(tmp_path / "s.jsonl", rows))
    assert samples.created == ["doc-1"] and samples.control_created == ["doc-2"]
    target, control = samples.endpoints["GET /x"], samples.control_side["GET /x"]
    assert target.count == 48 and control.count == 44
    windows = paired_windows(target, control, window_s=1.0)
    assert len(windows) == 11 and 5.0 not in windows.times
    assert set(windows.target) == {11.5} and set(windows.control) == {21.5}
    with pytest.raises(ValueError, match="window_s must be > 0"):
        paired_windows(target, control, window_s=0)
    # Automatic windows: shorter than a second when the run is too short for 15 of them.
    auto = paired_windows(target, control)
    assert auto.window_s == pytest.approx(11.61 / 15, abs=1e-3) and len(auto) >= 12
    # A rarely called endpoint (one request a side every 2 s) gets windows of ~4 requests.
    rare = dataclasses.replace(target, t=target.t * 10)
    assert paired_windows(rare, dataclasses.replace(control, t=control.t * 10)).window_s > 5


CHECK = """
import json, pathlib

def test_latency(baseline, control_target, target):
    data = json.loads(pathlib.Path("windows.json").read_text())
    baseline.paired(
        "latency", data["target"], control=data["control"],
        control_name=control_target.name, unit="ms",
    )
"""

TWO_SIDES = """
environments:
  green:
    api:
      base_url: http://127.0.0.1:9
  blue:
    api:
      base_url: http://127.0.0.1:9
"""


@pytest.fixture
def two_sides(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", prodval=TWO_SIDES)
    pytester.makepyfile(test_paired_check=CHECK)
    return pytester


def test_a_check_beside_the_control_needs_no_baseline_and_names_it(
    two_sides: pytest.Pytester,
) -> None:
    target, control = sides(5, 1.0)
    (two_sides.path / "windows.json").write_text(json.dumps({"target": target, "control": control}))
    passed = two_sides.runpytest("--target-env=green", "--control-env=blue")
    passed.assert_outcomes(passed=1)
    passed.stdout.fnmatch_lines(["prodval: control deployment blue, api http://127.0.0.1:9*"])
    summary = json.loads((two_sides.path / "reports/prodval-summary.json").read_text())
    (comparison,) = summary["comparisons"]
    assert comparison["kind"] == "paired" and comparison["status"] == "passed"
    chart = Path(comparison["evidence"]["chart"])
    assert chart.parent == two_sides.path / "reports" / "charts"
    svg = chart.read_text()
    assert svg.startswith("<?xml") and "blue" in svg and "green" in svg
    assert not (two_sides.path / "baselines").exists()  # nothing recorded, nothing needed

    slow, _ = sides(5, 1.6)
    (two_sides.path / "windows.json").write_text(json.dumps({"target": slow, "control": control}))
    failed = two_sides.runpytest("--target-env=green", "--control-env=blue")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*latency: 1.*x slower than the control deployment blue*"])


def test_the_control_must_exist_and_differ_from_the_target(two_sides: pytest.Pytester) -> None:
    same = two_sides.runpytest("--target-env=green", "--control-env=green")
    assert same.ret == pytest.ExitCode.USAGE_ERROR
    same.stderr.fnmatch_lines(
        ["*--control-env (ini prodval_control_env) = 'green': the control must be another*"]
    )
    unknown = two_sides.runpytest("--target-env=green", "--control-env=purple")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["*purple*"])
    two_sides.makeini(f"{INI}prodval_control_env = blue\n")
    target, control = sides(6, 1.0)
    (two_sides.path / "windows.json").write_text(json.dumps({"target": target, "control": control}))
    from_ini = two_sides.runpytest("--target-env=green")
    from_ini.assert_outcomes(passed=1)


def test_the_gate_hands_the_control_on_and_refuses_it_after_the_separator() -> None:
    common = ["--env", "green", "--baseline", "b.json", "--rollback", "true"]
    settings = parse([*common, "--control-env", "blue"])
    assert settings is not None
    assert "--control-env=blue" in settings.common_args
    plain = parse(common)
    assert plain is not None and not any("control" in arg for arg in plain.common_args)
    with pytest.raises(GateUsageError, match="'green' is the target itself"):
        parse([*common, "--control-env=green"])
    with pytest.raises(GateUsageError, match="'--control-env=blue' after --: the gate sets it"):
        parse([*common, "--", "--control-env=blue"])


def _silent(connection: socket.socket, stopped: threading.Event) -> None:
    stopped.wait()  # accepts the connection and never answers, until the server stops


def test_a_control_that_does_not_answer_stops_the_gate_before_anything_runs(
    tmp_path: Path,
) -> None:
    """A control deployment that is down would fail the latency checks of a good release:
    the gate's preflight probes it after the target and stops (exit 3), rolling nothing back."""
    with FakeTarget() as target:
        project = Project(tmp_path / "project", target.url)
        config = project.path / "prodval.yaml"
        with raw_server(_silent) as silent:
            config.write_text(
                config.read_text() + f"  blue:\n    api:\n      base_url: {silent}\n"
                "      timeout: 1\n"
            )
            result = run_gate(
                project.path,
                gate_args(project, "--control-env", "blue"),
                env={"PRODVAL_GATE_PROBE_S": "2"},
            )
    assert result.returncode == 3, result.stderr
    record = project.record()
    assert record["decision"] == "misconfigured" and record["suites"] is None
    assert record["control_environment"] == "blue"
    assert "the control deployment blue did not answer within 2 s" in record["reason"]
    assert project.rollback_count() == 0
