"""The Locust driver against a tiny loopback HTTP server: a real Locust subprocess, raw samples,
synthetic uploads, early stop on errors, worker processes, and the caps on protected targets."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_prodval.config import TargetEnv, load_config
from pytest_prodval.load.driver import LoadDriver, LoadRun
from pytest_prodval.options import RunOptions
from pytest_prodval.safety import load_caps as caps
from pytest_prodval.safety.load_caps import effective_profile

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "suites" / "performance" / "locustfile.py"
DOCUMENT = "0b7c3c6e-3d1f-4a43-9b8e-6d4f0c1a2b3c"


class FakeApi(ThreadingHTTPServer):
    """Answers the routes the locustfile uses; fails every request after ``fail_after``."""

    daemon_threads = True
    # socketserver's default backlog is 5: on a busy machine the accepting thread falls behind,
    # the queue fills with the control task's bare connects, and further SYNs are dropped,
    # so a connect outlasts the run and no control sample arrives at all.
    request_queue_size = 128

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fail_after = fail_after
        self.requests = 0
        self.created: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _count(self) -> bool:
        with self.server.lock:
            self.server.requests += 1
            failing = self.server.fail_after is not None
            return failing and self.server.requests > (self.server.fail_after or 0)

    def do_GET(self) -> None:
        if self._count():
            self._answer(500, {"error": "internal_error"})
        elif self.path == "/ready":
            self._answer(
                200,
                {"status": "ready", "components": {"database": {"ok": True, "latency_ms": 1.5}}},
            )
        else:
            self._answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self._count():
            self._answer(500, {"error": "internal_error"})
            return
        document = str(uuid.uuid4())
        with self.server.lock:
            self.server.created.append(document)
        self._answer(201, {"id": document})


def serve(fail_after: int | None = None) -> Iterator[FakeApi]:
    server = FakeApi(fail_after)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    yield from serve()


@pytest.fixture
def failing_api() -> Iterator[FakeApi]:
    yield from serve(fail_after=30)


def environment(tmp_path: Path, url: str, load: str, protected: bool = False) -> TargetEnv:
    config = tmp_path / "prodval.yaml"
    config.write_text(
        f"environments:\n  local:\n    protected: {str(protected).lower()}\n"
        f"    api:\n      base_url: {url}\n      timeout: 2\n"
        f"    credentials:\n      viewer:\n        api_key: viewer-key-1234\n"
        f"    load: {load}\n"
    )
    return load_config(config).environment("local")


def run(tmp_path: Path, url: str, load: str, workers: int = 0) -> tuple[object, list[str]]:
    env = environment(tmp_path, url, load)
    lines: list[str] = []
    driver = LoadDriver(env, effective_profile(env, workers), tmp_path / "reports", lines.append)
    return driver.run(LOCUSTFILE, label="t", documents=[DOCUMENT], read_role="viewer"), lines


def test_the_driver_runs_locust_in_a_subprocess_and_returns_raw_samples_per_endpoint(
    tmp_path: Path, fake_api: FakeApi
) -> None:
    load = "{users: 2, spawn_rate: 10, duration_s: 4, max_rps: 30, upload_every_s: 1, warmup_s: 1}"
    result, lines = run(tmp_path, fake_api.url, load)
    samples = result.samples  # type: ignore[attr-defined]
    names = set(samples.endpoints)
    assert {"GET /health", "GET /ready", "GET /documents/{id}", "POST /documents"} <= names
    assert "control: tcp connect" in names and "probe: database" in names
    # Every HTTP request the server answered was seen as a raw sample (one per request).
    http = sum(e.count for e in samples.endpoints.values() if e.kind in ("GET", "POST"))
    assert http == fake_api.requests
    assert samples.created == fake_api.created and samples.created
    assert samples.error_ratio() == 0
    assert samples.rps(1.0) <= 30 * 1.2  # max_rps holds (one uploader on top)
    assert result.html.exists() and Path(f"{result.csv_prefix}_stats.csv").exists()  # type: ignore[attr-defined]
    assert any(line.startswith("load: 2 users") for line in lines)
    assert "locust" not in sys.modules and "gevent" not in sys.modules


def test_a_target_that_starts_failing_stops_the_load_early(
    tmp_path: Path, failing_api: FakeApi
) -> None:
    load = "{users: 4, spawn_rate: 20, duration_s: 60, max_rps: 60, upload_every_s: 0}"
    result, _ = run(tmp_path, failing_api.url, load)
    assert result.stopped_early is not None  # type: ignore[attr-defined]
    assert "passed the limit 10.0%" in result.stopped_early  # type: ignore[attr-defined]
    assert result.seconds < 30  # type: ignore[attr-defined]


def paired(tmp_path: Path, target_url: str, control_url: str, load: str) -> LoadRun:
    """One paired run: ``local`` is the target, ``blue`` the control deployment."""
    config = tmp_path / "prodval.yaml"
    config.write_text(
        "environments:\n"
        + "".join(
            f"  {name}:\n    api:\n      base_url: {url}\n      timeout: 2\n"
            f"    credentials:\n      viewer:\n        api_key: viewer-key-1234\n"
            f"    load: {load}\n"
            for name, url in (("local", target_url), ("blue", control_url))
        )
    )
    loaded = load_config(config)
    env, control = loaded.environment("local"), loaded.environment("blue")
    driver = LoadDriver(
        env, effective_profile(env, 0, control), tmp_path / "reports", control=control
    )
    return driver.run(
        LOCUSTFILE,
        label="t",
        documents=[DOCUMENT],
        read_role="viewer",
        control_documents=[DOCUMENT],
    )


FAILING_LOAD = "{users: 4, spawn_rate: 20, duration_s: 60, max_rps: 60, upload_every_s: 0}"


def test_a_failing_control_stops_the_run_undecided_not_the_target_failed(
    tmp_path: Path, fake_api: FakeApi, failing_api: FakeApi
) -> None:
    run = paired(tmp_path, fake_api.url, failing_api.url, FAILING_LOAD)
    assert run.stopped_early is None
    assert run.undecided is not None
    assert run.undecided.startswith("the control deployment blue failed under load (error ratio")
    assert run.undecided.endswith("the paired comparison says nothing about local")
    assert run.seconds < 30


def test_a_failing_target_beside_a_healthy_control_stops_early_naming_the_target(
    tmp_path: Path, fake_api: FakeApi, failing_api: FakeApi
) -> None:
    run = paired(tmp_path, failing_api.url, fake_api.url, FAILING_LOAD)
    assert run.undecided is None
    assert run.stopped_early is not None
    assert run.stopped_early.endswith("(load.stop_error_ratio) on local")


def test_load_workers_2_runs_a_master_whose_two_workers_send_their_samples_back(
    tmp_path: Path, fake_api: FakeApi
) -> None:
    load = "{users: 4, spawn_rate: 20, duration_s: 4, max_rps: 40, upload_every_s: 0}"
    result, _ = run(tmp_path, fake_api.url, load, workers=2)
    records = [
        json.loads(line)
        for line in result.samples_path.read_text().splitlines()  # type: ignore[attr-defined]
    ]
    processes = {r["p"] for r in records if "p" in r}
    assert len(processes) == 2
    http = sum(1 for r in records if r.get("type") == "GET")
    assert http == fake_api.requests


def test_protected_environments_get_at_most_the_caps_whatever_the_config_says(
    tmp_path: Path,
) -> None:
    load = "{users: 500, spawn_rate: 100, duration_s: 3600, max_rps: 5000, upload_every_s: 1}"
    env = environment(tmp_path, "http://127.0.0.1:9", load, protected=True)
    profile = effective_profile(env, workers=16)
    assert profile.users == caps.PROTECTED_MAX_USERS
    assert profile.spawn_rate == caps.PROTECTED_MAX_SPAWN_RATE
    assert profile.duration_s == caps.PROTECTED_MAX_DURATION_S
    assert profile.max_rps == caps.PROTECTED_MAX_RPS
    assert profile.workers == caps.PROTECTED_MAX_WORKERS
    assert profile.upload_every_s == caps.PROTECTED_MIN_UPLOAD_EVERY_S
    assert "capped on a protected environment: users 500 -> 20" in profile.describe()
    unlimited = environment(tmp_path, "http://127.0.0.1:9", "{users: 500}", protected=True)
    assert effective_profile(unlimited).max_rps == caps.PROTECTED_MAX_RPS


def test_an_unprotected_environment_gets_its_profile_as_configured(tmp_path: Path) -> None:
    load = "{users: 500, spawn_rate: 100, duration_s: 3600}"
    env = environment(tmp_path, "http://127.0.0.1:9", load)
    profile = effective_profile(env, workers=4)
    assert (profile.users, profile.duration_s, profile.workers) == (500, 3600, 4)
    assert profile.max_rps is None and profile.capped == ()


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [([], "", 0), (["--load-workers", "2"], "", 2), ([], "prodval_load_workers = 3", 3)],
)
def test_load_workers_comes_from_the_option_or_its_ini_twin(
    pytester: pytest.Pytester, args: list[str], ini: str, expected: int
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    config = pytester.parseconfig(*args)
    assert RunOptions.from_config(config).load_workers == expected


def test_a_negative_load_workers_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--load-workers", "-1")
    with pytest.raises(pytest.UsageError, match=r"--load-workers.*integer >= 0, got '-1'"):
        RunOptions.from_config(config)


def test_the_load_fixture_caps_a_protected_environment_whatever_the_suite_asks(
    pytester: pytest.Pytester,
) -> None:
    environment(
        pytester.path, "http://127.0.0.1:9", "{users: 500, spawn_rate: 100}", protected=True
    )
    pytester.makepyfile(
        test_caps=f"""
        def test_caps(prodval_load):
            assert prodval_load.profile.users == {caps.PROTECTED_MAX_USERS}
            assert prodval_load.profile.spawn_rate == {caps.PROTECTED_MAX_SPAWN_RATE}
            assert prodval_load.profile.workers == {caps.PROTECTED_MAX_WORKERS}
            assert prodval_load.profile.max_rps == {caps.PROTECTED_MAX_RPS}
        """
    )
    result = pytester.runpytest("--target-env=local", "--load-workers", "16")
    result.assert_outcomes(passed=1)


def test_the_load_fixture_runs_locust_with_reports_next_to_the_summary_and_live_progress(
    pytester: pytest.Pytester, fake_api: FakeApi
) -> None:
    load = "{users: 2, spawn_rate: 10, duration_s: 3, max_rps: 20, upload_every_s: 0}"
    environment(pytester.path, fake_api.url, load)
    pytester.makepyfile(
        test_load=f"""
        import sys
        from pathlib import Path

        import pytest_prodval

        def test_load(prodval_load):
            run = prodval_load(
                Path({str(LOCUSTFILE)!r}), label="t", documents=[{DOCUMENT!r}],
                read_role="viewer",
            )
            assert isinstance(run, pytest_prodval.LoadRun)
            assert run.samples.endpoints["GET /health"].count > 0
            assert run.html == Path("out", "load", "t.html").resolve()
            assert "locust" not in sys.modules and "gevent" not in sys.modules
        """
    )
    result = pytester.runpytest("--target-env=local", "--prodval-summary=out/summary.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["prodval load: 2 users (+10/s) for 3 s*against local"])
    assert (pytester.path / "out" / "load" / "t-samples.jsonl").stat().st_size > 0


def test_a_missing_locustfile_is_one_clear_load_error(pytester: pytest.Pytester) -> None:
    environment(pytester.path, "http://127.0.0.1:9", "{users: 1}")
    pytester.makepyfile(
        test_missing="""
        from pathlib import Path

        def test_missing(prodval_load):
            prodval_load(Path("no-such-locustfile.py"))
        """
    )
    result = pytester.runpytest("--target-env=local")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*LoadError: prodval_load: no locustfile at no-such-locustfile.py"]
    )
