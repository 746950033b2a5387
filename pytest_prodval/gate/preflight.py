"""pytest plugin for prodval-gate's preflight: the target must answer before checks run.

The gate runs ``pytest --collect-only -p pytest_prodval.gate.preflight ...``: one process that
validates the config and the baseline (the plugin's own checks, exit code 4), collects the
checks (exit code 5 when none), and, here, waits up to ``PRODVAL_GATE_PROBE_S`` seconds
(default 15, in total: each attempt's exchange is bounded by the time left) for the target's
API to answer any HTTP request. A target that does not answer in time is a usage error (exit
code 4) whose message says so; nothing is sent but GETs of the version path (or ``/``). The
gate's second preflight run, which collects the verification selection, passes
``--prodval-gate-no-probe``.

This process reads the validation project's pytest configuration anyway, so it also reports
the project's verification selection (ini ``prodval_gate_verify``) to the gate, as JSON in the
file ``--prodval-gate-verify-out`` names, and how many checks it collected (the suites' run must
report as many for a pass) in the file ``--prodval-gate-collected-out`` names. A run whose
resolved options record or prune (an ini ``addopts``, say) is refused here: a gate never records.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

__all__ = ["PROBE_ENV", "probe", "probe_limit"]

PROBE_ENV = "PRODVAL_GATE_PROBE_S"
DEFAULT_PROBE_S = 15.0
PROBE_EVERY_S = 1.0
VERIFY_INI = "prodval_gate_verify"

_ANSWER = pytest.StashKey[str]()
_CONTROL_ANSWER = pytest.StashKey[str]()


def probe(env: object, limit_s: float, what: str = "the target") -> str:
    """GET the environment's version path until it answers; the answer, or raise UsageError.

    ``limit_s`` is a total: every attempt gets ``timeout=min(api.timeout, time left)``, which
    ``target.sync_client``'s transport applies to the whole exchange (connect, TLS, head and
    every byte of the body: exchange.py), so a target that trickles its answer a byte at a
    time ends the probe at the limit as surely as one that refuses connections.
    """
    import httpx

    from ..config import TargetEnv
    from ..target import sync_client

    assert isinstance(env, TargetEnv)
    redactor = env.redactor()
    path = env.api.version_path or "/"
    url = redactor.redact_url(env.api.base_url.rstrip("/") + path)
    deadline = time.monotonic() + limit_s
    problem = "no attempt fitted in the time"
    with sync_client(env) as client:
        while (left := deadline - time.monotonic()) > 0:
            started = time.monotonic()
            try:
                response = client.get(path, timeout=min(env.api.timeout, left))
            except (httpx.HTTPError, OSError) as exc:
                problem = redactor.redact_url(f"{type(exc).__name__}: {exc}")
            else:
                took = time.monotonic() - started
                return f"GET {url} answered {response.status_code} in {took:.2f} s"
            left = deadline - time.monotonic()
            if left > PROBE_EVERY_S:
                time.sleep(PROBE_EVERY_S)  # between attempts at a target that is not up yet
            else:
                break
    raise pytest.UsageError(
        f"prodval-gate preflight: {what} did not answer within {limit_s:g} s "
        f"(PRODVAL_GATE_PROBE_S): GET {url}: {problem}"
    )


def probe_limit() -> float:
    """``PRODVAL_GATE_PROBE_S``, checked (the gate checks it at parse too)."""
    text = os.environ.get(PROBE_ENV, "")
    try:
        value = float(text) if text else DEFAULT_PROBE_S
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise pytest.UsageError(f"{PROBE_ENV}: expected a number of seconds >= 0, got '{text}'")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--prodval-gate-verify-out",
        dest="prodval_gate_verify_out",
        default=None,
        metavar="PATH",
        help="prodval-gate's preflight: write the ini prodval_gate_verify here (JSON).",
    )
    parser.addoption(
        "--prodval-gate-no-probe",
        dest="prodval_gate_no_probe",
        action="store_true",
        default=False,
        help="prodval-gate's preflight: do not probe the target (the verification's collection).",
    )
    parser.addoption(
        "--prodval-gate-needs-integrity",
        dest="prodval_gate_needs_integrity",
        action="store_true",
        default=False,
        help="prodval-gate's preflight (--deploy): the environment must declare integrity tables.",
    )
    parser.addoption(
        "--prodval-gate-collected-out",
        dest="prodval_gate_collected_out",
        default=None,
        metavar="PATH",
        help="prodval-gate's preflight: write the number of collected checks here (JSON).",
    )


def pytest_configure(config: pytest.Config) -> None:
    out = config.getoption("prodval_gate_verify_out")
    if out:
        value = config.getini(VERIFY_INI)
        Path(out).write_text(json.dumps({VERIFY_INI: value}) + "\n", encoding="utf-8")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    from ..config import load_config
    from ..errors import ConfigError
    from ..options import RunOptions

    options = RunOptions.from_config(session.config)
    if options.target_env is None:
        raise pytest.UsageError("prodval-gate preflight: no target environment chosen")
    if options.record or options.prune:
        raise pytest.UsageError(
            "prodval-gate preflight: the options pytest resolved record the baseline "
            "(--record-baseline in an ini addopts, say): a gate compares, never records"
        )
    try:
        loaded = load_config(options.shown(options.config_path))
        env = loaded.environment(options.target_env)
        control = None if options.control_env is None else loaded.environment(options.control_env)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if session.config.getoption("prodval_gate_needs_integrity") and env.integrity is None:
        raise pytest.UsageError(
            f"prodval-gate preflight: --deploy needs the data the release must never lose: "
            f"declare environments.{env.name}.integrity.tables in {options.config_path} "
            "(docs/configuration.md)"
        )
    if not session.config.getoption("prodval_gate_no_probe"):
        session.config.stash[_ANSWER] = probe(env, probe_limit())
        if control is not None:
            # A control deployment that is down would fail the paired checks of a good
            # release: it stops the gate here (exit 3), before anything can be rolled back.
            what = f"the control deployment {control.name}"
            session.config.stash[_CONTROL_ANSWER] = probe(control, probe_limit(), what)


def pytest_collection_finish(session: pytest.Session) -> None:
    out = session.config.getoption("prodval_gate_collected_out")
    if out:
        data = {"collected": len(session.items)}
        Path(out).write_text(json.dumps(data) + "\n", encoding="utf-8")


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for what, key in (("target", _ANSWER), ("control deployment", _CONTROL_ANSWER)):
        answer = config.stash.get(key, None)
        if answer:
            lines.append(f"prodval-gate preflight: {what} reachable: {answer}")
    return lines
