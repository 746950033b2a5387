"""Live load progress: ``read_progress`` on the stats history a real Locust writes while it
runs (one process, and a master with two workers), and on hand-written history text."""

from __future__ import annotations

import dataclasses
import itertools
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_prodval.load import progress as progress_module
from pytest_prodval.load.driver import master_args
from pytest_prodval.load.progress import Progress, read_progress
from pytest_prodval.process import run_bounded

from .fake_servers import http_server

SIDES = ("green", "blue")
USERS, RATE_PER_USER, RUN_S = 4, 10, 6
# The lines docs/performance.md asks a locustfile for: a write every second, on disk at once,
# and the workers' counts at the master every second.
LOCUSTFILE = f"""
import locust.runners
import locust.stats
from locust import HttpUser, constant_throughput, task

locust.stats.CSV_STATS_INTERVAL_SEC = 1
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 0
locust.runners.WORKER_REPORT_INTERVAL = 1.0


class Viewer(HttpUser):
    wait_time = constant_throughput({RATE_PER_USER})

    @task(2)
    def health(self):
        for side in {SIDES!r}:
            self.client.get("/health", name=f"/health [{{side}}]")

    @task(1)
    def broken(self):
        self.client.get("/broken", name="/broken")
"""
# Each task run is 2 requests two times in three, 1 the third: 5/3 requests per run.
EXPECTED_RPS = USERS * RATE_PER_USER * 5 / 3


@dataclasses.dataclass
class LiveRun:
    seen: dict[float, Progress]  # what the pytest side read while Locust ran, by write
    history: Path


def _answer(method: str, path: str) -> tuple[int, bytes]:
    return (500, b"{}") if path == "/broken" else (200, b"{}")


@pytest.fixture(scope="module", params=[0, 2], ids=["one-process", "two-workers"])
def live_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRun]:
    processes: int = request.param
    directory = tmp_path_factory.mktemp(f"locust{processes}")
    locustfile = directory / "locustfile.py"
    locustfile.write_text(LOCUSTFILE, encoding="utf-8")
    prefix = directory / "load"
    history = Path(f"{prefix}_stats_history.csv")
    seen: dict[float, Progress] = {}

    def watch(elapsed: float) -> None:
        progress = read_progress(history, SIDES)
        if progress is not None:
            seen.setdefault(progress.timestamp, progress)

    with http_server(_answer) as url, (directory / "locust.log").open("w") as log:
        command = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{RUN_S}s",
            "--host", url, "--csv", str(prefix), "--csv-full-history", "--only-summary",
            "--exit-code-on-error", "0", "--loglevel", "WARNING",
        ]  # fmt: skip
        if processes:
            command += ["--processes", str(processes), *master_args()]
        outcome = run_bounded(
            command, timeout_s=RUN_S + 30, grace_s=5, tick_s=0.25, on_tick=watch,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert outcome.exit_code == 0, (directory / "locust.log").read_text()
    yield LiveRun(seen=seen, history=history)


def test_a_write_reaches_the_disk_every_second_while_locust_runs(live_run: LiveRun) -> None:
    stamps = sorted(live_run.seen)
    assert len(stamps) >= RUN_S - 1, stamps
    # Locust truncates its timestamps to whole seconds: a 1.0x s loop sometimes skips one.
    assert max(b - a for a, b in itertools.pairwise(stamps)) <= 2, stamps


def test_the_request_counts_move_with_every_write_also_with_workers(live_run: LiveRun) -> None:
    counts = [live_run.seen[t].requests for t in sorted(live_run.seen)]
    started = [c for c in counts if c > 0]
    moved = sum(b > a for a, b in itertools.pairwise(started))
    # Workers report every 3 s by default: then two writes in three would repeat the count.
    # Every 1 s, nearly all move; a busy machine may delay a report past one write or two.
    assert len(started) >= RUN_S - 3, counts
    assert moved >= 0.6 * (len(started) - 1), counts


def test_the_live_rate_is_the_load_locust_puts_on(live_run: LiveRun) -> None:
    rates = [p.rps for p in live_run.seen.values() if p.rps is not None and p.users == USERS]
    assert rates, live_run.seen
    assert 0.5 * EXPECTED_RPS <= max(rates) <= 1.3 * EXPECTED_RPS, rates


def test_the_lines_pair_the_sides_and_count_each_endpoints_failures(live_run: LiveRun) -> None:
    last = read_progress(live_run.history, SIDES)
    assert last is not None
    health = {e.name: e for e in last.endpoints}
    broken = health.pop("GET /broken")
    assert set(health) == {"GET /health [blue]", "GET /health [green]"}
    assert broken.failures == broken.requests > 0
    assert last.failures == broken.failures
    assert last.requests == broken.requests + sum(e.requests for e in health.values())
    assert all(e.failures == 0 and e.p50_ms is not None for e in health.values())
    lines = last.lines(RUN_S, RUN_S)
    assert lines[0] == last.line(RUN_S, RUN_S)
    assert lines[0].startswith(f"load    6/{RUN_S} s: ")
    assert lines[1].startswith("  GET /broken: ")
    assert lines[1].endswith(f", {broken.failures} failed")
    assert lines[2].startswith("  GET /health: green ") and " · blue " in lines[2]
    assert len(lines) == 3


HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\n"
)


def row(t: int, users: int, kind: str, name: str, p50: int, p95: int, n: int, f: int) -> str:
    return (
        f"{t},{users},{kind},{name},0.0,0.0,{p50},{p50},{p50},{p50},{p95},{p95},{p95},{p95},"
        f"{p95},{p95},{p95},{n},{f},{p50},{p50}.5,0.4,{p95}.2,2.0\n"
    )


def history(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "load_stats_history.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_paired_names_give_one_line_per_endpoint_with_both_sides(tmp_path: Path) -> None:
    path = history(
        tmp_path,
        row(100, 10, "", "Aggregated", 0, 0, 0, 0),
        row(101, 10, "GET", "/health [blue]", 1, 3, 20, 0),
        row(101, 10, "GET", "/health [green]", 1, 3, 20, 0),
        row(101, 10, "", "Aggregated", 1, 3, 40, 0),
        row(106, 10, "GET", "/documents/{id} [green]", 12, 30, 50, 2),
        row(106, 10, "GET", "/health [blue]", 1, 3, 145, 0),
        row(106, 10, "GET", "/health [green]", 2, 4, 145, 1),
        row(106, 10, "GET", "GET /ready [blue]", 3, 5, 5, 0),
        row(106, 10, "TCP", "control: tcp connect", 0, 1, 10, 0),
        row(106, 10, "", "Aggregated", 1, 20, 350, 3),
    )
    progress = read_progress(path, SIDES)
    assert progress is not None
    assert progress.lines(12, 32) == [
        "load   12/32 s: 10 users, 62.0 req/s, p95 20 ms, 350 requests, 3 failures (0.9%)",
        "  GET /documents/{id}: green 10.0 req/s p50 12 ms p95 30 ms, 2 failed · blue -",
        "  GET /health: green 25.0 req/s p50 2 ms p95 4 ms, 1 failed"
        " · blue 25.0 req/s p50 1 ms p95 3 ms, 0 failed",
        "  GET /ready: green - · blue 1.0 req/s p50 3 ms p95 5 ms, 0 failed",
        "  TCP control: tcp connect: 2.0 req/s p50 0 ms p95 1 ms, 0 failed",
    ]
    unpaired = read_progress(path)
    assert unpaired is not None
    assert unpaired.lines(12, 32)[1:3] == [
        "  GET /documents/{id} [green]: 10.0 req/s p50 12 ms p95 30 ms, 2 failed",
        "  GET /health [blue]: 25.0 req/s p50 1 ms p95 3 ms, 0 failed",
    ]


def test_the_rate_is_measured_over_the_last_seconds_of_writes(tmp_path: Path) -> None:
    writes = [row(t, 5, "", "Aggregated", 1, 2, 10 * (t - 100) ** 2, 0) for t in range(100, 111)]
    progress = read_progress(history(tmp_path, *writes))
    assert progress is not None
    window = progress_module.RATE_WINDOW_S
    assert progress.rps == (1000 - 10 * (10 - window) ** 2) / window
    assert progress.endpoints == ()


def test_the_first_write_has_no_rate_and_a_young_entry_no_percentiles(tmp_path: Path) -> None:
    # Locust writes 0 for the percentiles of an entry younger than its current window.
    young = row(100, 2, "GET", "/health", 0, 0, 3, 0).replace(",0.4,0.2,", ",0.4,7.5,")
    progress = read_progress(history(tmp_path, young, row(100, 2, "", "Aggregated", 0, 0, 3, 0)))
    assert progress is not None
    assert progress.lines(1, 10) == [
        "load    1/10 s: 2 users, - req/s, p95 0 ms, 3 requests, 0 failures (0.0%)",
        "  GET /health: - req/s p50 - p95 -, 0 failed",
    ]


def test_a_write_still_on_its_way_to_the_disk_is_not_read(tmp_path: Path) -> None:
    path = history(
        tmp_path,
        row(100, 3, "GET", "/health", 1, 2, 10, 0),
        row(100, 3, "", "Aggregated", 1, 2, 10, 0),
        row(101, 3, "GET", "/health", 1, 2, 20, 0),
        "101,3,,Aggr",  # half a line: the rest is still in Locust's buffer
    )
    path.write_text(path.read_text().removesuffix("\n"), encoding="utf-8")
    progress = read_progress(path)
    assert progress is not None
    assert (progress.timestamp, progress.requests) == (100, 10)


def test_only_the_tail_of_a_long_history_is_read(tmp_path: Path) -> None:
    names = [f"/endpoint/{i:02}" for i in range(30)]
    writes = []
    for t in range(100, 220):
        writes += [row(t, 8, "GET", name, 1, 2, t - 99, 0) for name in names]
        writes.append(row(t, 8, "", "Aggregated", 1, 2, 30 * (t - 99), 0))
    path = history(tmp_path, *writes)
    assert path.stat().st_size > 2 * progress_module.TAIL_BYTES
    progress = read_progress(path)
    assert progress is not None
    assert (progress.timestamp, progress.requests, progress.rps) == (219, 3600, 30.0)
    assert [e.rps for e in progress.endpoints] == [1.0] * 30


def test_nothing_to_show_before_locust_wrote_a_row(tmp_path: Path) -> None:
    assert read_progress(tmp_path / "none_stats_history.csv") is None
    assert read_progress(history(tmp_path)) is None
    (tmp_path / "cut_stats_history.csv").write_text(HEADER[:40], encoding="utf-8")
    assert read_progress(tmp_path / "cut_stats_history.csv") is None


def test_the_docs_locustfile_lines_are_the_ones_tested_here() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "performance.md").read_text(encoding="utf-8")
    lines = [line for line in LOCUSTFILE.splitlines() if line.startswith("locust.")]
    assert all(line in docs for line in lines), textwrap.indent("\n".join(lines), "  ")


def test_workers_talk_to_their_master_on_loopback_on_a_port_picked_per_run() -> None:
    """Locust's default, port 5557 on every interface, made two runs with workers on one
    machine collide ("Address already in use") and opened the channel to the network."""
    first, second = master_args(), master_args()
    for args in (first, second):
        options = dict(zip(args[::2], args[1::2], strict=True))
        assert options["--master-bind-host"] == options["--master-host"] == "127.0.0.1"
        assert options["--master-bind-port"] == options["--master-port"] != "5557"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", int(options["--master-port"])))  # free when picked
