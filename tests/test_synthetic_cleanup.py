"""Synthetic data is always removed: when a check fails midway, when the run is interrupted,
and, after a run was killed outright, by the next run's sweep.

One docpipe deployment (own home, free ports) for the module; the suites run in a subprocess
as an operator runs them, and the database is read directly (as the owner) to see what is
left. A check that must be caught mid-way is a small synthetic check in a scratch project that
uses the suites' own fixtures (``pytest_plugins = ["suites.conftest"]``): it uploads, writes
the ids to a file, and holds; the test waits for that file, then interrupts or kills the run.
The sweep's own logic (filters, bounds, reports) is tested against ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from docpipe.control import run_docpipe

from suites._support import (
    SWEEP_MAX_DOCUMENTS,
    SYNTHETIC_SUBJECT_PREFIX,
    Sweep,
    sweep_after_s,
    sweep_budget_s,
    sweep_synthetic,
)

from .suite_runner import ROOT, deploy, run_suites

pytestmark = pytest.mark.xdist_group("synthetic-cleanup")  # one deployment for the module

SUITE_TIMEOUT_S = 120
WAIT_S = 30.0
TENANT_CHECK = (
    "suites/security/test_authorization.py::test_another_tenant_cannot_read_or_delete_a_document"
)

# A synthetic check that uploads two documents, says so in a file, and holds until the test
# interrupts or kills the run (bounded, should neither happen).
HOLDING_CHECK = """
import os
import time
from pathlib import Path

import pytest

HOLD_S = 60.0


@pytest.mark.synthetic
def test_uploads_then_holds(synthetic):
    for _ in range(2):
        response = synthetic.upload()
        assert response.status_code == 201, response.text
    signal_file = Path(os.environ["SYNTHETIC_CLEANUP_SIGNAL"])
    partial = signal_file.with_suffix(".partial")
    partial.write_text(" ".join(synthetic.ids))
    partial.replace(signal_file)  # atomic: the test never reads half the ids
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
    pytest.fail(f"not interrupted within {HOLD_S:g} s")
"""


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s:g} s for {what}"
        time.sleep(0.05)


class Platform:
    """The deployment, its database seen as the owner, and runs against it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.config = base / "prodval.yaml"

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return data

    def credentials(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "credentials.json").read_text())
        return data

    def deploy(self, *faults: str) -> None:
        deploy(self.home, *faults)

    # --- the database, as its owner --------------------------------------------------------

    def query(self, sql: str, *args: object) -> list[asyncpg.Record]:
        password = urllib.parse.quote(self.credentials()["postgres_password"], safe="")
        port = self.state()["ports"]["postgres"]
        dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/docpipe"

        async def fetch() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(dsn, timeout=10)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def db_now(self) -> dt.datetime:
        now: dt.datetime = self.query("select now() as now")[0]["now"]
        return now

    def synthetic_ids(self) -> set[str]:
        rows = self.query(
            "select id::text as id from documents where starts_with(subject_id, $1)",
            SYNTHETIC_SUBJECT_PREFIX,
        )
        return {row["id"] for row in rows}

    def existing(self, ids: set[str]) -> set[str]:
        rows = self.query("select id::text as id from documents where id::text = any($1)", ids)
        return {row["id"] for row in rows}

    def age(self, document_id: str, hours: int) -> None:
        self.query(
            "update documents set created_at = created_at - make_interval(hours => $2::int)"
            " where id::text = $1 returning id",
            document_id,
            hours,
        )

    # --- the API -----------------------------------------------------------------------------

    def client(self, role: str = "operator") -> httpx.Client:
        state = self.state()
        return httpx.Client(
            base_url=state["urls"]["api"],
            verify=ssl.create_default_context(cafile=state["ca_file"]),
            headers={"X-API-Key": self.credentials()["api_keys"][role]},
            timeout=10,
        )

    def erase(self, ids: set[str]) -> None:
        with self.client() as client:
            for document_id in sorted(ids):
                status = client.delete(f"/documents/{document_id}").status_code
                assert status in (204, 404), f"DELETE {document_id}: {status}"

    # --- runs --------------------------------------------------------------------------------

    def config_with(self, name: str, *, protected: bool, **params: object) -> Path:
        data = yaml.safe_load(self.config.read_text())
        env = data["environments"]["local"]
        env["protected"] = protected
        env["params"].update(params)
        path = self.base / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def start_holding_run(self, name: str) -> tuple[subprocess.Popen[str], Path, Path]:
        """The holding check in a scratch project: (process, signal file, output file)."""
        project = self.base / name
        project.mkdir()
        (project / "pytest.ini").write_text(
            "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
        )
        (project / "conftest.py").write_text('pytest_plugins = ["suites.conftest"]\n')
        (project / "test_holding.py").write_text(HOLDING_CHECK)
        signal_file, output = project / "uploaded.txt", project / "output.txt"
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {
            **os.environ,
            "PYTHONPATH": pythonpath,
            "PRODVAL_NO_EMBEDDED_TARGET": "1",
            "SYNTHETIC_CLEANUP_SIGNAL": str(signal_file),
        }
        argv = [
            sys.executable, "-m", "pytest", "test_holding.py", "--target-env=local",
            f"--prodval-config={self.config}", f"--baseline={project / 'baseline.json'}",
            f"--prodval-summary={project / 'summary.json'}", "-p", "no:cacheprovider",
            "--strict-markers", "-q",
        ]  # fmt: skip
        with output.open("w") as out:
            process = subprocess.Popen(
                argv, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        return process, signal_file, output

    def uploaded(self, process: subprocess.Popen[str], signal_file: Path, output: Path) -> set[str]:
        """Wait until the holding check has uploaded; its ids (the check still holds)."""
        wait_until(
            lambda: signal_file.exists() or process.poll() is not None,
            "the holding check to upload",
        )
        assert signal_file.exists(), output.read_text()[-3000:]
        ids = set(signal_file.read_text().split())
        assert len(ids) == 2 and process.poll() is None
        return ids


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = Platform(tmp_path_factory.mktemp("synthetic-cleanup"))
    up = run_docpipe(platform.home, "up", "--ports", "auto", "--workers", "1")
    assert up.returncode == 0, up.stderr
    try:
        generated = run_docpipe(platform.home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        platform.config.write_text(generated.stdout)
        yield platform
    finally:
        run_docpipe(platform.home, "down")


@pytest.fixture
def clean(platform: Platform) -> Iterator[Platform]:
    """No synthetic document before the test; none left for the next one either."""
    assert platform.synthetic_ids() == set()
    yield platform
    platform.erase(platform.synthetic_ids())


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=WAIT_S)


# --- against docpipe --------------------------------------------------------------------------


def test_a_real_check_that_fails_midway_leaves_no_synthetic_document(clean: Platform) -> None:
    # tenant_leak: the tenant-isolation check uploads, then fails when the other tenant reads.
    clean.deploy("tenant_leak")
    try:
        since = clean.db_now()
        result = run_suites(
            TENANT_CHECK,
            config=clean.config,
            baseline="baselines/local.json",
            summary=clean.base / "failing-summary.json",
            timeout=SUITE_TIMEOUT_S,
        )
    finally:
        clean.deploy()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"FAILED {TENANT_CHECK}" in result.stdout
    uploads = clean.query(
        "select resource_id from audit_log where action = 'document.upload' and at >= $1", since
    )
    [uploaded] = [row["resource_id"] for row in uploads]  # the check did upload, once
    erased = clean.query(
        "select role from audit_log where action = 'document.erase' and outcome = 'success'"
        " and resource_id = $1",
        uploaded,
    )
    assert [row["role"] for row in erased] == ["operator"]  # the fixture's teardown
    assert clean.existing({uploaded}) == set()
    assert clean.synthetic_ids() == set()
    # The run swept first (nothing was old enough) and said so in the -q output.
    assert "prodval: no synthetic documents older than 900 s to sweep" in result.stdout


@pytest.mark.parametrize("interrupt", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_erases_what_the_running_check_uploaded(
    clean: Platform, interrupt: signal.Signals
) -> None:
    # SIGTERM is what a cancelled CI job or a stopped container sends.
    process, signal_file, output = clean.start_holding_run(f"interrupted-{interrupt.name}")
    try:
        uploaded = clean.uploaded(process, signal_file, output)
        assert clean.existing(uploaded) == uploaded
        process.send_signal(interrupt)
        process.wait(timeout=WAIT_S)
    finally:
        stop(process)
    text = output.read_text()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, text[-3000:]
    assert "KeyboardInterrupt" in text
    assert clean.existing(uploaded) == set()
    assert clean.synthetic_ids() == set()


def test_a_killed_runs_leftovers_are_swept_by_the_next_run_once_older_than_the_limit(
    clean: Platform,
) -> None:
    process, signal_file, output = clean.start_holding_run("killed")
    try:
        old, young = sorted(clean.uploaded(process, signal_file, output))
        process.kill()  # SIGKILL: no teardown can run
        process.wait(timeout=WAIT_S)
    finally:
        stop(process)
    assert clean.existing({old, young}) == {old, young}  # left behind
    clean.age(old, 1)
    # An old document that is not synthetic: the sweep must never touch it.
    with clean.client() as client:
        response = client.post(
            "/documents",
            content=b"a real patient's note, not synthetic",
            headers={"Content-Type": "text/plain", "X-Subject-Id": "patient-prodval-synthetic-"},
        )
    assert response.status_code == 201, response.text
    real = response.json()["id"]
    clean.age(real, 1)
    try:
        # The next run: two workers, on a protected environment, leftovers after 10 minutes.
        config = clean.config_with("sweeping", protected=True, synthetic_sweep_after_s=600)
        result = run_suites(
            "suites/application/test_health.py",
            config=config,
            baseline="baselines/local.json",
            summary=clean.base / "sweeping-summary.json",
            extra=["-n", "2"],
            timeout=SUITE_TIMEOUT_S,
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert clean.existing({old, young, real}) == {young, real}
        swept = [line for line in result.stdout.splitlines() if " synthetic " in line]
        assert swept == [
            f"prodval: swept 1 synthetic document(s) older than 600 s left by earlier runs: {old}"
        ]
    finally:
        clean.erase({real})


# --- the sweep in a run, against targets that cannot list ------------------------------------


class _OldApi(http.server.BaseHTTPRequestHandler):
    """An API from before GET /documents: every request gets the server's ``status``."""

    def _answer(self) -> None:
        server: Any = self.server
        server.requests.append(f"{self.command} {self.path}")
        body = json.dumps({"error": "not_found"}).encode()
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_DELETE = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def old_api() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OldApi)
    server.status, server.requests = 404, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_S)


@pytest.mark.parametrize("status", [404, 405])
def test_a_target_that_cannot_list_is_said_once_and_the_run_goes_on(
    pytester: pytest.Pytester, old_api: Any, status: int
) -> None:
    old_api.status = status
    pytester.makefile(
        ".yaml",
        prodval=f"""
        environments:
          old:
            protected: true
            api:
              base_url: http://127.0.0.1:{old_api.server_address[1]}
            credentials:
              operator:
                api_key: operator-key-of-the-old-api
        """,
    )
    pytester.makeconftest('pytest_plugins = ["suites.conftest"]')
    pytester.makepyfile("def test_one(target):\n    pass\n\ndef test_two(target):\n    pass\n")
    result = pytester.runpytest("--target-env=old", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
    said = [line for line in result.outlines if " synthetic " in line]
    assert said == [
        "prodval: synthetic leftovers not swept: the target cannot list synthetic data "
        f"(GET /documents answered {status}); leftovers of killed runs stay until erased by hand"
    ]
    listings = [r for r in old_api.requests if r.split(" ")[1].startswith("/documents")]
    assert len(listings) == 1 and listings[0].startswith("GET /documents?subject_prefix=")


class _StallingList(http.server.BaseHTTPRequestHandler):
    """An API whose GET /documents never answers (until the test ends): a sweep's worst case."""

    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append(f"{self.command} {self.path}")
        server.release.wait(WAIT_S * 4)  # set when the test ends

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stalling_list() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingList)
    server.requests, server.release = [], threading.Event()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_S)


# The first check reads what is left of its own budget (pytest-timeout's alarm).
BUDGET_LEFT_CHECK = """
import signal


def test_first(target):
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert left > 9, f"the first check had {left:.1f} s of its 10 s budget left"


def test_second(target):
    pass
"""


def test_the_sweep_has_its_own_budget_and_the_first_check_keeps_all_of_its_own(
    pytester: pytest.Pytester, stalling_list: Any
) -> None:
    # Before: the sweep ran on the first check's clock (half of timeouts.check_s), so against a
    # target that never answers every check reported a time-budget reason at 0.0 s.
    pytester.makefile(
        ".yaml",
        prodval=f"""
        environments:
          stalls:
            api:
              base_url: http://127.0.0.1:{stalling_list.server_address[1]}
              timeout: 30
            credentials:
              operator:
                api_key: operator-key-of-the-stalling-api
            timeouts: {{check_s: 10, run_s: 60}}
            params: {{synthetic_sweep_budget_s: 3}}
        """,
    )
    pytester.makeconftest('pytest_plugins = ["suites.conftest"]')
    pytester.makepyfile(BUDGET_LEFT_CHECK)
    started = time.monotonic()
    result = pytester.runpytest("--target-env=stalls", "-p", "no:cacheprovider", "-q")
    seconds = time.monotonic() - started
    result.assert_outcomes(passed=2)
    said = [line for line in result.outlines if " synthetic " in line or " sweep " in line]
    assert len(said) == 1, said
    assert said[0].startswith(
        "prodval: synthetic leftovers not swept: the sweep stopped: its budget of 3 s "
        "(params.synthetic_sweep_budget_s) was used up (GET /documents: "
    ), said[0]
    assert 3 <= seconds < 3 + 20  # the sweep's budget, not api.timeout (30 s)
    # The session's first exchange (GET /: no version path here), then the sweep's listing.
    assert [r.split("?")[0] for r in stalling_list.requests] == ["GET /", "GET /documents"]


def test_without_a_target_the_sweep_stays_silent(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["suites.conftest"]')
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not [line for line in result.outlines if " synthetic " in line]


# --- the sweep's logic -------------------------------------------------------------------------

CUTOFF = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def _doc(document_id: str, subject: str, created_at: str) -> dict[str, str]:
    return {
        "id": document_id,
        "subject_id": subject,
        "state": "completed",
        "created_at": created_at,
    }


def _mock(
    listing: Callable[[httpx.Request], httpx.Response],
    deletes: dict[str, int] | None = None,
) -> tuple[httpx.Client, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            return listing(request)
        return httpx.Response((deletes or {}).get(request.url.path.rsplit("/", 1)[-1], 204))

    return httpx.Client(transport=httpx.MockTransport(handle), base_url="https://t"), seen


def test_the_sweep_erases_only_synthetic_documents_older_than_the_cutoff() -> None:
    synthetic = SYNTHETIC_SUBJECT_PREFIX + "0001"
    listed = [
        _doc("old-1", synthetic, "2024-05-01T11:00:00+00:00"),
        _doc("at-cutoff", synthetic, "2024-05-01T12:00:00+00:00"),  # not before it
        _doc("real", "patient-7", "2024-05-01T10:00:00+00:00"),  # a target ignoring the prefix
        _doc("no-time", synthetic, "yesterday"),
        _doc("gone", synthetic, "2024-05-01T10:30:00+00:00"),
        _doc("stuck", synthetic, "2024-05-01T10:40:00+00:00"),
        _doc("old-2", synthetic, "2024-05-01T07:59:00-04:00"),  # 11:59 UTC
    ]
    queries: list[dict[str, str]] = []

    def listing(request: httpx.Request) -> httpx.Response:
        queries.append(dict(request.url.params))
        return httpx.Response(200, json={"documents": listed})

    client, seen = _mock(listing, {"gone": 404, "stuck": 500})
    sweep = sweep_synthetic(client, CUTOFF, 600)
    assert queries == [
        {
            "subject_prefix": SYNTHETIC_SUBJECT_PREFIX,
            "created_before": "2024-05-01T12:00:00+00:00",
            "limit": str(SWEEP_MAX_DOCUMENTS),
        }
    ]
    assert (sweep.swept, sweep.failed, sweep.problem, sweep.truncated) == (
        ["old-1", "old-2"], {"stuck": 500}, None, False,
    )  # fmt: skip
    assert [s.split("/")[-1] for s in seen if s.startswith("DELETE")] == [
        "old-1", "gone", "stuck", "stuck", "stuck", "old-2",
    ]  # fmt: skip


def _raise(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("listing", "lists", "problem"),
    [
        (lambda r: httpx.Response(404), 1, "the target cannot list synthetic data (GET /doc"),
        (lambda r: httpx.Response(405), 1, "the target cannot list synthetic data (GET /doc"),
        (lambda r: httpx.Response(503), 3, "GET /documents answered 503"),
        (_raise, 3, "GET /documents: ConnectError: connection refused"),
        (lambda r: httpx.Response(403, json={"error": "forbidden"}), 1, "GET /documents ans"),
        (lambda r: httpx.Response(200, text="<html>"), 1, "GET /documents answered 200 witho"),
        (lambda r: httpx.Response(200, json={"documents": "x"}), 1, "GET /documents answered"),
    ],
    ids=["404", "405", "503-retried", "unreachable", "403", "not-json", "not-a-list"],
)
def test_a_sweep_that_cannot_list_reports_why_and_erases_nothing(
    listing: Callable[[httpx.Request], httpx.Response], lists: int, problem: str
) -> None:
    client, seen = _mock(listing)
    sweep = sweep_synthetic(client, CUTOFF, 600)
    assert sweep.problem is not None and sweep.problem.startswith(problem)
    assert (sweep.swept, sweep.failed) == ([], {})
    assert seen == ["GET /documents"] * lists


def test_a_full_page_or_a_spent_budget_says_more_may_remain() -> None:
    listed = [
        _doc(f"old-{n}", SYNTHETIC_SUBJECT_PREFIX + "x", "2024-05-01T11:00:00Z") for n in range(3)
    ]
    client, _ = _mock(lambda r: httpx.Response(200, json={"documents": listed}))
    full = sweep_synthetic(client, CUTOFF, 600, max_documents=3)
    assert (full.swept, full.truncated) == (["old-0", "old-1", "old-2"], True)
    assert full.lines()[-1] == (
        "prodval: more synthetic leftovers may remain (at most 200 per run); the next run goes on"
    )
    # The budget bounds the listing too: a target that does not answer in time is not waited for.
    spent = sweep_synthetic(client, CUTOFF, 600, budget_s=-1)
    assert (spent.swept, spent.truncated, spent.out_of_time) == ([], False, True)
    assert spent.lines() == [
        "prodval: synthetic leftovers not swept: the sweep stopped: its budget of -1 s "
        "(params.synthetic_sweep_budget_s) was used up (GET /documents: no answer)"
    ]

    # Between erasures too: a listing that takes the whole budget leaves none for erasing.
    def slow_listing(request: httpx.Request) -> httpx.Response:
        threading.Event().wait(0.2)  # a slow target, not a synchronisation
        return httpx.Response(200, json={"documents": listed})

    slow, _ = _mock(slow_listing)
    stopped = sweep_synthetic(slow, CUTOFF, 600, budget_s=0.1)
    assert (stopped.swept, stopped.out_of_time, stopped.problem) == ([], True, None)
    assert stopped.lines()[-1] == (
        "prodval: synthetic sweep stopped: its budget of 0.1 s "
        "(params.synthetic_sweep_budget_s) was used up; more synthetic leftovers may remain, "
        "the next run goes on"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, 900.0), ({"synthetic_sweep_after_s": None}, 900.0),
     ({"synthetic_sweep_after_s": 60}, 60.0), ({"synthetic_sweep_after_s": "7.5"}, 7.5),
     ({"synthetic_sweep_after_s": 0}, 0.0)],
)  # fmt: skip
def test_the_sweep_age_is_the_param_else_the_run_budget(
    params: dict[str, Any], expected: float
) -> None:
    assert sweep_after_s(params, 900) == expected


@pytest.mark.parametrize("value", [-1, "soon", True, float("nan"), float("inf"), [60]])
def test_an_invalid_sweep_age_is_refused_naming_the_param(value: object) -> None:
    with pytest.raises(ValueError, match=r"params\.synthetic_sweep_after_s: expected a number"):
        sweep_after_s({"synthetic_sweep_after_s": value}, 900)


@pytest.mark.parametrize(
    ("params", "run_s", "expected"),
    [({}, 900, 60.0), ({"synthetic_sweep_budget_s": None}, 900, 60.0),
     ({"synthetic_sweep_budget_s": 5}, 900, 5.0), ({"synthetic_sweep_budget_s": "7.5"}, 900, 7.5),
     ({}, 40, 10.0), ({"synthetic_sweep_budget_s": 30}, 40, 10.0)],
)  # fmt: skip
def test_the_sweep_budget_is_the_param_else_60_s_and_at_most_a_quarter_of_the_run(
    params: dict[str, Any], run_s: float, expected: float
) -> None:
    assert sweep_budget_s(params, run_s) == expected


@pytest.mark.parametrize("value", [0, -1, "soon", True, float("nan"), float("inf"), [60]])
def test_an_invalid_sweep_budget_is_refused_naming_the_param(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"params\.synthetic_sweep_budget_s: expected a number of seconds > 0"
    ):
        sweep_budget_s({"synthetic_sweep_budget_s": value}, 900)


def test_the_workers_sweeps_are_reported_as_one() -> None:
    cannot = "the target cannot list synthetic data (GET /documents answered 404); ..."
    assert Sweep.merged([Sweep(900, problem=cannot), Sweep(900, problem=cannot)]).lines() == [
        f"prodval: synthetic leftovers not swept: {cannot}"
    ]
    # One worker erased "a" and failed on "b", which the other then erased.
    first = Sweep(600, swept=["a"], failed={"b": 500})
    second = Sweep.from_json(json.loads(json.dumps(Sweep(600, swept=["b"]).to_json())))
    assert Sweep.merged([first, second]).lines() == [
        "prodval: swept 2 synthetic document(s) older than 600 s left by earlier runs: a, b"
    ]
    stuck = Sweep.merged([Sweep(600, failed={"c": 0}), Sweep(600)])
    assert stuck.lines() == ["prodval: synthetic documents that could not be erased: c (no answer)"]
