"""Embedded, throwaway PostgreSQL for docpipe: initdb + pg_ctl on a private data directory.

The server listens on 127.0.0.1 only, with scram-sha-256 password auth over TCP; its unix socket
lives in a private (0700) directory, where ``trust`` auth is safe because only the server's own
user (and root) can reach it.

PostgreSQL refuses to run as root. As root, every PostgreSQL program runs as an unprivileged user
instead: ``postgres`` if the system has one, else a system user ``docpipe-pg`` created on first
use. The switch is done by ``subprocess`` itself (setgroups/setgid/setuid in the child before
exec), so neither util-linux's runuser/setpriv nor a PAM session is needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import math
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO
from urllib.parse import quote

import psutil

__all__ = ["SYSTEM_USER", "EmbeddedPostgres", "find_binaries"]

SYSTEM_USER = "docpipe-pg"  # created when running as root and there is no "postgres" user
_PROGRAMS = ("initdb", "pg_ctl", "postgres")
# sun_path is 108 bytes on Linux and 104 on macOS; stay clear of both.
_SOCKET_PATH_LIMIT = 100
_LOG_TAIL_LINES = 25


def find_binaries() -> Path:
    """The directory holding initdb, pg_ctl and postgres.

    The system's PostgreSQL when ``pg_ctl`` and ``initdb`` are on PATH (symlinks resolved, e.g.
    to Debian's /usr/lib/postgresql/NN/bin), else the binaries bundled with the pgserver package.
    """
    pg_ctl, initdb = shutil.which("pg_ctl"), shutil.which("initdb")
    if pg_ctl is not None and initdb is not None:
        directory = Path(pg_ctl).resolve().parent
        # A wrapper script on PATH (Debian's pg_wrapper) resolves elsewhere: then look further.
        if _has_programs(directory):
            return directory
    bundled = _pgserver_binaries()
    if bundled is not None:
        return bundled
    raise RuntimeError(
        "no PostgreSQL binaries found: put initdb and pg_ctl on PATH (e.g. install the "
        "postgresql package) or `pip install pgserver`, which bundles them"
    )


def _has_programs(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in _PROGRAMS)


def _pgserver_binaries() -> Path | None:
    # find_spec locates the package without importing it: importing pgserver has side effects
    # (a platformdirs warning where XDG_RUNTIME_DIR is unset), and we only need its files.
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.submodule_search_locations is None:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if _has_programs(candidate):
            return candidate
    return None


@dataclasses.dataclass(frozen=True)
class _ServerUser:
    """The unprivileged account PostgreSQL runs as when we are root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def _server_user() -> _ServerUser | None:
    """None when not root (PostgreSQL then runs as us), else the account to switch to."""
    if os.geteuid() != 0:
        return None
    import pwd  # POSIX only; imported here so the module imports anywhere

    entry: pwd.struct_passwd | None = None
    for name in ("postgres", SYSTEM_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            break
    if entry is None:
        command = [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError as exc:
            raise RuntimeError(
                f"running as root, PostgreSQL needs an unprivileged user, but {command[0]!r} "
                f"failed ({exc}); create a 'postgres' or {SYSTEM_USER!r} user"
            ) from exc
        try:
            # Looked up even when useradd failed: a concurrent start may have created it.
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise RuntimeError(
                f"could not create system user {SYSTEM_USER!r} to run PostgreSQL as: "
                f"{result.stderr.strip() or f'useradd exited {result.returncode}'}"
            ) from None
    return _ServerUser(
        name=entry.pw_name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        groups=tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)),
    )


def _make_traversable(path: Path, user: _ServerUser) -> None:
    """Let ``user`` traverse (not list) every ancestor of ``path``.

    Needed for e.g. pytest's /tmp/pytest-of-root, which is 0700. Adds only the execute bit, and
    only where it is missing.
    """
    ancestors = {*path.absolute().parents, *path.resolve().parents}
    for directory in ancestors:
        info = directory.stat()
        # Unix checks group bits instead of other bits when the group matches.
        bit = stat.S_IXGRP if info.st_gid in user.groups else stat.S_IXOTH
        if info.st_uid != user.uid and not info.st_mode & bit:
            directory.chmod(stat.S_IMODE(info.st_mode) | bit)


def _chown_tree(path: Path, user: _ServerUser) -> None:
    os.chown(path, user.uid, user.gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)


class EmbeddedPostgres:
    """A PostgreSQL server on ``127.0.0.1:port`` with its data in ``data_dir``.

    ``start()`` runs initdb first when ``data_dir`` is empty; the server outlives this object
    and this process (it is detached from the terminal) until ``stop()``.
    """

    def __init__(self, data_dir: Path, port: int, *, password: str) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if not password or "\n" in password or "\r" in password:
            # initdb --pwfile reads the first line only.
            raise ValueError("password must be non-empty and a single line")
        self.data_dir = data_dir.absolute()
        self.port = port
        self._password = password

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, port={self.port})"

    @property
    def admin_dsn(self) -> str:
        password = quote(self._password, safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """The unix socket's directory: beside the data dir, or in /tmp if that is too long."""
        candidate = self.data_dir.parent / f"{self.data_dir.name}.sock"
        if len(str(candidate / f".s.PGSQL.{self.port}")) < _SOCKET_PATH_LIMIT:
            return candidate
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"docpipe-pg-{digest}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid according to postmaster.pid (which may be stale: see running())."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self._postmaster() is not None

    def _postmaster(self) -> psutil.Process | None:
        pid = self.pid
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            # A stale pid file may name a pid reused by an unrelated process.
            alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
        except psutil.Error:
            return None
        return process if alive else None

    # -- start -------------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        """initdb if needed, then start the server and wait until it accepts connections.

        Raises RuntimeError (with the end of the server log) if it does not come up.
        """
        deadline = time.monotonic() + timeout
        if self.running():
            self._check_running_port()
            return
        bindir = find_binaries()
        user = _server_user()
        self._prepare_directories(user)
        if (self.data_dir / "PG_VERSION").exists():
            self._check_version(bindir, user)
        else:
            self._initdb(bindir, user, deadline)

        self._remove_stale_pid_file()
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {shlex.quote(str(self.socket_dir))}",
            # A throwaway dev/test database: surviving an OS crash is not worth the fsyncs.
            "-c fsync=off",
            "-c max_connections=100",
        ]
        remaining = max(deadline - time.monotonic(), 1.0)
        command = [
            str(bindir / "pg_ctl"),
            *("-D", str(self.data_dir)),
            *("-l", str(self.log_file)),
            "-w",
            *("-t", str(math.ceil(remaining))),
            *("-o", " ".join(options)),
            "start",
        ]
        try:
            # A new session: the postmaster must not get the terminal's SIGHUP or Ctrl-C.
            returncode, output = _run(command, user, remaining + 10, new_session=True)
        except subprocess.TimeoutExpired:
            returncode, output = -1, "pg_ctl did not return"
        if returncode != 0:
            # pg_ctl -w gave up, but a slow postmaster may still come up: don't leave it behind.
            with contextlib.suppress(Exception):
                self.stop(timeout=10)
            log_tail = self._log_tail(log_offset)
            cause = " (port already in use)" if "Address already in use" in log_tail else ""
            raise RuntimeError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port}{cause}, data dir "
                f"{self.data_dir}; pg_ctl: {output.strip() or f'exit {returncode}'}\n"
                f"last lines of {self.log_file}:\n{log_tail}"
            )

    def _remove_stale_pid_file(self) -> None:
        """Remove postmaster.pid if no live postmaster has its pid (call only when not running).

        The postmaster's own stale-lock check treats a zombie as alive, and a killed postmaster
        stays a zombie until init reaps it, which some container inits do slowly.
        """
        if self.pid is not None and self._postmaster() is None:
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _check_running_port(self) -> None:
        # postmaster.pid line 4 is the port: an already running server must be the one we mean.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            port = int(lines[3])
        except (OSError, ValueError, IndexError):
            return
        if port != self.port:
            raise RuntimeError(
                f"PostgreSQL on {self.data_dir} is already running on port {port}, "
                f"not {self.port}; stop it first"
            )

    def _prepare_directories(self, user: _ServerUser | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if user is not None:
            _make_traversable(self.data_dir, user)
            if self.data_dir.stat().st_uid != user.uid:
                _chown_tree(self.data_dir, user)
        # The postmaster refuses a data dir that others can read.
        self.data_dir.chmod(0o700)

        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        info = socket_dir.lstat()
        owner = os.geteuid() if user is None else user.uid
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (owner, os.geteuid()):
            # E.g. someone else pre-created the /tmp fallback name: don't use their directory.
            raise RuntimeError(f"socket directory {socket_dir} exists but is not ours")
        if user is not None:
            os.chown(socket_dir, user.uid, user.gid)
        socket_dir.chmod(0o700)

    def _check_version(self, bindir: Path, user: _ServerUser | None) -> None:
        data_version = (self.data_dir / "PG_VERSION").read_text().strip()
        _, output = _run([str(bindir / "postgres"), "--version"], user, 30)
        match = re.search(r"\)\s*(\d+)", output)
        if match is not None and match.group(1) != data_version:
            raise RuntimeError(
                f"{self.data_dir} was initialised by PostgreSQL {data_version}, but the binaries "
                f"in {bindir} are version {match.group(1)}; it is a throwaway database, so "
                "delete the directory to start afresh"
            )

    def _initdb(self, bindir: Path, user: _ServerUser | None, deadline: float) -> None:
        if any(self.data_dir.iterdir()):
            raise RuntimeError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory (no PG_VERSION)"
            )
        # The password goes through a file, not argv (visible in ps). The socket dir is private
        # and owned by the server user, so it is a safe place for it.
        fd, pwfile = tempfile.mkstemp(dir=self.socket_dir, prefix="pwfile-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self._password + "\n")
            if user is not None:
                os.chown(pwfile, user.uid, user.gid)
            command = [
                str(bindir / "initdb"),
                *("-D", str(self.data_dir)),
                *("-U", "postgres"),
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                *("-E", "UTF8"),
                "--locale=C",
                # Same reasoning as fsync=off: nothing here needs to survive an OS crash.
                "--no-sync",
            ]
            try:
                returncode, output = _run(
                    command, user, max(deadline - time.monotonic(), 5.0), new_session=False
                )
            except subprocess.TimeoutExpired:
                returncode, output = -1, "initdb timed out"
        finally:
            Path(pwfile).unlink(missing_ok=True)
        if returncode != 0:
            raise RuntimeError(f"initdb failed for {self.data_dir}:\n{_tail(output)}")

    def _log_tail(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return _tail(text) or "(empty)"

    # -- stop --------------------------------------------------------------------------------

    def stop(self, timeout: float = 30) -> None:
        """Stop the server (fast shutdown, then immediate, then SIGKILL); no-op if not running.

        Returns only once the postmaster and all of its children are gone.
        """
        deadline = time.monotonic() + timeout
        postmaster = self._postmaster()
        if postmaster is not None:
            self._stop(postmaster, deadline)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _stop(self, postmaster: psutil.Process, deadline: float) -> None:
        family = _family(postmaster)
        user = _server_user()
        try:
            pg_ctl: Path | None = find_binaries() / "pg_ctl"
        except RuntimeError:
            pg_ctl = None
        stopped = False
        # Fast mode gets most of the budget; immediate (no checkpoint) is the fallback.
        for mode, share in (("fast", 0.7), ("immediate", 1.0)):
            remaining = deadline - time.monotonic()
            if pg_ctl is None or remaining <= 0:
                break
            budget = max(remaining * share, min(remaining, 1.0))
            command = [
                str(pg_ctl),
                *("-D", str(self.data_dir)),
                *("-m", mode),
                "-w",
                *("-t", str(math.ceil(budget))),
                "stop",
            ]
            with contextlib.suppress(subprocess.TimeoutExpired, RuntimeError):
                if _run(command, user, budget + 5)[0] == 0:
                    stopped = True
                    break
        # pg_ctl -w only watched postmaster.pid: make sure no process is left. After a clean stop
        # they are gone already (the postmaster outlives its children); otherwise, SIGKILL.
        family = _unique([*family, *_family(postmaster)])
        alive = _wait_gone(family, 2.0 if stopped else 0.0)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        alive = _wait_gone(alive, 5)
        if alive:
            raise RuntimeError(
                f"PostgreSQL processes {[p.pid for p in alive]} survived stop() and SIGKILL"
            )
        self._remove_stale_pid_file()


def _family(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def _unique(processes: list[psutil.Process]) -> list[psutil.Process]:
    return list({p.pid: p for p in processes}.values())


def _is_live(process: psutil.Process) -> bool:
    """Running and not a zombie. A zombie has exited: only its parent (often init, which may
    reap slowly) can remove it, so waiting for its pid to vanish would measure init, not us."""
    try:
        if process.status() != psutil.STATUS_ZOMBIE:
            return process.is_running()
    except psutil.Error:
        return False
    # Ours to reap if we are its parent (e.g. we are pid 1 in a container).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(process.pid, os.WNOHANG)
    return False


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until none of ``processes`` is live or ``timeout`` passes; return the live ones."""
    deadline = time.monotonic() + timeout
    interval = 0.005
    while True:
        alive = [p for p in processes if _is_live(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
        interval = min(interval * 2, 0.1)


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_LOG_TAIL_LINES:])


def _clean_env() -> dict[str, str]:
    # PG* variables (PGDATA, PGPORT, PGHOST, ...) from the caller's shell must not redirect
    # initdb or pg_ctl to another cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"  # the caller's locale may not exist for the server user
    return env


def _run(
    command: list[str], user: _ServerUser | None, timeout: float, *, new_session: bool = False
) -> tuple[int, str]:
    """Run a PostgreSQL program (as ``user`` when given); return its exit code and output.

    Output goes to a temporary file, not a pipe: a pipe would stay open in any daemon the
    program leaves behind, and reading it to EOF would hang.
    """
    with tempfile.TemporaryFile("w+") as output:
        try:
            completed = _spawn(command, user, timeout, new_session, output)
        except OSError as exc:
            who = "us" if user is None else f"user {user.name!r}"
            raise RuntimeError(
                f"could not run {command[0]} as {who} ({exc}); the PostgreSQL binaries and "
                "every directory above them must be readable and executable by that user"
            ) from exc
        output.seek(0)
        return completed.returncode, output.read()


def _spawn(
    command: list[str],
    user: _ServerUser | None,
    timeout: float,
    new_session: bool,
    output: IO[str],
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        # The server user may not be allowed into our working directory.
        cwd="/",
        env=_clean_env(),
        start_new_session=new_session,
        user=None if user is None else user.uid,
        group=None if user is None else user.gid,
        # Without extra_groups the child would keep root's supplementary groups.
        extra_groups=None if user is None else list(user.groups),
        check=False,
        text=True,
    )
