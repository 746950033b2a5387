"""A target that does not answer: every affected check fails with a clear reason, in budget.

The real suites run against real misbehaving servers on loopback (tests/fake_servers.py), as
an operator's gate would run them right after a bad deployment. Each run must end with exit
code 1 within ``timeouts.run_s``, every failed check must say in one line what did not answer
and how, and no traceback wall may reach the terminal.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
import yaml

from .fake_servers import (
    Respond,
    http_server,
    never_ending,
    raw_server,
    silent_listener,
    stalling_postgres,
)
from .suite_runner import ROOT, run_suites

API_TIMEOUT_S = 0.25
API = r"api \(https://127\.0\.0\.1:\d+\)"
RUN_S = 60
SUITES = ("suites", "-m", "not performance")


def config_for(api: dict[str, Any], database: dict[str, Any] | None = None, **extra: Any) -> str:
    """The repository's local environment, pointed at a broken API (and database)."""
    local = yaml.safe_load((ROOT / "prodval.yaml").read_text())["environments"]["local"]
    local.pop("load", None)
    local["api"] = {"timeout": API_TIMEOUT_S, "version_field": "release", **api}
    local.pop("database")
    local.pop("integrity")  # the gate's data snapshot: needs the database, not used here
    if database is not None:
        local["database"] = {"timeout": API_TIMEOUT_S, **database}
    local["timeouts"] = {"check_s": 10, "run_s": RUN_S}
    local.update(extra)
    return yaml.safe_dump({"version": 1, "environments": {"local": local}})


def failures(junit: Path) -> dict[str, str]:
    """Failed or errored checks: test id -> failure message."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in (case.find("failure"), case.find("error")):
            if problem is not None:
                found[f"{case.get('classname')}::{case.get('name')}"] = problem.get("message", "")
    return found


def run_against(tmp_path: Path, config: str, *selection: str) -> tuple[dict[str, str], str, float]:
    (tmp_path / "prodval.yaml").write_text(config)
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    result = run_suites(
        *(selection or SUITES),
        config=tmp_path / "prodval.yaml",
        baseline="baselines/local.json",
        summary=tmp_path / "summary.json",
        extra=[f"--junitxml={junit}"],
        timeout=RUN_S + 60,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    return failures(junit), output, seconds


def assert_clear(found: dict[str, str], output: str, seconds: float, reason: str) -> None:
    assert found, "no check failed"
    unclear = {test: message for test, message in found.items() if not re.search(reason, message)}
    assert not unclear, f"failures without the reason {reason!r}: {unclear}"
    assert "Traceback" not in output
    assert seconds < RUN_S


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, trustme.CA, Path]:
    """A CA the client trusts (its PEM file), and another one it does not."""
    untrusted_ca, trusted_ca = trustme.CA(), trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "trusted.pem"
    trusted_ca.cert_pem.write_to_path(str(path))
    return untrusted_ca, trusted_ca, path


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound and closed, so the kernel refuses)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


def answering(status: int) -> Callable[[str, str], tuple[int, bytes]]:
    return lambda method, path: (status, b'{"error": "service unavailable"}')


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        pytest.param("hang", rf"timeout after {API_TIMEOUT_S:g} s connecting to {API}", id="hang"),
        pytest.param("refused", rf"cannot connect to {API}: connection refused", id="refused"),
        pytest.param(
            "dns",
            r"cannot connect to api \(https://prodval-broken\.invalid:8443\): cannot resolve",
            id="dns",
        ),
        pytest.param(
            "tls",
            r"TLS certificate not trusted|certificate of 127\.0\.0\.1:\d+ does not verify",
            id="tls",
        ),
        pytest.param("5xx", r"\b503\b", id="5xx"),
    ],
)
def test_a_broken_api_fails_every_affected_check_with_its_reason_within_the_budget(
    scenario: str, reason: str, tmp_path: Path, ca_files: tuple[trustme.CA, trustme.CA, Path]
) -> None:
    untrusted_ca, trusted_ca, trusted = ca_files
    with contextlib.ExitStack() as stack:
        if scenario == "hang":
            port = stack.enter_context(silent_listener())
            api = {"base_url": f"https://127.0.0.1:{port}", "ca_file": str(trusted)}
        elif scenario == "refused":
            port = stack.enter_context(refused_port())
            api = {"base_url": f"https://127.0.0.1:{port}", "ca_file": str(trusted)}
        elif scenario == "dns":
            api = {"base_url": "https://prodval-broken.invalid:8443", "ca_file": str(trusted)}
        elif scenario == "tls":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            untrusted_ca.issue_cert("127.0.0.1").configure_cert(context)
            url = stack.enter_context(http_server(answering(200), tls=context))
            api = {"base_url": url, "ca_file": str(trusted)}
        else:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            trusted_ca.issue_cert("127.0.0.1").configure_cert(context)
            url = stack.enter_context(http_server(answering(503), tls=context))
            api = {"base_url": url, "ca_file": str(trusted)}
        found, output, seconds = run_against(tmp_path, config_for(api))
    assert_clear(found, output, seconds, reason)


def test_checks_that_outrun_their_budget_fail_and_the_run_stops_at_its_budget(
    tmp_path: Path,
) -> None:
    # An API that never answers and a long api.timeout: only the budgets can end this run.
    with silent_listener() as port:
        config = config_for(
            {"base_url": f"http://127.0.0.1:{port}", "timeout": 30},
            timeouts={"check_s": 1, "run_s": 4},
        )
        found, output, seconds = run_against(tmp_path, config)
    reasons = {
        # A check is cut by its own budget, or, while a session fixture (the route inventory)
        # waits on the silent API, by what is left of the run's: which comes first depends on
        # the order and the machine's speed.
        "out of time": r"did not finish within its time budget \((1 s, timeouts\.check_s\)|"
        r"[\d.]+ s, what was left of the run's 4 s)",
        "not run": r"not run: the run's time budget of 4 s \(timeouts\.run_s in prodval\.yaml\)",
    }
    assert_clear(found, output, seconds, "|".join(reasons.values()))
    for what, reason in reasons.items():
        assert any(re.search(reason, m) for m in found.values()), f"no check {what}"
    assert seconds < 4 + 15  # the budget, plus start-up and the last check's teardown


def postgres_socket(dsn: str) -> Callable[[], socket.socket]:
    """Connects to the test PostgreSQL (pgserver listens on a Unix socket)."""
    parts = urlsplit(dsn)
    host = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]

    def connect() -> socket.socket:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(f"{host}/.s.PGSQL.{parts.port or 5432}")
            return sock
        return socket.create_connection((host, parts.port or 5432), timeout=10)

    return connect


DATABASE = r"database \(127\.0\.0\.1:\d+\)"


@pytest.mark.parametrize(
    ("stall", "reason"),
    [
        pytest.param(
            "connecting",
            rf"timeout after {API_TIMEOUT_S:g} s connecting to {DATABASE}",
            id="connecting",
        ),
        pytest.param(
            "after login",
            rf"timeout after {API_TIMEOUT_S:g} s waiting for {DATABASE} to answer",
            id="after-login",
        ),
    ],
)
def test_a_stalled_database_fails_the_database_checks_with_its_reason_within_the_budget(
    stall: str, reason: str, tmp_path: Path, postgres_dsn: str
) -> None:
    user = urlsplit(postgres_dsn).username or "postgres"
    with contextlib.ExitStack() as stack:
        if stall == "connecting":
            port = stack.enter_context(silent_listener())
        else:
            port = stack.enter_context(stalling_postgres(postgres_socket(postgres_dsn)))
        with refused_port() as api_port:
            config = config_for(
                {"base_url": f"http://127.0.0.1:{api_port}"},
                {"dsn": f"postgresql://{user}@127.0.0.1:{port}/postgres?sslmode=disable"},
            )
        found, output, seconds = run_against(
            tmp_path, config, "suites/infrastructure/test_database.py"
        )
    # The schema check also asks the API (refused here): it fails with the API's reason.
    api_refused = r"cannot connect to api \(http://127\.0\.0\.1:\d+\): connection refused"
    assert_clear(found, output, seconds, f"{reason}|{api_refused}")
    assert sum(bool(re.search(reason, message)) for message in found.values()) >= 3, found


def _huge(head: bytes) -> Respond:
    """Send ``head``, then HUGE_BYTES of body as fast as the client reads them."""

    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        connection.sendall(head)
        block = b"x" * 65536
        for _ in range(HUGE_BYTES // len(block)):
            if stopped.is_set():
                return
            connection.sendall(block)

    return respond


HUGE_BYTES = 100 << 20
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("respond", "reason"),
    [
        pytest.param(
            never_ending(JSON_HEAD + b"Content-Length: 4096\r\n\r\n"),
            rf"timeout after {API_TIMEOUT_S:g} s \(total\) waiting for {API} to answer "
            r"[A-Z]+ /|no answer within|no HTTP answer|answered 200, expected a 4xx",
            id="trickled body",
        ),
        pytest.param(
            never_ending(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"),
            rf"timeout after {API_TIMEOUT_S:g} s \(total\) waiting for {API} to answer "
            r"[A-Z]+ /|no HTTP answer|answered 200, expected a 4xx",
            id="HTTP/1.0 without an end",
        ),
        pytest.param(
            _huge(JSON_HEAD + f"Content-Length: {HUGE_BYTES}\r\n\r\n".encode()),
            rf"{API} answered [A-Z]+ /\S* with answer body over 10 MiB: not read further "
            r"\(api\.max_body_mb\)|no HTTP answer|\b200\b",
            id="100 MB body",
        ),
    ],
)
def test_an_answer_that_never_ends_or_is_not_what_it_says_fails_with_one_line_in_budget(
    respond: Respond, reason: str, tmp_path: Path, ca_files: tuple[trustme.CA, trustme.CA, Path]
) -> None:
    _, trusted_ca, trusted = ca_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted_ca.issue_cert("127.0.0.1").configure_cert(context)
    with raw_server(respond, tls=context) as url:
        found, output, seconds = run_against(
            tmp_path, config_for({"base_url": url, "ca_file": str(trusted)})
        )
    assert_clear(found, output, seconds, reason)
    first = reason.split("|")[0]
    assert any(re.search(first, message) for message in found.values()), found
    assert len(output) < 2_000_000  # no body copied into the output
    assert max(p.stat().st_size for p in tmp_path.iterdir() if p.is_file()) < 2_000_000


def test_an_answer_that_is_not_the_json_it_says_names_the_request_not_the_decoder(
    tmp_path: Path, ca_files: tuple[trustme.CA, trustme.CA, Path]
) -> None:
    _, trusted_ca, trusted = ca_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted_ca.issue_cert("127.0.0.1").configure_cert(context)

    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        connection.sendall(JSON_HEAD + b"Content-Length: 8\r\n\r\n<html>no")

    with raw_server(respond, tls=context) as url:
        found, output, _ = run_against(
            tmp_path, config_for({"base_url": url, "ca_file": str(trusted)})
        )
    not_json = (
        r"UnreadableAnswer: [A-Z]+ /\S* answered 200 \(application/json, 8 bytes\), not JSON: "
    )
    assert any(re.search(not_json, message) for message in found.values()), found
    assert not [m for m in found.values() if "JSONDecodeError" in m]
    assert "Traceback" not in output and "JSONDecodeError" not in output
