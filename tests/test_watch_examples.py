"""The watch's service examples in docs/examples/watch: the systemd unit passes
``systemd-analyze verify`` (when installed), the Kubernetes Deployment is well-formed YAML of the
right shape (no schema of it is available offline), and both command lines are accepted by
prodval-watch's own parser, which refuses what the watch refuses."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_prodval.watch.arguments import parse

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "watch"
CONFIG = """
environments:
  production:
    protected: true
    api:
      base_url: https://api.example.com
"""


def _accepted(args: list[str], where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``args`` (after the program name) parse, against a project with that environment."""
    (where / "prodval.yaml").write_text(CONFIG)
    (where / "baselines").mkdir()
    (where / "baselines" / "staging.json").write_text("{}")
    monkeypatch.chdir(where)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    settings = parse([arg.replace("%i", "production") for arg in args])
    assert settings is not None
    assert settings.env == "production" and settings.port == 9464
    assert not settings.allow_synthetic


def _exec_start(unit: str) -> list[str]:
    joined = unit.replace("\\\n", " ")
    (line,) = [row for row in joined.splitlines() if row.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_systemd_unit_runs_an_accepted_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = (EXAMPLES / "prodval-watch.service").read_text()
    command = _exec_start(unit)
    assert command[0].endswith("/prodval-watch")
    _accepted(command[1:], tmp_path, monkeypatch)
    assert "RestartPreventExitStatus=4" in unit  # a usage error is not fixed by restarting
    assert "TimeoutStopSec=60" in unit  # beyond the 30 s SIGKILL of the run's group


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "prodval-watch@production.service"
    shutil.copy(EXAMPLES / "prodval-watch.service", tmp_path / "prodval-watch@.service")
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # The only complaint allowed: the example's virtualenv does not exist on this machine.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert not problems, problems


def test_the_kubernetes_deployment_runs_one_accepted_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = list(yaml.safe_load_all((EXAMPLES / "deployment.yaml").read_text()))
    assert len(documents) == 1
    deployment = documents[0]
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    template = spec["template"]
    labels = template["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert template["spec"]["terminationGracePeriodSeconds"] > 30
    (container,) = template["spec"]["containers"]
    assert container["args"][0] == "prodval-watch"
    _accepted(container["args"][1:], tmp_path, monkeypatch)
    (port,) = container["ports"]
    assert port["containerPort"] == 9464
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/var/lib/prodval-watch" in mounts  # --reports on a read-only root filesystem
