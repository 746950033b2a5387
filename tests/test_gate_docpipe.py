"""prodval-gate against the real docpipe: a good release passes; a bad one is rolled back.

One docpipe deployment (own home, free ports) for the module. The gate runs the real suites
(two modules, to stay quick: health and security headers) with the committed baseline, and
rolls back with the real `docpipe rollback`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docpipe.control import run_docpipe

from .gate_harness import ROOT, local_gate_argv, run_gate

pytestmark = pytest.mark.xdist_group("gate-docpipe")  # one deployment, tests in order

CHECKS = [
    str(ROOT / "suites/application/test_health.py"),
    str(ROOT / "suites/security/test_headers.py"),
]


class Deployment:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.config = base / "prodval.yaml"
        self.rollbacks = base / "rollbacks.log"

    def rollback_command(self) -> str:
        docpipe_rollback = shlex.join(
            [sys.executable, "-m", "docpipe", "--home", str(self.home), "rollback"]
        )
        return f"echo rolled-back >> {shlex.quote(str(self.rollbacks))} && {docpipe_rollback}"

    def rollback_count(self) -> int:
        return len(self.rollbacks.read_text().splitlines()) if self.rollbacks.exists() else 0

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return data

    def gate(self, cwd: Path) -> subprocess.CompletedProcess[str]:
        cwd.mkdir()
        return run_gate(cwd, local_gate_argv(self.config, self.rollback_command(), CHECKS))


def only_record(cwd: Path) -> dict[str, Any]:
    [path] = sorted((cwd / "reports" / "gate").glob("*.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("gate-docpipe"))
    up = run_docpipe(deployment.home, "up", "--ports", "auto")
    assert up.returncode == 0, up.stderr
    try:
        config = run_docpipe(deployment.home, "prodval-config")
        assert config.returncode == 0, config.stderr
        deployment.config.write_text(config.stdout)
        yield deployment
    finally:
        run_docpipe(deployment.home, "down")


def test_a_good_release_passes_the_gate_without_a_rollback(deployment: Deployment) -> None:
    deployed = run_docpipe(deployment.home, "deploy", "--release", "1")
    assert deployed.returncode == 0, deployed.stderr
    cwd = deployment.base / "good"
    result = deployment.gate(cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert deployment.rollback_count() == 0
    record = only_record(cwd)
    assert record["decision"] == "passed" and record["exit_code"] == 0
    assert record["suites"]["pytest_exit_code"] == 0 and record["suites"]["failed_checks"] == []
    assert record["rollback"]["ran"] is False and record["verification"] is None
    assert record["target"]["version"] == "1"
    assert record["baseline"]["provenance"]["target_version"] == "1"
    assert deployment.state()["revision"] == 2  # still the deployed release


def test_a_bad_release_is_rolled_back_once_verified_and_exits_1(deployment: Deployment) -> None:
    deployed = run_docpipe(deployment.home, "deploy", "--release", "1", "--fault", "weak_headers")
    assert deployed.returncode == 0, deployed.stderr
    cwd = deployment.base / "bad"
    result = deployment.gate(cwd)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert deployment.rollback_count() == 1
    state = deployment.state()
    assert state["faults"] == "" and state["history"][-1]["kind"] == "rollback"
    record = only_record(cwd)
    assert record["decision"] == "rolled_back"
    failed = {check["check"] for check in record["suites"]["failed_checks"]}
    assert failed == {
        "suites/security/test_headers.py::test_every_kind_of_answer_carries_the_security_headers",
        "suites/security/test_headers.py::test_document_data_is_never_cached",
    }
    assert record["rollback"]["succeeded"] is True
    assert "rolled back to release 1" in record["rollback"]["output_tail"]
    verification = record["verification"]
    assert verification["passed"] is True and verification["counts"]["failed"] == 0
    secrets = json.loads((deployment.home / "credentials.json").read_text())
    text = json.dumps(record)
    for value in secrets.get("api_keys", {}).values():
        assert value not in text
