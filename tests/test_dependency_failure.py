"""Dependency failure: ``docpipe pause/resume`` and the destructive checks that use them.

A real docpipe: each dependency is paused and resumed through the CLI, the destructive checks
pass against it (and record their baseline), and a docpipe built from changed source whose
``/ready`` ignores the external services' probes is caught while the parser is paused; the
parser is resumed although the check fails.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from docpipe.control import run_docpipe
from docpipe.pausing import (
    PauseError,
    continue_processes,
    freeze_processes,
    restore_storage,
    take_storage_away,
)

from .mutated_docpipe import Mutation, docpipe_from, failures, mutated_source, outcomes, runs_from
from .suite_runner import run_suites

pytestmark = pytest.mark.xdist_group("dependency-failure")  # one deployment for the module

CHECK = "suites/application/test_dependency_failure.py"
NAME = (
    CHECK
    + "::test_with_a_dependency_away_readiness_names_it_the_pipeline_fails_cleanly_and_recovers"
)
SUITE_TIMEOUT_S = 240
# "External services are not ours to be ready for": /ready's answer ignores their probes.
READY_IGNORES_SERVICES: Mutation = {
    "docpipe/api/health.py": [
        (
            'ok = all(component["ok"] for component in components.values())',
            'ok = all(components[name]["ok"] for name in ("database", "storage", "workers"))',
        )
    ]
}


def _state(home: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((home / "state.json").read_text())
    return state


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def _ready(home: Path) -> tuple[int, dict[str, Any]]:
    state = _state(home)
    context = ssl.create_default_context(cafile=state["ca_file"])
    with httpx.Client(base_url=state["urls"]["api"], verify=context, timeout=10) as client:
        response = client.get("/ready")
    body: dict[str, Any] = response.json()
    return response.status_code, body


# --- the pausing helpers, on their own --------------------------------------------------


def test_storage_taken_away_is_a_file_until_restored_with_its_files(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    (storage / "acme").mkdir(parents=True)
    (storage / "acme" / "doc").write_bytes(b"kept")
    take_storage_away(storage)
    assert storage.is_file()
    with pytest.raises(OSError):
        (storage / "acme").mkdir(parents=True, exist_ok=True)  # what a write does first
    with pytest.raises(PauseError, match="storage is paused"):
        take_storage_away(storage)
    restore_storage(storage)
    assert (storage / "acme" / "doc").read_bytes() == b"kept"
    with pytest.raises(PauseError, match="storage is not paused"):
        restore_storage(storage)


def test_a_frozen_process_is_stopped_until_continued() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        process = psutil.Process(child.pid)
        freeze_processes([process])
        assert process.status() == psutil.STATUS_STOPPED
        continue_processes([process])
        assert process.status() != psutil.STATUS_STOPPED
    finally:
        child.kill()
        child.wait(10)


# --- docpipe pause / resume --------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("dependency-failure") / "home"
    started = run_docpipe(home, "up", "--ports", "auto", "--workers", "1")
    assert started.returncode == 0, started.stderr
    try:
        yield home
    finally:
        run_docpipe(home, "down")


def test_a_stopped_service_refuses_connections_is_not_restarted_and_comes_back(
    home: Path,
) -> None:
    port = _state(home)["ports"]["parser"]
    paused = run_docpipe(home, "pause", "parser")
    assert paused.returncode == 0, paused.stderr
    assert "paused parser (stopped" in paused.stdout
    assert _state(home)["paused"] == {"parser": "stop"}
    assert _refuses(port)
    status, body = _ready(home)
    assert status == 503 and body["components"]["parser"]["ok"] is False, body
    again = run_docpipe(home, "pause", "parser")
    assert again.returncode == 1 and "parser is paused already (stop)" in again.stderr
    resumed = run_docpipe(home, "resume", "parser")
    assert resumed.returncode == 0, resumed.stderr
    assert _state(home)["paused"] == {}
    assert not _refuses(port)  # resume returns once the service answers /health
    assert _ready(home)[0] == 200


def test_a_frozen_service_is_stopped_by_the_kernel_until_resumed(home: Path) -> None:
    pid = _state(home)["components"]["embedder"]["pid"]
    paused = run_docpipe(home, "pause", "embedder", "--mode", "freeze")
    assert paused.returncode == 0, paused.stderr
    assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
    resumed = run_docpipe(home, "resume", "embedder")
    assert resumed.returncode == 0, resumed.stderr
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED
    assert _state(home)["components"]["embedder"]["pid"] == pid  # the same process, continued


def test_paused_storage_is_a_file_where_the_directory_was_until_resumed(home: Path) -> None:
    storage = Path(_state(home)["storage_dir"])
    files_before = sorted(p.name for p in storage.rglob("*"))
    assert run_docpipe(home, "pause", "storage").returncode == 0
    assert storage.is_file()
    status, body = _ready(home)
    assert status == 503 and body["components"]["storage"]["ok"] is False, body
    assert run_docpipe(home, "resume", "storage").returncode == 0
    assert storage.is_dir() and sorted(p.name for p in storage.rglob("*")) == files_before


def test_a_paused_database_refuses_connections_until_resumed(home: Path) -> None:
    port = _state(home)["ports"]["postgres"]
    assert run_docpipe(home, "pause", "database").returncode == 0
    assert _refuses(port)
    assert run_docpipe(home, "resume", "database").returncode == 0
    assert not _refuses(port)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["pause", "mailer"], "cannot pause 'mailer'; expected one of: database, storage, parser"),
        (["resume", "parser"], "parser is not paused (paused: nothing)"),
        (["pause", "storage", "--mode", "freeze"], "storage has no process to freeze"),
    ],
)
def test_what_cannot_be_paused_or_resumed_is_one_line_naming_it(
    home: Path, args: list[str], error: str
) -> None:
    result = run_docpipe(home, *args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr
    assert _state(home)["paused"] == {}


def test_prodval_config_says_how_to_pause_and_resume_each_dependency(home: Path) -> None:
    generated = run_docpipe(home, "prodval-config")
    assert generated.returncode == 0, generated.stderr
    params = yaml.safe_load(generated.stdout)["environments"]["local"]["params"]
    assert params["storage_dir"] == str(home.absolute() / "storage")
    dependencies = ["database", "parser", "embedder", "storage"]
    assert (
        sorted(params["pause_commands"])
        == sorted(params["resume_commands"])
        == sorted(dependencies)
    )
    for name in dependencies:
        assert params["pause_commands"][name].endswith(f" pause {name}")
        assert params["resume_commands"][name].endswith(f" resume {name}")


@pytest.fixture(scope="module")
def config(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    generated = run_docpipe(home, "prodval-config")
    assert generated.returncode == 0, generated.stderr
    path = tmp_path_factory.mktemp("dependency-config") / "prodval.yaml"
    path.write_text(generated.stdout)
    return path


@pytest.fixture(scope="module")
def baseline(home: Path, config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The destructive checks, recorded on the healthy deployment: all pass."""
    reports = tmp_path_factory.mktemp("dependency-record")
    path = reports / "baseline.json"
    junit = reports / "record.xml"
    result = run_suites(
        CHECK,
        config=config,
        baseline=path,
        summary=reports / "summary.json",
        extra=["--record-baseline", f"--junitxml={junit}"],
        timeout=SUITE_TIMEOUT_S,
    )
    assert junit.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    results = outcomes(junit)
    assert len(results) == 4 and set(results.values()) == {"passed"}, result.stdout[-4000:]
    return path


def test_the_destructive_checks_pass_on_a_healthy_deployment_and_leave_it_whole(
    home: Path, config: Path, baseline: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "compare.xml"
    result = run_suites(
        CHECK,
        config=config,
        baseline=baseline,
        summary=tmp_path / "summary.json",
        extra=[f"--junitxml={junit}"],
        timeout=SUITE_TIMEOUT_S,
    )
    assert set(outcomes(junit).values()) == {"passed"}, result.stdout[-4000:]
    assert _state(home)["paused"] == {}
    assert _ready(home)[0] == 200


def test_the_destructive_checks_are_skipped_beside_other_xdist_workers(
    config: Path, baseline: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "xdist.xml"
    result = run_suites(
        CHECK,
        config=config,
        baseline=baseline,
        summary=tmp_path / "summary.json",
        extra=[f"--junitxml={junit}", "-n", "2"],
        timeout=SUITE_TIMEOUT_S,
    )
    assert set(outcomes(junit).values()) == {"skipped"}, result.stdout[-4000:]
    assert "needs the target to itself" in result.stdout + junit.read_text()


def test_readiness_that_ignores_a_paused_parser_is_caught_and_the_parser_resumed(
    baseline: Path, tmp_path: Path
) -> None:
    source = mutated_source(tmp_path, READY_IGNORES_SERVICES)
    home = tmp_path / "mutant"
    started = docpipe_from(source, home, "up", "--ports", "auto", "--workers", "1")
    assert started.returncode == 0, started.stderr
    try:
        assert runs_from(source, _state(home)["components"]["api"]["pid"])
        generated = docpipe_from(source, home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        config = tmp_path / "prodval.yaml"
        config.write_text(generated.stdout)
        junit = tmp_path / "mutant.xml"
        result = run_suites(
            f"{CHECK}::test_with_a_dependency_away_readiness_names_it_the_pipeline_fails_"
            "cleanly_and_recovers[parser]",
            config=config,
            baseline=baseline,
            summary=tmp_path / "summary.json",
            extra=[f"--junitxml={junit}"],
            timeout=SUITE_TIMEOUT_S,
        )
        failed = failures(junit)
        text = failed.get(f"{NAME}[parser]", "")
        assert "GET /ready with parser paused (params.pause_commands.parser)" in text, (
            result.stdout[-4000:]
        )
        assert "answered 200, expected 503" in text and "its status is 'ready'" in text, text
        # A healthy platform: the mutant passes the readiness check that reads /ready once.
        healthy = run_suites(
            "suites/application/test_health.py::test_ready_reports_every_component_ok",
            config=config,
            baseline=tmp_path / "scratch.json",
            summary=tmp_path / "healthy.json",
            extra=["--record-baseline"],
            timeout=SUITE_TIMEOUT_S,
        )
        assert healthy.returncode == 0, healthy.stdout[-3000:]
        assert _state(home)["paused"] == {}  # resumed although the check failed
        assert not _refuses(_state(home)["ports"]["parser"])
    finally:
        docpipe_from(source, home, "down")
