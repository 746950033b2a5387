"""The platform's traffic for Locust: document status and result reads, /health, /ready, a
TCP-connect control, and synthetic uploads at a low rate.

Paired mode (``--control-env``, ``PRODVAL_LOAD_PAIRED_HOST`` set): every task makes its request
to the target and to the control deployment, back to back in random order, so both sides see
the same moments of the machine; requests are named ``"{name} [{side}]"`` in Locust's stats
and their samples carry ``"side": "control"`` for the control deployment.

Run only by ``pytest_prodval.load.driver`` in a subprocess: importing Locust patches the
interpreter with gevent, which must never happen inside pytest. Everything this file needs
comes in ``PRODVAL_LOAD_*`` environment variables (see ``pytest_prodval/load/driver.py``).

Raw samples: every request event (not Locust's bucketed percentiles) is written as one JSON
line ``{"t": start epoch s, "type", "name", "ms", "ok", "p": pid}``. Workers send theirs to
the master in batches over Locust's own message channel, so remote workers' samples land
here too.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import socket
import ssl
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import gevent
import locust.runners
import locust.stats
from locust import FastHttpUser, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

# Live progress (pytest_prodval/load/progress.py): a stats-history row on disk every second,
# with the workers' counts in it (Locust's defaults: flushed every 5 s, reported every 3 s).
locust.stats.CSV_STATS_INTERVAL_SEC = 1
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 0
locust.runners.WORKER_REPORT_INTERVAL = 1.0

SAMPLES_PATH = os.environ.get("PRODVAL_LOAD_SAMPLES", "")
CA_FILE = os.environ.get("PRODVAL_LOAD_CA_FILE") or None
VERIFY_TLS = os.environ.get("PRODVAL_LOAD_VERIFY_TLS", "1") == "1"
READ_HEADERS: dict[str, str] = json.loads(os.environ.get("PRODVAL_LOAD_READ_HEADERS", "{}"))
WRITE_HEADERS: dict[str, str] = json.loads(os.environ.get("PRODVAL_LOAD_WRITE_HEADERS", "{}"))
DOCUMENTS: list[str] = json.loads(os.environ.get("PRODVAL_LOAD_DOCUMENTS", "[]"))
# Paired mode: the control deployment, reached by the same users at the same moments.
PAIRED_HOST = os.environ.get("PRODVAL_LOAD_PAIRED_HOST", "")
PAIRED_NAME = os.environ.get("PRODVAL_LOAD_PAIRED_NAME", "control")
TARGET_NAME = os.environ.get("PRODVAL_LOAD_TARGET_NAME", "target")
PAIRED_CA_FILE = os.environ.get("PRODVAL_LOAD_PAIRED_CA_FILE") or None
PAIRED_VERIFY_TLS = os.environ.get("PRODVAL_LOAD_PAIRED_VERIFY_TLS", "1") == "1"
PAIRED_READ_HEADERS: dict[str, str] = json.loads(
    os.environ.get("PRODVAL_LOAD_PAIRED_READ_HEADERS", "{}")
)
PAIRED_WRITE_HEADERS: dict[str, str] = json.loads(
    os.environ.get("PRODVAL_LOAD_PAIRED_WRITE_HEADERS", "{}")
)
PAIRED_DOCUMENTS: list[str] = json.loads(os.environ.get("PRODVAL_LOAD_PAIRED_DOCUMENTS", "[]"))
USERS = max(1, int(os.environ.get("PRODVAL_LOAD_USERS", "1")))
MAX_RPS = float(os.environ.get("PRODVAL_LOAD_MAX_RPS", "0"))
UPLOAD_EVERY_S = float(os.environ.get("PRODVAL_LOAD_UPLOAD_EVERY_S", "0"))
ERROR_LIMIT = float(os.environ.get("PRODVAL_LOAD_ERROR_LIMIT", "1"))
ERROR_MIN_REQUESTS = int(os.environ.get("PRODVAL_LOAD_ERROR_MIN_REQUESTS", "50"))
SUBJECT = os.environ.get("PRODVAL_LOAD_SUBJECT", "prodval-synthetic-load")
TIMEOUT_S = float(os.environ.get("PRODVAL_LOAD_TIMEOUT_S", "5"))
FLUSH_EVERY_S = 1.0
CONTROL = "control: tcp connect"
# A release-independent static endpoint on the target's hosts (load.control_url), if any.
CONTROL_URL = os.environ.get("PRODVAL_LOAD_CONTROL_URL", "")
CONTROL_HTTP = "control: static GET"


def _context(ca_file: str | None, verify: bool, cafile: str | None) -> ssl.SSLContext:
    # geventhttpclient offers its default bundle as ``cafile``; the side's own CA wins.
    context = ssl.create_default_context(cafile=ca_file or cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _ssl_context(cafile: str | None = None, **_: Any) -> ssl.SSLContext:
    return _context(CA_FILE, VERIFY_TLS, cafile)


def _paired_ssl_context(cafile: str | None = None, **_: Any) -> ssl.SSLContext:
    return _context(PAIRED_CA_FILE, PAIRED_VERIFY_TLS, cafile)


class _Sink:
    """Buffers sample lines; the writing process appends them to the file, a worker sends them."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.environment: Environment | None = None

    def add(self, record: dict[str, Any]) -> None:
        self.lines.append(json.dumps(record, separators=(",", ":")))

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        if not lines or self.environment is None:
            return
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message("prodval_samples", {"lines": lines})
        else:
            write_lines(lines)


SINK = _Sink()


def write_lines(lines: list[str]) -> None:
    if SAMPLES_PATH:
        with open(SAMPLES_PATH, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None,
    start_time: float | None = None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    start = start_time if start_time is not None else time.time() - response_time / 1000
    context = context or {}
    record = {
        "t": round(start, 4),
        "type": request_type,
        "name": context.get("prodval_name", name),  # without the "[side]" of Locust's stats
        "ms": round(float(response_time), 4),
        "ok": exception is None,
        "p": os.getpid(),  # which (worker) process made it; forks share module state
    }
    if context.get("prodval_side") == "control":
        record["side"] = "control"
    SINK.add(record)


def _on_init(environment: Environment, **_: Any) -> None:
    SINK.environment = environment
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(
            "prodval_samples", lambda msg, **_kw: write_lines(msg.data["lines"])
        )
    if not isinstance(runner, MasterRunner):
        gevent.spawn(_flush_forever)
    if not isinstance(runner, WorkerRunner):
        gevent.spawn(_watch_errors, environment)


def _flush_forever() -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        SINK.flush()


def _watch_errors(environment: Environment) -> None:
    """Stop the whole run once a side's error ratio passes the limit (after enough requests).

    In paired mode each side is judged on its own requests, and the stop line says which
    side failed: a control deployment that fails makes the comparison void, not the target
    bad (pytest_prodval/load/driver.py).
    """
    while True:
        gevent.sleep(0.5)
        over = [
            (side, failures / requests, requests)
            for side, (requests, failures) in _side_counts(environment).items()
            if requests >= ERROR_MIN_REQUESTS and failures / requests > ERROR_LIMIT
        ]
        if not over:
            continue
        sides = {side for side, _, _ in over}
        side, ratio, requests = max(over, key=lambda row: row[1])
        record = {
            "stopped": "error_ratio",
            "side": "both" if len(sides) > 1 else side,
            "ratio": ratio,
            "requests": requests,
            "t": time.time(),
        }
        write_lines([json.dumps(record)])
        if environment.runner is not None:
            environment.runner.quit()
        return


def _side_counts(environment: Environment) -> dict[str, tuple[int, int]]:
    """(requests, failures) of each side, from Locust's stats ("{name} [{env}]" in paired mode)."""
    if not PAIRED_HOST:
        total = environment.stats.total
        return {"target": (total.num_requests, total.num_failures)}
    counts = {"target": [0, 0], "control": [0, 0]}
    suffixes = {"target": f" [{TARGET_NAME}]", "control": f" [{PAIRED_NAME}]"}
    for entry in environment.stats.entries.values():
        for side, suffix in suffixes.items():
            if entry.name.endswith(suffix):
                counts[side][0] += entry.num_requests
                counts[side][1] += entry.num_failures
    return {side: (requests, failures) for side, (requests, failures) in counts.items()}


def _on_test_stop(environment: Environment, **_: Any) -> None:
    # A worker must hand its last batch over while the master still listens.
    SINK.flush()


def _on_quitting(environment: Environment, **_: Any) -> None:
    SINK.flush()


def _per_user_rate(weight_share: float) -> float:
    # max_rps caps the whole run: each reader gets its share, so users x rate <= max_rps.
    return MAX_RPS * weight_share / USERS if MAX_RPS > 0 else 1000.0


@dataclasses.dataclass
class _Side:
    """One deployment the user talks to: the target, or (paired mode) the control."""

    tag: str  # "target" or "control", in the samples
    env: str  # the environment's name, in Locust's stats
    client: FastHttpSession
    read_headers: dict[str, str]
    write_headers: dict[str, str]
    documents: itertools.cycle[str | None]
    address: tuple[str, int]

    def label(self, name: str) -> str:
        return f"{name} [{self.env}]" if PAIRED_HOST else name

    def context(self, name: str) -> dict[str, str]:
        return {"prodval_side": self.tag, "prodval_name": name}


def _sides(user: FastHttpUser) -> list[_Side]:
    """The target (Locust's --host), and in paired mode the control deployment beside it."""

    def side(
        tag: str,
        env: str,
        client: FastHttpSession,
        headers: tuple[dict[str, str], dict[str, str]],
        documents: list[str],
    ) -> _Side:
        parts = urlsplit(client.base_url or "")
        address = (parts.hostname or "127.0.0.1", parts.port or 443)
        cycle: itertools.cycle[str | None] = itertools.cycle(documents or [None])
        return _Side(tag, env, client, headers[0], headers[1], cycle, address)

    sides = [side("target", TARGET_NAME, user.client, (READ_HEADERS, WRITE_HEADERS), DOCUMENTS)]
    if PAIRED_HOST:
        paired = FastHttpSession(
            base_url=PAIRED_HOST,
            request_event=user.environment.events.request,
            network_timeout=TIMEOUT_S,
            connection_timeout=TIMEOUT_S,
            max_retries=0,
            insecure=not PAIRED_VERIFY_TLS,
            user=user,
            ssl_context_factory=_paired_ssl_context,
        )
        headers = (PAIRED_READ_HEADERS, PAIRED_WRITE_HEADERS)
        sides.append(side("control", PAIRED_NAME, paired, headers, PAIRED_DOCUMENTS))
    return sides


def _in_random_order(sides: list[_Side]) -> list[_Side]:
    # Which side goes first alternates at random: neither is always the warmer one.
    return sides if len(sides) == 1 or random.random() < 0.5 else sides[::-1]


class Reader(FastHttpUser):
    """A viewer polling documents it uploaded, plus the probes a load balancer sends."""

    weight = 20
    wait_time = constant_throughput(_per_user_rate(1.0))
    insecure = not VERIFY_TLS
    ssl_context_factory = staticmethod(_ssl_context)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S
    max_retries = 0

    def on_start(self) -> None:
        self._sides = _sides(self)

    def _get(self, side: _Side, path: str, name: str, headers: dict[str, str]) -> None:
        side.client.get(path, headers=headers, name=side.label(name), context=side.context(name))

    @task(3)
    def document_status(self) -> None:
        for side in _in_random_order(self._sides):
            document = next(side.documents)
            if document is not None:
                self._get(side, f"/documents/{document}", "GET /documents/{id}", side.read_headers)

    @task(3)
    def document_result(self) -> None:
        for side in _in_random_order(self._sides):
            document = next(side.documents)
            if document is not None:
                name = "GET /documents/{id}/result"
                self._get(side, f"/documents/{document}/result", name, side.read_headers)

    @task(3)
    def health(self) -> None:
        for side in _in_random_order(self._sides):
            self._get(side, "/health", "GET /health", {})

    @task(1)
    def ready(self) -> None:
        for side in _in_random_order(self._sides):
            self._ready(side)

    def _ready(self, side: _Side) -> None:
        # /ready times each dependency from the API's side: the database and external-service
        # latencies under load, kept as PROBE samples (not requests Locust made).
        name = "GET /ready"
        with side.client.get(
            "/ready", name=side.label(name), context=side.context(name), catch_response=True
        ) as response:
            try:
                components = response.json().get("components", {})
            except ValueError:
                components = {}
            for component, result in components.items():
                if isinstance(result, dict) and isinstance(result.get("latency_ms"), (int, float)):
                    record = {
                        "t": round(time.time(), 4),
                        "type": "PROBE",
                        "name": f"probe: {component}",
                        "ms": float(result["latency_ms"]),
                        "ok": bool(result.get("ok")),
                    }
                    if side.tag == "control":
                        record["side"] = "control"
                    SINK.add(record)

    @task(2)
    def control(self) -> None:
        """TCP connect time: the kernel answers it, so it does not depend on the release."""
        for side in _in_random_order(self._sides):
            started, wall = time.perf_counter(), time.time()
            error: BaseException | None = None
            try:
                with socket.create_connection(side.address, timeout=TIMEOUT_S):
                    pass
            except OSError as exc:
                error = exc
            self.environment.events.request.fire(
                request_type="TCP",
                name=side.label(CONTROL),
                response_time=(time.perf_counter() - started) * 1000,
                response_length=0,
                exception=error,
                context=side.context(CONTROL),
                start_time=wall,
            )

    @task(2)
    def control_http(self) -> None:
        """A static endpoint the release does not serve: same host, same CPU contention."""
        if CONTROL_URL:
            self.client.get(CONTROL_URL, name=CONTROL_HTTP)


class Uploader(FastHttpUser):
    """One user uploading a synthetic document now and then (to each side in paired mode);
    pytest erases what it made."""

    fixed_count = 1 if UPLOAD_EVERY_S > 0 else 0
    wait_time = constant_throughput(1 / UPLOAD_EVERY_S if UPLOAD_EVERY_S > 0 else 1)
    insecure = not VERIFY_TLS
    ssl_context_factory = staticmethod(_ssl_context)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S
    max_retries = 0

    def on_start(self) -> None:
        self._sides = _sides(self)

    @task
    def upload(self) -> None:
        for side in _in_random_order(self._sides):
            self._upload(side)

    def _upload(self, side: _Side) -> None:
        body = f"prodval synthetic load document {uuid.uuid4()}\n" * 10  # ASCII: bytes as sent
        headers = {
            **side.write_headers,
            "Content-Type": "text/plain",
            "X-Subject-Id": SUBJECT,
            "X-Filename": "prodval-load.txt",
        }
        name = "POST /documents"
        with side.client.post(
            "/documents",
            data=body,
            headers=headers,
            name=side.label(name),
            context=side.context(name),
            catch_response=True,
        ) as response:
            if response.status_code in (200, 201):
                created = {"created": response.json().get("id"), "t": time.time()}
                if side.tag == "control":
                    created["side"] = "control"
                SINK.add(created)
                response.success()
            else:
                response.failure(f"upload answered {response.status_code}")


# Registered by calls, not decorators: Locust's EventHook is untyped (mypy: untyped_calls_exclude).
events.request.add_listener(_on_request)
events.init.add_listener(_on_init)
events.test_stop.add_listener(_on_test_stop)
events.quitting.add_listener(_on_quitting)

# Uploader with fixed_count 0 would still be picked by weight; drop it when uploads are off.
if UPLOAD_EVERY_S <= 0:
    del Uploader
