"""Two docpipe deployments side by side, as blue/green: one prodval.yaml describes both.

The set-up the paired performance mode measures (a release beside a control deployment of the
known-good release, docs/docpipe.md "Blue/green on one machine"): two homes, `up --ports auto`
each, and `docpipe prodval-config --environment blue=A --environment green=B`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from docpipe.cli import PRODVAL_MAX_RPS
from docpipe.control import run_docpipe

from pytest_prodval.config import ca_file_problem, load_config

from .suite_runner import run_suites

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


def test_one_config_describes_both_deployments_each_with_its_own_ports_and_load_cap(
    homes: dict[str, Path], tmp_path: Path
) -> None:
    args = [arg for side in SIDES for arg in ("--environment", f"{side}={homes[side]}")]
    generated = run_docpipe(homes["blue"], "prodval-config", *args)
    assert generated.returncode == 0, generated.stderr
    path = tmp_path / "prodval.yaml"
    path.write_text(generated.stdout)
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
