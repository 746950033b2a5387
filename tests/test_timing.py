"""``time_requests``: timing a hand-written check's requests, a control measured between them.

Real HTTP servers on loopback (tests/fake_servers.py), the plugin's bounded transport, and the
docs' recipe (docs/examples/recipes/) recorded and compared by pytester as a user runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_prodval import CONTROL, TimingError, Timings, time_requests
from pytest_prodval.exchange import bounded_transport

from .fake_servers import http_server, silent_listener

RECIPES = Path(__file__).resolve().parent.parent / "docs/examples/recipes"
STATISTICS = RECIPES.parent.parent / "statistics.md"


class Server:
    """An HTTP server on loopback that counts its requests per path, and can be made slower."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.delay_s = 0.0
        self.failing_every = 0  # every k-th request of /x answers 503 (0: none)
        self.lock = threading.Lock()

    def answer(self, method: str, path: str) -> tuple[int, bytes]:
        with self.lock:
            self.paths.append(path)
            count = self.paths.count(path)
        if self.delay_s and not path.startswith("/static/"):
            time.sleep(self.delay_s)  # the release got slower; its static files did not
        if path == "/x" and self.failing_every and count % self.failing_every == 0:
            return 503, b'{"error": "busy"}'
        return 200, b'{"ok": true}'


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    state = Server()
    with http_server(state.answer) as url:
        yield state, url


def client(url: str, timeout_s: float = 5.0) -> httpx.Client:
    transport = bounded_transport(max_body_bytes=1 << 20, default_total_s=timeout_s)
    return httpx.Client(base_url=url, timeout=timeout_s, transport=transport)


def test_each_request_is_timed_with_a_tcp_connect_to_the_same_port_between_them(
    server: tuple[Server, str],
) -> None:
    state, url = server
    with client(url) as api:
        timings = time_requests(api, "GET", "/x", n=60, warmup=3)
    assert isinstance(timings, Timings)
    assert len(timings) == 60 and all(ms > 0 for ms in timings)
    assert list(timings.started) == sorted(timings.started)
    assert state.paths.count("/x") == 63  # the warm-up is sent, not timed
    assert timings.name == "GET /x"
    assert timings.control_name == CONTROL and timings.calibration == "ratio"
    assert len(timings.control_ms) == 60 and timings.control == list(timings.control_ms)
    # About 10 requests per time window, at least 5: each window's median, in time order
    # (a window with fewer than 2 requests, behind a stall of the machine, is left out).
    span = timings.started[-1] - timings.started[0]
    assert timings.window_s == pytest.approx(span / 6)
    assert 1 <= len(timings.windows) <= 6
    assert min(timings.ms) <= min(timings.windows) <= max(timings.windows) <= max(timings.ms)
    assert re.fullmatch(
        r"GET /x: 60 requests, median [\d.]+ ms, \d windows of [\d.e-]+ s; "
        r"control: tcp connect median [\d.]+ ms",
        timings.describe(),
    )


def test_a_reference_request_can_be_the_control(server: tuple[Server, str]) -> None:
    state, url = server
    with client(url) as api:
        timings = time_requests(api, "GET", "/x", n=20, control="/static", warmup=0)
    assert timings.control_name == "control: GET /static"
    assert len(timings.control_ms) == 20
    assert state.paths.count("/static") == 20 and state.paths.count("/x") == 20
    # An absolute URL is named by its host and path, not its port: the name must be the same
    # on the baseline's deployment and the target's for the control to calibrate.
    with client(url) as api:
        timings = time_requests(api, "GET", "/x", n=10, control=f"{url}/static", warmup=0)
    assert timings.control_name == "control: GET 127.0.0.1/static"


def test_no_control_and_fixed_windows(server: tuple[Server, str]) -> None:
    _, url = server
    with client(url) as api:
        timings = time_requests(api, "GET", "/x", n=20, control=None, window_s=60)
    assert timings.control is None and timings.control_ms == ()
    assert len(timings.windows) == 1  # one minute holds them all
    assert timings.window_s == 60


def test_failed_requests_are_counted_not_timed(server: tuple[Server, str]) -> None:
    state, url = server
    state.failing_every = 10
    with client(url) as api:
        timings = time_requests(api, "GET", "/x", n=50, warmup=0)
    assert (timings.failures, len(timings)) == (5, 45)


def test_a_response_the_check_does_not_accept_is_a_failure(server: tuple[Server, str]) -> None:
    _, url = server
    with client(url) as api:
        timings = time_requests(
            api, "GET", "/x", n=20, ok=lambda r: r.json() == {"ok": False}, max_failures=20
        )
    assert (timings.failures, len(timings)) == (20, 0)


def test_too_many_failures_are_one_line(server: tuple[Server, str]) -> None:
    state, url = server
    state.failing_every = 1
    with client(url) as api, pytest.raises(TimingError) as raised:
        time_requests(api, "GET", "/x", n=40)
    assert str(raised.value) == (
        "time_requests GET /x: 5 of 5 requests failed, more than max_failures 4; last: answered 503"
    )
    assert isinstance(raised.value, AssertionError)  # a failure of the target, not of the check


def test_the_whole_measurement_ends_at_its_deadline() -> None:
    with silent_listener() as port, client(f"http://127.0.0.1:{port}") as api:
        started = time.monotonic()
        with pytest.raises(TimingError) as raised:
            time_requests(api, "GET", "/x", n=20, deadline_s=0.5)
        took = time.monotonic() - started
    assert str(raised.value) == (
        "time_requests GET /x: deadline_s 0.5 s ran out after 0 of 20 requests; "
        "raise deadline_s or lower n"
    )
    assert took < 0.5 + 1.5  # the client's own timeout (5 s) was cut to what was left


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 3}, "time_requests: n must be an int >= 10; got 3"),
        ({"deadline_s": 0}, "time_requests: deadline_s must be a number > 0 s; got 0"),
        ({"window_s": -1.0}, "time_requests: window_s must be a number > 0 s; got -1.0"),
        ({"warmup": -1}, "time_requests: warmup must be an int >= 0; got -1"),
        ({"control": 5}, "time_requests: control must be 'tcp', a URL or None; got 5"),
    ],
)
def test_bad_arguments_are_one_line(options: dict[str, object], message: str) -> None:
    with client("http://127.0.0.1:9") as api, pytest.raises(ValueError) as raised:
        time_requests(api, "GET", "/x", **options)  # type: ignore[arg-type]
    assert str(raised.value) == message


def recipe_project(pytester: pytest.Pytester, url: str) -> None:
    (pytester.path / "prodval.yaml").write_text(
        f"environments:\n  local:\n    api:\n      base_url: {url}\n"
    )
    for path in RECIPES.glob("*.py"):
        shutil.copy(path, pytester.path / path.name)


def test_the_recipe_records_then_compares_on_windows_calibrated_by_the_tcp_control(
    pytester: pytest.Pytester, server: tuple[Server, str]
) -> None:
    state, url = server
    recipe_project(pytester, url)
    pytester.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=2)
    stored = json.loads((pytester.path / "baselines/local.json").read_text())["entries"]
    controls = sorted(entry["control_name"] for entry in stored.values())
    assert controls == ["control: GET /static/ping.txt", CONTROL]
    assert all(5 <= len(entry["windows"]) <= 20 for entry in stored.values())
    # The same server again: judged on the windows, calibrated by each control. Whether it
    # passes is a matter of statistics (benchmarks/user_check.py counts it), not of this test.
    result = pytester.runpytest("--target-env=local")
    assert result.parseoutcomes().get("passed", 0) + result.parseoutcomes().get("failed", 0) == 2
    summary = json.loads((pytester.path / "reports/prodval-summary.json").read_text())
    assert {verdict["status"] for verdict in summary["comparisons"]} <= {"passed", "failed"}

    # The release got slower by 30 ms a request: far more than any drift of the machine.
    state.delay_s = 0.03
    result = pytester.runpytest("--target-env=local")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*latency of GET /health: *x slower than baseline (allowed 1.10x)*",
            "*judged:   on * and * time-window medians*",
            "*control:  control: tcp connect median * -> *; the target's windows are divided*",
            "*rule:     fail if p < alpha and the ratio's whole CI is above 1.10x*",
        ]
    )
    result.stdout.fnmatch_lines(["*control:  control: GET /static/ping.txt median * -> *"])
    summary = json.loads((pytester.path / "reports/prodval-summary.json").read_text())
    for verdict in summary["comparisons"]:
        assert verdict["evidence"]["calibration"]["mode"] == "ratio"
        assert verdict["evidence"]["windows"]["target"] >= 5


def test_a_timings_calibration_can_be_overridden_and_plain_samples_still_work(
    pytester: pytest.Pytester, server: tuple[Server, str]
) -> None:
    _, url = server
    (pytester.path / "prodval.yaml").write_text(
        f"environments:\n  local:\n    api:\n      base_url: {url}\n"
    )
    pytester.makepyfile(
        """
        from pytest_prodval import time_requests

        def test_latency(api, baseline):
            timings = time_requests(api, "GET", "/x", n=60)
            baseline.distribution("plain", list(timings), unit="ms", tolerance=10)
            baseline.distribution("shift", timings, unit="ms", calibration="shift", tolerance=10)
        """
    )
    pytester.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=1)
    pytester.runpytest("--target-env=local").assert_outcomes(passed=1)
    summary = json.loads((pytester.path / "reports/prodval-summary.json").read_text())
    evidence = {c["key"].rsplit("::", 1)[1]: c["evidence"] for c in summary["comparisons"]}
    assert evidence["plain"]["windows"] is None and evidence["plain"]["calibration"] is None
    assert evidence["shift"]["calibration"]["mode"] == "shift"
    assert evidence["shift"]["calibration"]["name"] == CONTROL


def test_every_python_block_of_the_statistics_page_is_in_a_recipe_file() -> None:
    recipes = [path.read_text() for path in RECIPES.glob("*.py")]
    blocks = re.findall(r"```python\n(.*?)```", STATISTICS.read_text(), re.S)
    assert blocks
    for block in blocks:
        assert any(block in recipe for recipe in recipes), block
