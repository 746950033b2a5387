"""docpipe.pg: an embedded PostgreSQL, started and stopped for real."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from docpipe import pg
from docpipe.net import free_port
from docpipe.pg import EmbeddedPostgres

PASSWORD = "admin pw/with:odd@chars"


def _fetchval(dsn: str, query: str) -> object:
    async def fetch() -> object:
        connection = await asyncpg.connect(dsn)
        try:
            return await connection.fetchval(query)
        finally:
            await connection.close()

    return asyncio.run(fetch())


def _execute(dsn: str, statements: str) -> None:
    async def execute() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statements)
        finally:
            await connection.close()

    asyncio.run(execute())


def _live(process: psutil.Process) -> bool:
    # A zombie has exited; only its parent (here init) can clear its pid entry.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One server for the tests that only look at it."""
    server = EmbeddedPostgres(
        tmp_path_factory.mktemp("pg") / "data", free_port(), password=PASSWORD
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of the test's own, for tests that stop or restart it."""
    server = EmbeddedPostgres(tmp_path / "data", free_port(), password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_admin_dsn_logs_in_over_tcp_with_the_password(shared_server: EmbeddedPostgres) -> None:
    assert shared_server.admin_dsn.startswith("postgresql://postgres:")
    assert _fetchval(shared_server.admin_dsn, "select current_user") == "postgres"
    # Over TCP to 127.0.0.1 (a unix socket connection has no server address).
    assert str(_fetchval(shared_server.admin_dsn, "select inet_server_addr()")) == "127.0.0.1"


def test_tcp_logins_use_scram_so_a_wrong_password_is_rejected(
    shared_server: EmbeddedPostgres,
) -> None:
    wrong = f"postgresql://postgres:not-it@127.0.0.1:{shared_server.port}/postgres"
    with pytest.raises(asyncpg.InvalidPasswordError):
        _fetchval(wrong, "select 1")
    assert _fetchval(shared_server.admin_dsn, "show password_encryption") == "scram-sha-256"


def test_the_server_runs_with_the_throwaway_settings(shared_server: EmbeddedPostgres) -> None:
    assert _fetchval(shared_server.admin_dsn, "show fsync") == "off"
    assert _fetchval(shared_server.admin_dsn, "show max_connections") == "100"
    assert _fetchval(shared_server.admin_dsn, "show server_encoding") == "UTF8"
    assert _fetchval(shared_server.admin_dsn, "show lc_collate") == "C"


def test_the_server_listens_on_127_0_0_1_only(shared_server: EmbeddedPostgres) -> None:
    assert shared_server.pid is not None
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(shared_server.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", shared_server.port)}


def test_the_unix_socket_is_in_a_private_directory(shared_server: EmbeddedPostgres) -> None:
    socket_dir = shared_server.socket_dir
    assert (socket_dir / f".s.PGSQL.{shared_server.port}").is_socket()
    assert socket_dir.stat().st_mode & 0o777 == 0o700
    assert len(str(socket_dir / f".s.PGSQL.{shared_server.port}")) < 100


def test_the_postmaster_is_detached_from_the_callers_session(
    shared_server: EmbeddedPostgres,
) -> None:
    # Its own session: the terminal's SIGHUP and Ctrl-C do not reach it.
    assert shared_server.pid is not None
    assert os.getsid(shared_server.pid) != os.getsid(0)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to switch users")
def test_as_root_the_server_runs_as_an_unprivileged_user(shared_server: EmbeddedPostgres) -> None:
    assert shared_server.pid is not None
    postmaster = psutil.Process(shared_server.pid)
    uid = postmaster.uids().effective
    assert uid != 0
    assert shared_server.data_dir.stat().st_uid == uid
    assert shared_server.socket_dir.stat().st_uid == uid
    assert shared_server.log_file.stat().st_uid == uid
    assert 0 not in postmaster.gids()
    # Root's supplementary groups were replaced by the user's own.
    status = Path(f"/proc/{postmaster.pid}/status").read_text()
    groups = next(line for line in status.splitlines() if line.startswith("Groups:"))
    assert "0" not in groups.split()[1:]


def test_starting_a_running_server_again_is_a_no_op(shared_server: EmbeddedPostgres) -> None:
    pid = shared_server.pid
    shared_server.start()
    assert shared_server.pid == pid
    assert shared_server.running()


def test_stop_leaves_no_postgres_process_behind(server: EmbeddedPostgres) -> None:
    assert server.pid is not None
    postmaster = psutil.Process(server.pid)
    family = [postmaster, *postmaster.children(recursive=True)]
    assert len(family) > 1  # checkpointer, walwriter, ...: the check below means something

    server.stop()

    assert [p.pid for p in family if _live(p)] == []
    assert not server.running()
    assert not server.socket_dir.exists()


def test_when_pg_ctl_cannot_stop_the_server_stop_kills_it(
    server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.pid is not None
    postmaster = psutil.Process(server.pid)
    family = [postmaster, *postmaster.children(recursive=True)]
    real_run = pg._run

    def failing_stop(command: list[str], *args: Any, **kwargs: Any) -> tuple[int, str]:
        if command[-1] == "stop":
            return 1, "pg_ctl: simulated failure"
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(pg, "_run", failing_stop)
    server.stop(timeout=10)

    assert [p.pid for p in family if _live(p)] == []
    monkeypatch.undo()
    # The killed server's data directory still starts (crash recovery).
    server.start()
    assert _fetchval(server.admin_dsn, "select 1") == 1


def test_a_server_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    starter = (
        "import sys; from pathlib import Path; from docpipe.pg import EmbeddedPostgres; "
        "EmbeddedPostgres(Path(sys.argv[1]), int(sys.argv[2]), password=sys.argv[3]).start()"
    )
    subprocess.run(
        [sys.executable, "-c", starter, str(data_dir), str(port), PASSWORD],
        check=True,
        timeout=60,
    )
    # A new object for the same directory finds the server and can stop it.
    server = EmbeddedPostgres(data_dir, port, password=PASSWORD)
    try:
        assert server.running()
        assert _fetchval(server.admin_dsn, "select 1") == 1
    finally:
        server.stop()
    assert not server.running()


def test_stop_is_idempotent(server: EmbeddedPostgres) -> None:
    server.stop()
    server.stop()
    assert not server.running()


def test_a_stopped_server_starts_again_with_its_data(server: EmbeddedPostgres) -> None:
    _execute(server.admin_dsn, "create table kept (n int); insert into kept values (42)")
    first_pid = server.pid
    server.stop()

    server.start()

    assert server.pid != first_pid
    assert _fetchval(server.admin_dsn, "select n from kept") == 42


def test_a_taken_port_fails_with_the_server_log_in_the_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()  # only a listening socket blocks a SO_REUSEADDR bind on Linux
        port = squatter.getsockname()[1]
        server = EmbeddedPostgres(tmp_path / "data", port, password=PASSWORD)

        with pytest.raises(RuntimeError) as failure:
            server.start()

    message = str(failure.value)
    assert f"127.0.0.1:{port} (port already in use)" in message
    assert "Address already in use" in message  # from the server log
    assert str(server.log_file) in message
    assert not server.running()


def test_a_long_data_dir_path_puts_the_socket_in_tmp(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 40) / "data"
    server = EmbeddedPostgres(data_dir, free_port(), password=PASSWORD)
    assert server.socket_dir.parent == Path("/tmp")
    server.start()
    try:
        assert _fetchval(server.admin_dsn, "select 1") == 1
    finally:
        server.stop()


def test_a_non_empty_directory_that_is_not_a_cluster_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    server = EmbeddedPostgres(tmp_path / "data", free_port(), password=PASSWORD)
    with pytest.raises(RuntimeError, match="neither empty nor a PostgreSQL data directory"):
        server.start()
    assert (tmp_path / "data" / "notes.txt").read_text() == "mine"


def test_the_password_must_be_a_single_non_empty_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="single line"):
        EmbeddedPostgres(tmp_path, 5432, password="two\nlines")
    with pytest.raises(ValueError, match="single line"):
        EmbeddedPostgres(tmp_path, 5432, password="")


def test_the_repr_does_not_show_the_password(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path, 5432, password="hunter2")
    assert "hunter2" not in repr(server)
    assert "hunter2" in server.admin_dsn


def test_without_binaries_on_path_the_pgserver_ones_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = pg.find_binaries()
    assert found.parts[-3:] == ("pgserver", "pginstall", "bin")
    assert all((found / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def test_binaries_on_path_are_resolved_to_their_real_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pg.find_binaries()
    links = tmp_path / "bin"
    links.mkdir()
    for name in ("initdb", "pg_ctl"):
        (links / name).symlink_to(real / name)
    monkeypatch.setenv("PATH", str(links))
    assert pg.find_binaries() == real.resolve()


def test_without_any_binaries_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "_pgserver_binaries", lambda: None)
    with pytest.raises(RuntimeError, match="pip install pgserver"):
        pg.find_binaries()
