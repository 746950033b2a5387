"""Running prodval-gate in tests: the script, a fake project, and reading what a run left.

The fake project is a real pytest project with its own prodval.yaml, baseline and two checks
whose outcome the test controls through files in ``control/``; the target is a tiny HTTP
server in the test process. pytest, the plugin and the gate are all real: only the checks are
stand-ins, so the gate's own decisions (exit codes, rollback, record) are what is under test.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from pytest_prodval.baseline.store import Provenance, write_merged

ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / "scripts" / "prodval-gate"
SECRET = "fake-secret-api-key-9876"
GATE_TIMEOUT_S = 90

CHECKS = """
import signal
import time
from pathlib import Path

import pytest

CONTROL = Path(__file__).parent / "control"


def mode(name):
    path = CONTROL / name
    return path.read_text().strip() if path.exists() else "pass"


@pytest.mark.security
def test_the_release_behaves(target):
    behaviour = mode("suites")
    if behaviour == "fail":
        key = target.credentials["viewer"].api_key
        pytest.fail(f"the release misbehaves (it answered with the key {key})")
    if behaviour in ("block", "stubborn"):
        if behaviour == "stubborn":  # ignores SIGINT: only SIGKILL ends it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        (CONTROL / "started").touch()
        deadline = time.monotonic() + 60
        while not (CONTROL / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.mark.application
def test_the_deployment_is_healthy():
    assert mode("verify") == "pass", "the deployment is unhealthy"
"""

CONFIG = """
environments:
  fake:
    api:
      base_url: {url}
    default_role: viewer
    credentials:
      viewer:
        api_key: ${{FAKE_VIEWER_KEY:-{secret}}}
"""

# Plugins the fake checks do not use are off: each gate run starts pytest three times.
INI = """
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider -p no:hypothesispytest -p no:locust -p no:allure_pytest -p no:anyio
prodval_gate_verify = -m application -k 'not expected_release'
markers =
    security: the project's security suite
    application: the project's application suite
"""


class _Handler(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_GET(self) -> None:
        self._answer(200, {"release": "1"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.posts.append((self.path, json.loads(self.rfile.read(length))))
        self._answer(200, {"ok": True})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeTarget:
    """An HTTP server in a thread: answers GET /version, keeps every POST (notifications)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.posts = _Handler.posts
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTarget:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Project:
    """A directory the gate runs in: prodval.yaml, a baseline, the checks, control files."""

    def __init__(self, path: Path, target_url: str) -> None:
        self.path = path
        self.control = path / "control"
        self.control.mkdir(parents=True)
        (path / "pytest.ini").write_text(INI)
        (path / "prodval.yaml").write_text(CONFIG.format(url=target_url, secret=SECRET))
        (path / "test_release.py").write_text(CHECKS)
        provenance = Provenance("fake", "2026-01-01T00:00:00+00:00", "1", "0.1.0", None)
        write_merged(path / "baselines" / "fake.json", {}, provenance)
        self.rollbacks = path / "rollbacks.log"

    def set(self, name: str, value: str) -> None:
        (self.control / name).write_text(value)

    def rollback_command(self, then: str = "") -> str:
        """Appends a line per run to rollbacks.log and prints a secret, then runs ``then``."""
        log = shlex.quote(str(self.rollbacks))
        command = f"echo rolled-back >> {log}; echo 'helm: using token {SECRET}'"
        return f"{command}; {then}" if then else command

    def rollback_count(self) -> int:
        return len(self.rollbacks.read_text().splitlines()) if self.rollbacks.exists() else 0

    def records(self) -> list[Path]:
        return sorted((self.path / "reports" / "gate").glob("*.json"))

    def record(self) -> dict[str, Any]:
        records = self.records()
        assert len(records) == 1, records
        data: dict[str, Any] = json.loads(records[0].read_text())
        return data


def runtime_dir(cwd: Path) -> Path:
    """The XDG_RUNTIME_DIR of the gates run in ``cwd``: their default lock dir is in it."""
    return cwd.parent / "xdg-runtime"


def gate_env(cwd: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PRODVAL_GATE_PYTHON": sys.executable, "PRODVAL_GATE_PROBE_S": "5"}
    env.pop("PRODVAL_GATE_LOCK_DIR", None)  # the default lock, keyed on config and env
    env["XDG_RUNTIME_DIR"] = str(runtime_dir(cwd))  # ... in the test's own directory
    env.update(extra or {})
    return env


def gate_args(
    project: Project, *args: str, rollback: str | None = None, env: str = "fake"
) -> list[str]:
    return [
        "bash",
        str(GATE),
        "--env",
        env,
        "--baseline",
        "baselines/fake.json",
        "--rollback",
        rollback if rollback is not None else project.rollback_command(),
        *args,
    ]


def local_gate_argv(config: Path, rollback: str, checks: list[str], *args: str) -> list[str]:
    """The gate against the ``local`` environment of ``config`` (a real docpipe), compared with
    the committed baseline, running ``checks``."""
    return [
        "bash",
        str(GATE),
        "--env",
        "local",
        "--config",
        str(config),
        "--baseline",
        str(ROOT / "baselines/local.json"),
        "--rollback",
        rollback,
        *args,
        "--",
        *checks,
    ]


def run_gate(
    cwd: Path, argv: list[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=gate_env(cwd, env),
        capture_output=True,
        text=True,
        timeout=GATE_TIMEOUT_S,
        check=False,
    )


def start_gate(
    cwd: Path, argv: list[str], env: Mapping[str, str] | None = None, *, group: bool = False
) -> Any:
    """The gate in the background; ``group``: in a process group of its own (that a test can
    signal whole, as a terminal's Ctrl-C or a CI runner's cancel does)."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=gate_env(cwd, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=group,
    )


def wait_for(path: Path, process: Any, seconds: float = 30) -> None:
    """Poll (bounded) until ``path`` exists; fail early if the gate exited first."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the gate exited {process.returncode}: {process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds} s")
        time.sleep(0.05)


class RunningGate:
    """A gate started in the background whose output is read as it comes, line by line.

    Tests synchronise on events: a line the gate prints (``wait_line``) or a marker file a
    phase's child writes (``wait_file``), each with a bounded deadline, never on a sleep.
    """

    def __init__(
        self,
        cwd: Path,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        *,
        group: bool = False,
    ) -> None:
        self.process = start_gate(cwd, argv, env, group=group)
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_line(self, text: str, seconds: float = 30) -> None:
        """Wait until the gate printed a line containing ``text``."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    how = "exited" if self._closed else f"ran {seconds} s"
                    raise AssertionError(f"the gate {how} without printing {text!r}: {self.lines}")
                self._changed.wait(left)

    def wait_file(self, path: Path, seconds: float = 30) -> None:
        """Poll (bounded) until ``path`` exists; fail early if the gate exited first."""
        deadline = time.monotonic() + seconds
        while not path.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"the gate exited {self.process.returncode}: {self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} did not appear within {seconds} s: {self.output}")
            time.sleep(0.05)

    def finish(self, seconds: float = 60) -> int:
        """The gate's exit code, once it has ended (within ``seconds``)."""
        code: int = self.process.wait(timeout=seconds)
        self._reader.join(timeout=10)
        return code

    def __enter__(self) -> RunningGate:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        self.process.stdout.close()
