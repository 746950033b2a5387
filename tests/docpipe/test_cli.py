"""docpipe as an operator drives it: up, status, a document end to end, deploy, rollback, down."""

from __future__ import annotations

import json
import os
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docpipe.control import run_docpipe

pytestmark = pytest.mark.xdist_group("docpipe-cli")  # one deployment for the module

OPERATOR_KEY = "local-operator-key"
DEADLINE_S = 60.0


def state_of(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((home / "state.json").read_text())
    return data


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if text.encode() in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def eventually(condition: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    """Poll a condition with a deadline: the test waits for a fact, not for a duration."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.1)


def client(home: Path, key: str = OPERATOR_KEY) -> httpx.Client:
    state = state_of(home)
    context = ssl.create_default_context(cafile=state["ca_file"])
    return httpx.Client(
        base_url=state["urls"]["api"], verify=context, headers={"X-API-Key": key}, timeout=10
    )


def all_pids(home: Path) -> list[int]:
    state = state_of(home)
    pids = [state["supervisor_pid"], *(c["pid"] for c in state["components"].values())]
    if state["database"]["postgres_pid"]:
        pids.append(state["database"]["postgres_pid"])
    return pids


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("docpipe-home")
    started = time.monotonic()
    result = run_docpipe(home, "up", "--ports", "auto", "--workers", "2")
    assert result.returncode == 0, result.stderr + result.stdout
    print(f"docpipe up took {time.monotonic() - started:.1f} s")
    try:
        yield home
    finally:
        run_docpipe(home, "down")


def test_up_prints_where_everything_is(home: Path) -> None:
    result = run_docpipe(home, "status")
    assert result.returncode == 0
    out = result.stdout
    assert "docpipe is up: release 1, revision 1, no faults" in out
    for name in ("api", "parser", "embedder", "worker-1", "worker-2"):
        assert name in out
    assert "DOWN" not in out
    assert "credentials:" in out


def test_up_again_with_the_same_release_changes_nothing(home: Path) -> None:
    before = state_of(home)["supervisor_pid"]
    result = run_docpipe(home, "up", "--ports", "auto")
    assert result.returncode == 0
    assert state_of(home)["supervisor_pid"] == before


def test_up_with_another_release_points_to_deploy(home: Path) -> None:
    result = run_docpipe(home, "up", "--release", "2")
    assert result.returncode == 1
    assert "already up with release 1" in result.stderr
    assert "docpipe deploy" in result.stderr


def test_a_document_reaches_completed_with_its_state_history(home: Path) -> None:
    with client(home) as api:
        response = api.post(
            "/documents",
            content=b"Patient summary: all vitals normal. " * 40,
            headers={"Content-Type": "text/plain", "X-Subject-Id": "subject-7"},
        )
        assert response.status_code == 201, response.text
        document_id = response.json()["id"]

        def completed() -> dict[str, Any] | None:
            body: dict[str, Any] = api.get(f"/documents/{document_id}").json()
            return body if body["state"] in ("completed", "failed") else None

        document = eventually(completed)
        assert document["state"] == "completed"
        assert [step["to"] for step in document["history"]] == [
            "uploaded",
            "parsing",
            "parsed",
            "embedding",
            "completed",
        ]
        result = api.get(f"/documents/{document_id}/result").json()
        assert result["chunk_count"] >= 1
        assert result["embedding_dimensions"] > 0


def test_deploy_switches_the_release_and_rollback_returns_once(home: Path) -> None:
    result = run_docpipe(home, "deploy", "--release", "2")
    assert result.returncode == 0, result.stderr
    assert "deployed release 2 (revision 2)" in result.stdout
    with client(home) as api:
        assert api.get("/version").json()["release"] == "2"
        assert api.get("/version").json()["schema_version"] == 3

    result = run_docpipe(home, "rollback")
    assert result.returncode == 0, result.stderr
    assert "rolled back to release 1 (revision 3)" in result.stdout
    with client(home) as api:
        version = api.get("/version").json()
    assert (version["release"], version["schema_version"]) == ("1", 2)

    again = run_docpipe(home, "rollback")
    assert again.returncode == 0
    assert "already rolled back to release 1" in again.stdout
    assert state_of(home)["revision"] == 3


def test_migration_behind_leaves_the_schema_one_version_behind(home: Path) -> None:
    result = run_docpipe(home, "deploy", "--release", "2", "--fault", "migration_behind")
    assert result.returncode == 0, result.stderr
    with client(home) as api:
        version = api.get("/version").json()
    assert (version["schema_version"], version["expected_schema_version"]) == (2, 3)
    assert run_docpipe(home, "rollback").returncode == 0


def test_cert_expiring_serves_a_certificate_valid_for_under_seven_days(home: Path) -> None:
    def days_left() -> float:
        state = state_of(home)
        port = state["ports"]["api"]
        context = ssl.create_default_context(cafile=state["ca_file"])
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                cert = tls.getpeercert()
        assert cert is not None
        return (ssl.cert_time_to_seconds(str(cert["notAfter"])) - time.time()) / 86400

    assert days_left() > 300
    assert run_docpipe(home, "deploy", "--release", "1", "--fault", "cert_expiring").returncode == 0
    assert days_left() < 7
    assert run_docpipe(home, "rollback").returncode == 0
    assert days_left() > 300


def test_a_crashed_component_is_restarted(home: Path) -> None:
    victim = state_of(home)["components"]["worker-1"]["pid"]
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        component = state_of(home)["components"]["worker-1"]
        return bool(component["pid"] != victim and component["restarts"] >= 1)

    eventually(restarted)
    assert alive(state_of(home)["components"]["worker-1"]["pid"])


def test_bad_release_and_fault_names_are_usage_errors(home: Path) -> None:
    result = run_docpipe(home, "deploy", "--release", "9")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "docpipe: unknown release '9'; expected one of: 1, 2",
    )
    result = run_docpipe(home, "deploy", "--release", "1", "--fault", "slow_ap")
    assert result.returncode == 2
    assert result.stderr.startswith("docpipe: unknown fault 'slow_ap'; expected one of:")


def test_down_leaves_no_process_even_after_the_supervisor_crashed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    assert run_docpipe(home, "up", "--ports", "auto", "--workers", "1").returncode == 0
    pids = all_pids(home)
    assert all(alive(pid) for pid in pids)
    os.kill(state_of(home)["supervisor_pid"], signal.SIGKILL)

    result = run_docpipe(home, "down")
    assert result.returncode == 0
    assert eventually(lambda: not any(alive(pid) for pid in pids), timeout=30)
    leftovers = processes_mentioning(str(home))
    assert leftovers == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in leftovers]
    assert not (home / "pgdata").exists()
    assert run_docpipe(home, "status").returncode == 3
    assert run_docpipe(home, "down").stdout.strip() == "docpipe is not running"
