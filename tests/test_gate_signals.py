"""A SIGTERM or SIGINT at every moment of prodval-gate: forwarded or acted on, and recorded.

Each case runs the real bash gate on the fake project (tests/gate_harness.py) and holds it at
one moment: a phase's child writes a marker and waits for ``control/release`` (the preflight's
collection, the suites, the rollback command, the verification), the gate prints the line that
starts a phase, or the webhook holds the notification. The test sends the signal to the gate
once that event is seen (bounded waits, no sleeps), never releases a held pytest run (a signal
that is not forwarded shows as a gate that does not end), and asserts how the gate ended: its
exit code, how often the rollback ran, and the record naming the signal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .gate_harness import FakeTarget, Project, RunningGate, gate_args

# A phase's child holds here until the test says so (it never does for pytest runs: the
# signal must end them). The suites' own hold is the harness's "block" mode.
HOLDS = """
import time
from pathlib import Path

CONTROL = Path(__file__).parent / "control"


def hold(moment):
    (CONTROL / f"{moment}-reached").touch()
    deadline = time.monotonic() + 60
    while not (CONTROL / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def pytest_collection_finish(session):
    if session.config.option.collectonly and (CONTROL / "hold-preflight").exists():
        hold("preflight")


def pytest_runtest_call(item):
    # The verification's selection is the only run with -k (the ini's prodval_gate_verify).
    if item.config.option.keyword and (CONTROL / "hold-verification").exists():
        hold("verification")
"""


class HeldWebhook:
    """A webhook that takes the POST and answers only when released (or after 30 s)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                held.arrived.set()
                held.release.wait(30)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0/held"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HeldWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass(frozen=True)
class Moment:
    """Where the signal lands, and how the gate must end."""

    name: str
    prepare: Callable[[Project], list[str]]  # the gate's extra arguments
    reached: Callable[[RunningGate, Project], None]  # returns once the moment has come
    exit_code: int
    decision: str
    rollbacks: int
    reason: str  # the record's reason contains it ({signal}: the signal's name)
    then: Callable[[RunningGate, Project, str], None] | None = None  # after the signal


def _hold_preflight(project: Project) -> list[str]:
    project.set("hold-preflight", "")
    return []


def _block_suites(project: Project) -> list[str]:
    project.set("suites", "block")
    return []


def _fail_suites(project: Project) -> list[str]:
    project.set("suites", "fail")
    return []


def _hold_rollback(project: Project) -> list[str]:
    project.set("suites", "fail")
    control = shlex.quote(str(project.control))
    hold = (
        f"touch {control}/rollback-reached; "
        f"for _ in $(seq 600); do [ -e {control}/release ] && break; sleep 0.05; done; "
        f"echo rollback-finished >> {control}/rollback-finished"
    )
    return ["--rollback", project.rollback_command(hold)]


def _hold_verification(project: Project) -> list[str]:
    project.set("suites", "fail")
    project.set("hold-verification", "")
    return []


def _release_rollback(gate: RunningGate, project: Project, name: str) -> None:
    # The gate noted the signal and lets the rollback finish: only then is it released.
    gate.wait_line(f"got {name} during the rollback: letting it finish")
    (project.control / "release").touch()


def _file(name: str) -> Callable[[RunningGate, Project], None]:
    return lambda gate, project: gate.wait_file(project.control / name)


def _line(text: str) -> Callable[[RunningGate, Project], None]:
    return lambda gate, project: gate.wait_line(text)


MOMENTS = [
    Moment(
        "during the preflight",
        _hold_preflight,
        _file("preflight-reached"),
        3,
        "interrupted",
        0,
        "interrupted by {signal} during the preflight",
    ),
    Moment(
        "as the suites start",
        _block_suites,
        _line("running the suites"),
        1,
        "rolled_back",
        1,
        "interrupted by {signal} while the suites ran",
    ),
    Moment(
        "during the suites",
        _block_suites,
        _file("started"),
        1,
        "rolled_back",
        1,
        "interrupted by {signal} while the suites ran (pytest exit 2)",
    ),
    Moment(
        "between the suites and the rollback",
        _fail_suites,
        _line("release failed: checks failed"),
        1,
        "rolled_back",
        1,
        # Counted as during the suites (pytest exit 1) or the rollback: the same end.
        "(pytest exit 1); rolled back and verified",
    ),
    Moment(
        "during the rollback",
        _hold_rollback,
        _file("rollback-reached"),
        1,
        "rolled_back",
        1,
        "checks failed (pytest exit 1); rolled back and verified",
        then=_release_rollback,
    ),
    Moment(
        "during the verification",
        _hold_verification,
        _file("verification-reached"),
        2,
        "verification_failed",
        1,
        "rolled back, but the verification failed (it was stopped by {signal} (pytest exit 2))",
    ),
]


@pytest.fixture(scope="module")
def target() -> Iterator[FakeTarget]:
    with FakeTarget() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, target: FakeTarget) -> Project:
    project = Project(tmp_path / "project", target.url)
    (project.path / "conftest.py").write_text(HOLDS)
    return project


SIGNALS = [signal.SIGTERM, signal.SIGINT]
# Both signals where the gate is in a pytest phase's start-up or its own Python (the preflight,
# the suites' start, the record); one each elsewhere, alternating, to keep the runtime modest
# (the wrapper's trap and the supervisors treat both alike; test_gate.py also sends both
# while the suites run).
CASES = [
    (moment, sig)
    for index, moment in enumerate(MOMENTS)
    for sig in (SIGNALS if index < 2 else [SIGNALS[index % 2]])
]


@pytest.mark.parametrize(
    ("moment", "sig"), CASES, ids=[f"{moment.name}-{sig.name}" for moment, sig in CASES]
)
def test_a_signal_at_any_moment_is_forwarded_or_acted_on_and_recorded(
    project: Project, moment: Moment, sig: signal.Signals
) -> None:
    args = moment.prepare(project)
    rollback = None
    if args[:1] == ["--rollback"]:
        rollback, args = args[1], args[2:]
    with RunningGate(project.path, gate_args(project, *args, rollback=rollback)) as gate:
        moment.reached(gate, project)
        gate.process.send_signal(sig)
        if moment.then is not None:
            moment.then(gate, project, sig.name)
        # Nothing held is ever released (but a rollback): the gate must end by itself.
        code = gate.finish(seconds=60)
        output = gate.output
    assert code == moment.exit_code, output
    assert project.rollback_count() == moment.rollbacks, output
    record = project.record()
    assert record["interrupted_by"] == sig.name
    assert record["decision"] == moment.decision and record["exit_code"] == code
    assert moment.reason.format(signal=sig.name) in record["reason"], record["reason"]
    assert "Traceback" not in output and "internal error" not in output, output
    if moment.rollbacks:
        # Never killed by the signal: the rollback ran to its own end.
        assert record["rollback"]["succeeded"] is True and record["rollback"]["signal"] is None
    if moment.name == "during the rollback":
        assert (project.control / "rollback-finished").exists()
        assert record["verification"]["passed"] is True
    if moment.name == "during the preflight":
        assert record["suites"] is None and record["rollback"]["ran"] is False
    if moment.name in ("as the suites start", "during the suites"):
        # Stopped: pytest got the SIGINT (exit 2; or died of it while starting up), or never
        # started; the held check never ended.
        suites = record["suites"]
        assert (suites["pytest_exit_code"], suites["signal"]) in (
            (2, None),
            (130, "SIGINT"),
            (None, None),
        )
        assert record["verification"]["passed"] is True


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_while_the_record_is_written_cuts_the_notification_and_keeps_the_decision(
    project: Project, sig: signal.Signals
) -> None:
    with (
        HeldWebhook() as webhook,
        RunningGate(project.path, gate_args(project, "--notify", webhook.url)) as gate,
    ):
        assert webhook.arrived.wait(60), gate.output  # the record is written, the POST held
        gate.process.send_signal(sig)
        code = gate.finish(seconds=30)  # not the webhook's 30 s, nor the notification's 10 s
        output = gate.output
    assert code == 0, output  # the decision's code: the suites passed
    record = project.record()
    assert record["decision"] == "passed" and record["interrupted_by"] == sig.name
    notification = record["notification"]
    assert notification["sent"] is False
    assert notification["error"] == f"interrupted by {sig.name} before the webhook answered"
    assert "held" not in json.dumps(record)  # the webhook's path is not recorded
    assert f"got {sig.name} while writing the record: the decision stands" in output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_to_the_gates_whole_process_group_as_the_suites_start_is_handled_once(
    project: Project, sig: signal.Signals
) -> None:
    """Ctrl-C or a CI runner's cancel signal the gate's group: the wrapper and its Python step
    get it at once, the phases' children (their own groups) only as the gate forwards it."""
    project.set("suites", "block")
    with RunningGate(project.path, gate_args(project), group=True) as gate:
        gate.wait_line("running the suites")
        os.killpg(gate.process.pid, sig)
        code = gate.finish(seconds=60)
        output = gate.output
    assert code == 1, output
    assert project.rollback_count() == 1
    record = project.record()
    assert record["interrupted_by"] == sig.name and record["decision"] == "rolled_back"
    assert record["reason"].startswith(f"interrupted by {sig.name} while the suites ran")
    assert record["verification"]["passed"] is True
    assert "Traceback" not in output and "internal error" not in output, output
