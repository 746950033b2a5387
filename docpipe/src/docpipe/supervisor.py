"""The supervisor: one process that owns every docpipe component of a deployment.

``docpipe up`` starts it detached; it starts PostgreSQL (embedded unless a DSN is given), the
parser and embedder stand-ins, the API and the workers as its children, restarts a child that
crashes, and on SIGHUP performs the deployment described in ``deploy-request.json``. On SIGUSR1
it pauses or resumes one dependency as ``control-request.json`` asks (``docpipe.pausing``); a
paused component is not restarted, and a deployment or a stop resumes everything first. On
SIGTERM it stops everything and exits. Children get PR_SET_PDEATHSIG, so even a supervisor
killed with SIGKILL takes the Python components with it; ``docpipe down`` stops PostgreSQL in
that case.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import traceback
import urllib.parse
from pathlib import Path
from typing import IO, Any

import asyncpg
import psutil

from . import RELEASES, schema
from .faults import Faults
from .home import DEFAULT_PORTS, KEY_ROLES, TENANT_NAMES, Credentials, Home, read_json, write_json
from .net import wait_for_http
from .pausing import (
    MODES,
    PauseError,
    continue_processes,
    control_file,
    freeze_processes,
    restore_storage,
    take_storage_away,
)

__all__ = ["Component", "Supervisor", "main"]

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
MAX_RESTARTS = 5
EXPIRING_CERT_DAYS = 3.0
CERT_DAYS = 365.0
_PR_SET_PDEATHSIG = 1
_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD}


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGTERM us when the
    # supervisor dies, whatever way it dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


@dataclasses.dataclass
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log_handle: IO[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Kept open for the child's whole life; closed in stop().
        self._log_handle = open(self.log, "ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()


@dataclasses.dataclass
class Deployment:
    revision: int
    release: str
    faults: str
    kind: str  # "up" | "deploy" | "rollback"
    at: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Supervisor:
    def __init__(
        self,
        home: Home,
        *,
        release: str,
        faults: Faults,
        workers: int,
        ports: dict[str, int],
        dsn: str | None,
    ) -> None:
        self.home = home
        self.credentials: Credentials = home.credentials()
        self.workers = workers
        self.ports = ports
        self.external_dsn = dsn
        self.postgres: Any = None  # EmbeddedPostgres when embedded
        self.components: dict[str, Component] = {}
        self.history: list[Deployment] = [Deployment(1, release, faults.spec(), "up", _now())]
        self.last_error: str | None = None
        self.status = "starting"
        self.paused: dict[str, str] = {}  # dependency -> how (pausing.MODES)
        self.control_id: str | None = None
        self.control_error: str | None = None

    # --- the deployment -------------------------------------------------------------------

    @property
    def current(self) -> Deployment:
        return self.history[-1]

    def owner_dsn(self) -> str:
        if self.external_dsn is not None:
            return self.external_dsn
        return f"postgresql://postgres:{_q(self.credentials.postgres_password)}@127.0.0.1:{self.ports['postgres']}/docpipe"

    def role_dsn(self, role: str, password: str) -> str:
        parts = urllib.parse.urlsplit(self.owner_dsn())
        host = parts.netloc.rsplit("@", 1)[-1]
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{role}:{_q(password)}@{host}"))

    def start_database(self) -> None:
        if self.external_dsn is not None:
            return
        from .pg import EmbeddedPostgres

        self.postgres = EmbeddedPostgres(
            self.home.pg_dir, self.ports["postgres"], password=self.credentials.postgres_password
        )
        self.postgres.start()
        asyncio.run(self._create_database(self.postgres.admin_dsn))

    @staticmethod
    async def _create_database(admin_dsn: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            if not await conn.fetchval("select 1 from pg_database where datname = 'docpipe'"):
                await conn.execute("create database docpipe")
        finally:
            await conn.close()

    async def _prepare_schema(self, faults: Faults, release: str) -> int:
        target = RELEASES[release] - (1 if "migration_behind" in faults else 0)
        conn = await asyncpg.connect(self.owner_dsn(), timeout=10)
        try:
            await schema.ensure_roles(
                conn, self.credentials.app_password, self.credentials.monitor_password
            )
            version = await schema.migrate(conn, target)
            keys = {self.credentials.api_keys[name]: KEY_ROLES[name] for name in KEY_ROLES}
            await schema.seed_api_keys(conn, TENANT_NAMES, keys)
            # The data-damaging faults act once, as the release starts (a bad migration).
            lose = faults.value("lose_rows") if "lose_rows" in faults else 0.0
            corrupt = faults.value("corrupt_rows") if "corrupt_rows" in faults else 0.0
            if lose or corrupt:
                lost, altered = await schema.damage_documents(conn, lose, corrupt)
                print(
                    f"supervisor: release {release} deleted {lost} and altered {altered} "
                    "documents rows (faults lose_rows, corrupt_rows)",
                    flush=True,
                )
            return version
        finally:
            await conn.close()

    def prepare_tls(self, faults: Faults) -> Any:
        from .tls import make_tls

        days = EXPIRING_CERT_DAYS if "cert_expiring" in faults else CERT_DAYS
        return make_tls(self.home.tls_dir, valid_days=days)

    def component_env(self, release: str, faults: Faults) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCPIPE_")}
        env.update(
            {
                "DOCPIPE_APP_DSN": self.role_dsn(schema.APP_ROLE, self.credentials.app_password),
                "DOCPIPE_RELEASE": release,
                "DOCPIPE_FAULTS": faults.spec(),
                "DOCPIPE_STORAGE_DIR": str(self.home.storage_dir),
                "DOCPIPE_PARSER_URL": f"http://127.0.0.1:{self.ports['parser']}",
                "DOCPIPE_EMBEDDER_URL": f"http://127.0.0.1:{self.ports['embedder']}",
                "DOCPIPE_JWT_SECRET": self.credentials.jwt_secret,
                "DOCPIPE_SERVICE_KEY": self.credentials.service_key,
                "DOCPIPE_TLS": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in (
            "DOCPIPE_RETENTION_DAYS",
            "DOCPIPE_RETENTION_INTERVAL_S",
            "DOCPIPE_HEARTBEAT_S",
            "DOCPIPE_WORKER_POLL_S",
        ):
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def build_components(self, release: str, faults: Faults, tls: Any) -> dict[str, Component]:
        env = self.component_env(release, faults)
        py = sys.executable
        logs = self.home.log_dir
        host = ["--host", "127.0.0.1"]
        components = {
            "parser": Component(
                "parser",
                [py, "-m", "docpipe.stubs.parser", *host, "--port", str(self.ports["parser"])],
                env,
                logs / "parser.log",
            ),
            "embedder": Component(
                "embedder",
                [py, "-m", "docpipe.stubs.embedder", *host, "--port", str(self.ports["embedder"])],
                env,
                logs / "embedder.log",
            ),
            "api": Component(
                "api",
                [
                    py,
                    "-m",
                    "docpipe.api",
                    *host,
                    "--port",
                    str(self.ports["api"]),
                    "--certfile",
                    str(tls.cert_file),
                    "--keyfile",
                    str(tls.key_file),
                ],
                env,
                logs / "api.log",
            ),
        }
        for n in range(1, self.workers + 1):
            name = f"worker-{n}"
            components[name] = Component(
                name, [py, "-m", "docpipe.worker", "--id", name], env, logs / f"{name}.log"
            )
        return components

    def roll_out(self, release: str, faults: Faults) -> None:
        """Migrate, issue TLS material, (re)start every component, wait for the API."""
        asyncio.run(self._prepare_schema(faults, release))
        tls = self.prepare_tls(faults)
        for component in reversed(list(self.components.values())):
            component.stop()
        self.components = self.build_components(release, faults, tls)
        for component in self.components.values():
            component.start()
        wait_for_http(
            f"https://127.0.0.1:{self.ports['api']}/health",
            timeout=HEALTH_TIMEOUT_S,
            verify=str(tls.ca_file),
        )

    # --- state ----------------------------------------------------------------------------

    def write_state(self, request_id: str | None = None) -> None:
        credentials = self.home.credentials_file
        write_json(
            self.home.state_file,
            {
                "status": self.status,
                "supervisor_pid": os.getpid(),
                "request_id": request_id,
                "last_error": self.last_error,
                "release": self.current.release,
                "faults": self.current.faults,
                "revision": self.current.revision,
                "history": [d.to_json() for d in self.history],
                "ports": self.ports,
                "urls": {
                    "api": f"https://127.0.0.1:{self.ports['api']}",
                    "parser": f"http://127.0.0.1:{self.ports['parser']}",
                    "embedder": f"http://127.0.0.1:{self.ports['embedder']}",
                },
                "ca_file": str(self.home.tls_dir / "ca.pem"),
                "credentials_file": str(credentials),
                "database": {
                    "embedded": self.external_dsn is None,
                    "data_dir": str(self.home.pg_dir) if self.external_dsn is None else None,
                    "postgres_pid": self.postgres.pid if self.postgres is not None else None,
                },
                "components": {
                    name: {"pid": c.pid, "restarts": c.restarts, "log": str(c.log)}
                    for name, c in self.components.items()
                },
                "storage_dir": str(self.home.storage_dir),
                "paused": self.paused,
                "control_id": self.control_id,
                "control_error": self.control_error,
            },
        )

    # --- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            self.start_database()
            self.roll_out(self.current.release, Faults.parse([self.current.faults]))
        except Exception as exc:
            self.status, self.last_error = "failed", _one_line(exc)
            traceback.print_exc()
            self.write_state()
            self.shutdown()
            return 1
        self.status = "up"
        self.write_state()
        while True:
            info = signal.sigtimedwait(list(_SIGNALS), 1.0)
            if info is None or info.si_signo == signal.SIGCHLD:
                self.reap()
            elif info.si_signo == signal.SIGHUP:
                self.deploy()
            elif info.si_signo == signal.SIGUSR1:
                self.control()
            else:
                self.status = "stopping"
                self.write_state()
                self.shutdown()
                self.status = "down"
                self.write_state()
                return 0

    def reap(self) -> None:
        """Restart a component that died (as an orchestrator would), a few times at most."""
        for component in self.components.values():
            code = component.exited()
            if code is None or self.status != "up" or component.name in self.paused:
                continue
            if component.restarts >= MAX_RESTARTS:
                continue
            print(f"supervisor: {component.name} exited with {code}; restarting", flush=True)
            component.stop()
            component.restarts += 1
            component.start()
            self.write_state()

    def deploy(self) -> None:
        request = read_json(self.home.request_file) or {}
        request_id = request.get("id")
        try:
            release = request["release"]
            faults = Faults.parse([request.get("faults", "")])
            if release not in RELEASES:
                raise ValueError(f"unknown release {release!r}")
            self.status = "deploying"
            self.write_state(request_id)
            self.resume_all()  # a release is rolled out onto the whole deployment
            self.roll_out(release, faults)
        except Exception as exc:
            traceback.print_exc()
            self.status, self.last_error = "up", _one_line(exc)
            self.write_state(request_id)
            return
        self.history.append(
            Deployment(
                self.current.revision + 1,
                release,
                faults.spec(),
                str(request.get("kind", "deploy")),
                _now(),
            )
        )
        self.status, self.last_error = "up", None
        self.write_state(request_id)

    # --- pause and resume -----------------------------------------------------------------

    def control(self) -> None:
        """Pause or resume one dependency as ``control-request.json`` asks; the outcome goes in
        the state file under the request's id."""
        request = read_json(control_file(self.home.root)) or {}
        self.control_id, self.control_error = request.get("id"), None
        try:
            name, mode = str(request.get("component")), str(request.get("mode", "stop"))
            if request.get("action") == "pause":
                self.pause(name, mode)
            elif request.get("action") == "resume":
                self.resume(name)
            else:
                raise PauseError(f"unknown action {request.get('action')!r}")
        except PauseError as exc:  # reported to the CLI that asked
            self.control_error = str(exc)
        except Exception as exc:  # the same, with the trace in the log; the supervisor goes on
            traceback.print_exc()
            self.control_error = _one_line(exc)
        self.write_state()

    def pausable(self) -> list[str]:
        names = ["storage", *self.components]
        return ["database", *names] if self.postgres is not None else names

    def pause(self, name: str, mode: str) -> None:
        if mode not in MODES:
            raise PauseError(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
        if name not in self.pausable():
            raise PauseError(
                f"cannot pause {name!r}; expected one of: {', '.join(self.pausable())}"
            )
        if name in self.paused:
            raise PauseError(f"{name} is paused already ({self.paused[name]})")
        if self.status != "up":
            raise PauseError(f"the deployment is {self.status}, not up")
        if name == "storage":
            if mode == "freeze":
                raise PauseError("storage has no process to freeze; pause it with stop")
            take_storage_away(self.home.storage_dir)
        elif mode == "freeze":
            freeze_processes(self._processes(name))
        elif name == "database":
            self.postgres.stop()
        else:
            self.components[name].stop()
        self.paused[name] = mode
        print(f"supervisor: paused {name} ({mode})", flush=True)

    def resume(self, name: str) -> None:
        mode = self.paused.get(name)
        if mode is None:
            paused = ", ".join(self.paused) or "nothing"
            raise PauseError(f"{name} is not paused (paused: {paused})")
        if name == "storage":
            restore_storage(self.home.storage_dir)
        elif mode == "freeze":
            continue_processes(self._processes(name))
        elif name == "database":
            self.postgres.start()
        else:
            self.components[name].start()
        del self.paused[name]  # started: from now on the reaper restarts it if it dies
        print(f"supervisor: resumed {name}", flush=True)
        if mode == "stop":
            self._wait_until_serving(name)

    def _wait_until_serving(self, name: str) -> None:
        """After a restart: until the component answers its /health (the services), bounded."""
        if name in ("parser", "embedder"):
            wait_for_http(f"http://127.0.0.1:{self.ports[name]}/health", timeout=HEALTH_TIMEOUT_S)
        elif name == "api":
            wait_for_http(
                f"https://127.0.0.1:{self.ports['api']}/health",
                timeout=HEALTH_TIMEOUT_S,
                verify=str(self.home.tls_dir / "ca.pem"),
            )

    def resume_all(self) -> None:
        for name in list(self.paused):
            self.resume(name)

    def _processes(self, name: str) -> list[psutil.Process]:
        """The processes of a component, a parent before its children."""
        pid = self.postgres.pid if name == "database" else self.components[name].pid
        if pid is None:
            raise PauseError(f"{name} has no process")
        try:
            parent = psutil.Process(pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            raise PauseError(f"{name} (pid {pid}) is not running") from None

    def shutdown(self) -> None:
        try:
            self.resume_all()  # a frozen process would not act on SIGTERM
        except Exception:
            traceback.print_exc()  # stop what can be stopped anyway
        for component in reversed(list(self.components.values())):
            component.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docpipe.supervisor")
    parser.add_argument("--home", required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--faults", default="")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dsn", default=None)
    for name in DEFAULT_PORTS:
        parser.add_argument(f"--{name}-port", type=int, required=True)
    args = parser.parse_args(argv)
    home = Home(Path(args.home))
    supervisor = Supervisor(
        home,
        release=args.release,
        faults=Faults.parse([args.faults]),
        workers=args.workers,
        ports={name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS},
        dsn=args.dsn,
    )
    started = time.monotonic()
    code = supervisor.run()
    print(f"supervisor: exited after {time.monotonic() - started:.1f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
