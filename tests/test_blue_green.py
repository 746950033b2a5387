"""Two docpipe deployments side by side, as blue/green: one prodval.yaml describes both.

The set-up the paired performance mode measures (a release beside a control deployment of the
known-good release, docs/docpipe.md "Blue/green on one machine"): two homes, `up --ports auto`
each, and `docpipe prodval-config --environment blue=A --environment green=B`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docpipe.cli import PRODVAL_MAX_RPS
from docpipe.control import run_docpipe

from pytest_prodval.config import ca_file_problem, load_config

from .suite_runner import deploy, run_suites

SIDES = ("blue", "green")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("blue-green")
    homes = {side: base / side for side in SIDES}
    try:
        for home in homes.values():
            result = run_docpipe(home, "up", "--ports", "auto", "--workers", "1")
            assert result.returncode == 0, result.stderr
        yield homes
    finally:
        for home in homes.values():
            run_docpipe(home, "down")


def both_sides_config(homes: dict[str, Path]) -> str:
    """``docpipe prodval-config --environment blue=... --environment green=...``'s output."""
    args = [arg for side in SIDES for arg in ("--environment", f"{side}={homes[side]}")]
    generated = run_docpipe(homes["blue"], "prodval-config", *args)
    assert generated.returncode == 0, generated.stderr
    return generated.stdout


def test_one_config_describes_both_deployments_each_with_its_own_ports_and_load_cap(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "prodval.yaml"
    path.write_text(both_sides_config(homes))
    config = load_config(path)
    envs = {side: config.environment(side) for side in SIDES}
    assert envs["blue"].api.base_url != envs["green"].api.base_url
    for env in envs.values():
        assert ca_file_problem(env) is None
        assert env.load.max_rps == PRODVAL_MAX_RPS
        assert env.load.control_url is not None
    # Each side answers the suites' health checks as itself.
    for side in SIDES:
        result = run_suites(
            "suites/application/test_health.py",
            config=path,
            baseline="baselines/local.json",
            summary=tmp_path / f"{side}-summary.json",
            extra=[f"--target-env={side}", "-p", "no:randomly"],
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_a_side_that_is_down_or_named_twice_is_one_line(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    down = run_docpipe(
        homes["blue"], "prodval-config", "--environment", f"green={tmp_path / 'nothing'}"
    )
    assert down.returncode != 0
    assert down.stderr.strip().splitlines() == [
        f"docpipe: docpipe is not running in {tmp_path / 'nothing'}; start it with "
        f"`docpipe --home {tmp_path / 'nothing'} up`"
    ]
    twice = run_docpipe(
        homes["blue"],
        "prodval-config",
        "--environment",
        f"blue={homes['blue']}",
        "--environment",
        f"blue={homes['green']}",
    )
    assert twice.returncode != 0
    assert twice.stderr.strip() == "docpipe: --environment: each name once, got blue, blue"


def test_the_single_deployment_config_is_unchanged_but_for_the_load_cap(
    homes: dict[str, Path],
) -> None:
    generated = run_docpipe(homes["green"], "prodval-config", "--name", "green")
    assert generated.returncode == 0, generated.stderr
    environments = yaml.safe_load(generated.stdout)["environments"]
    assert list(environments) == ["green"]
    assert environments["green"]["load"]["max_rps"] == PRODVAL_MAX_RPS


# Short and gentle, as tests/test_performance_suite.py; paired_tolerance is wide so that the
# clean comparison never fails on a busy runner, and slow_api=2 (every route about 3x slower)
# is far beyond it. How often the product's own rule (10%) errs is benchmarks/gate_accuracy.py.
PAIRED_LOAD = {"users": 4, "spawn_rate": 20, "duration_s": 20, "max_rps": 60, "warmup_s": 2}
PAIRED_PARAMS = {"paired_tolerance": 0.4}
RELAXED_SLO = {"api_p95_ms": 5000, "db_p95_ms": 5000, "external_ms": 5000, "error_ratio": 0.05}
LATENCY_CHECK = "test_endpoint_latency_under_load_is_not_slower_than_the_baseline"


@pytest.mark.alone
def test_the_performance_suite_judges_green_beside_blue_and_needs_no_baseline(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    config = yaml.safe_load(both_sides_config(homes))
    for env in config["environments"].values():
        env["load"] |= PAIRED_LOAD
        env["params"] |= PAIRED_PARAMS
        env["slo"] = env.get("slo", {}) | RELAXED_SLO
    path = tmp_path / "prodval.yaml"
    path.write_text(yaml.safe_dump(config))

    def paired(label: str) -> tuple[int, str, dict[str, Any]]:
        summary = tmp_path / label / "summary.json"
        result = run_suites(
            "suites",
            "-m",
            "performance",
            config=path,
            baseline=tmp_path / "no-baseline.json",  # paired mode needs none
            summary=summary,
            extra=["--target-env=green", "--control-env=blue", "-p", "no:randomly"],
            timeout=150,
        )
        return result.returncode, result.stdout + result.stderr, json.loads(summary.read_text())

    code, output, summary = paired("same")
    assert code == 0, output[-4000:]
    latency = [c for c in summary["comparisons"] if LATENCY_CHECK in c["key"]]
    assert len(latency) == 4 and {c["kind"] for c in latency} == {"paired"}
    assert all(c["evidence"]["control_name"] == "blue" for c in latency)
    assert "against green and, at the same time, the control deployment blue" in output
    assert not (tmp_path / "no-baseline.json").exists()

    deploy(homes["green"], "slow_api=2")
    try:
        code, output, summary = paired("slow")
    finally:
        deploy(homes["green"])
    assert code == 1, output[-4000:]
    failed = [c for c in summary["comparisons"] if c["status"] == "failed"]
    assert {c["key"].rsplit("::", 1)[-1] for c in failed} == {
        f"latency of {name}"
        for name in (
            "GET /health",
            "GET /ready",
            "GET /documents/{id}",
            "GET /documents/{id}/result",
        )
    }, output[-4000:]
    assert "slower than the control deployment blue" in output
