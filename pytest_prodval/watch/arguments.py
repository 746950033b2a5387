"""prodval-watch's command line: its options, ``--help``, and the pytest options it refuses.

``parse(argv)`` turns the arguments into ``WatchSettings`` or raises ``WatchUsageError`` with a
one-line message (exit 4, like a pytest usage error). The environment is looked up in the
config file here, once, so that an unknown environment or an unusable ``prodval.yaml`` stops
the service before it listens; its ``timeouts.run_s`` bounds every run.

The pytest options refused after ``--`` are read from the plugin's option table, as the gate
reads them (``gate.arguments.refused``): the options the watch sets itself, recording, the
destructive options, options that run no checks, ``@file``, and ``-o`` of a recording or
destructive ini key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HELP", "WatchSettings", "WatchUsageError", "parse", "refused"]

PROG = "prodval-watch"
DEFAULT_CONFIG = "prodval.yaml"
# SIGTERM to a run's process group first (pytest tears down and writes its summary), SIGKILL
# this long after (PRODVAL_WATCH_KILL_AFTER).
KILL_AFTER_S = 30.0
# A run's bound beyond the environment's timeouts.run_s: start-up, collection, the end of the
# run (the plugin's own run budget starts with the session).
START_SLACK_S = 30.0
# The plugin's options (by dest) the watch sets itself, those that record, the destructive ones.
WATCH_SET = ("prodval_target_env", "prodval_baseline", "prodval_config", "prodval_summary")
RECORDING = ("prodval_record_baseline", "prodval_prune", "prodval_confirm_record")
DESTRUCTIVE = ("prodval_allow_destructive", "prodval_confirm_destructive")
_ENV_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SECONDS = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

HELP = """\
Usage: prodval-watch --env NAME --interval SECONDS --listen HOST:PORT [options] [-- PYTEST_ARGS...]

Validate a deployed environment continuously: run its read-only checks every SECONDS against
the baseline, one run at a time, and serve the results as Prometheus metrics on
http://HOST:PORT/metrics. A failing run never stops the loop; SIGTERM or SIGINT stop the
running checks (SIGTERM to their process group, SIGKILL 30 s later), close the server and
exit 0.

Required:
  --env NAME              environment from the config file (pytest --target-env)
  --interval SECONDS      time from the start of one run to the start of the next (> 0);
                          a run that takes longer is followed by the next one at once
  --listen HOST:PORT      where to serve /metrics, e.g. 127.0.0.1:9464, 0.0.0.0:9464,
                          [::1]:9464; port 0 picks a free port (printed on stderr)

Options:
  --baseline PATH         baseline to compare with (default: the plugin's, baselines/NAME.json)
  --config PATH           environment config file (default: prodval.yaml); each run is bounded
                          by the environment's timeouts.run_s plus 30 s
  --allow-synthetic       also run the checks marked synthetic (they write synthetic data and
                          remove it); without it only read-only checks run. Checks marked
                          destructive never run
  --reports DIR           keep the last run's summary and output in DIR (watch-summary.json,
                          watch-run.log); default: a private directory removed at exit
  -h, --help              this text
  -- PYTEST_ARGS...       passed to every run, e.g. -- -m 'not performance' -n 2; refused
                          there and in PYTEST_ADDOPTS: the options the watch sets, recording,
                          --allow-destructive and its confirmation (also as -o), options that
                          run no checks (--collect-only, --fixtures, --help, ...), @file

Metrics (label env on each): prodval_run_timestamp_seconds, prodval_run_duration_seconds,
prodval_run_interval_seconds, prodval_run_completed, prodval_runs_total{result},
prodval_checks{outcome}, prodval_check_passed{check,suite,slo}; see docs/operations.md.

Exit codes:
  0  stopped by SIGTERM or SIGINT
  4  bad arguments, an unusable config or environment, or the address cannot be listened on
"""


class WatchUsageError(Exception):
    """A bad argument or an unusable config: one line, exit 4."""


@dataclasses.dataclass(frozen=True)
class WatchSettings:
    env: str
    interval_s: float
    host: str
    port: int
    config: str
    baseline: str | None
    allow_synthetic: bool
    reports: str | None
    pytest_args: tuple[str, ...]
    run_s: float  # the environment's timeouts.run_s
    python: str
    kill_after_s: float = KILL_AFTER_S

    @property
    def run_limit_s(self) -> float:
        """The bound of one run: the environment's run budget, plus start-up and its end."""
        return self.run_s + START_SLACK_S


def _flags_table() -> tuple[dict[str, str], set[str]]:
    from ..gate.arguments import option_flags

    flags = option_flags()
    missing = [dest for dest in (*WATCH_SET, *RECORDING, *DESTRUCTIVE) if dest not in flags]
    if missing:  # the option table changed under the watch: fail loudly, never refuse less
        raise RuntimeError(f"{PROG}: the plugin defines no option for {missing}")
    why: dict[str, str] = {}
    for dest in WATCH_SET:
        why |= dict.fromkeys(flags[dest], f"{PROG} sets it (use its own options)")
    for dest in RECORDING:
        why |= dict.fromkeys(flags[dest], f"{PROG} compares with the baseline, never records")
    for dest in DESTRUCTIVE:
        why |= dict.fromkeys(flags[dest], f"{PROG} never runs destructive checks")
    known = {flag for spellings in flags.values() for flag in spellings}
    return why, known


def _ini_table() -> dict[str, str]:
    from ..options import OPTIONS

    why: dict[str, str] = {}
    for opt in OPTIONS:
        if opt.dest in RECORDING:
            why[opt.dest] = f"{PROG} compares with the baseline, never records"
        elif "destructive" in opt.dest:
            why[opt.dest] = f"{PROG} never runs destructive checks"
    return why


def refused(args: Sequence[str], where: str = "after --") -> str | None:
    """The first argument in ``args`` the watch refuses, as a one-line message; else None."""
    from ..gate.arguments import refused as gate_refused

    problem = gate_refused(args, where, flags=_flags_table(), ini_keys=_ini_table())
    if problem is None:
        return None
    # The gate's wording of the reasons they share, in the watch's words.
    return problem.replace("a gate decides on", f"{PROG} reports on").replace(
        "pass them to the gate directly", "pass them directly"
    )


def _seconds(option: str, text: str) -> float:
    if not _SECONDS.fullmatch(text) or float(text) <= 0:
        raise WatchUsageError(f"{option} expects a number of seconds > 0, got '{text}'")
    return float(text)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        raise WatchUsageError(f"--listen expects HOST:PORT (e.g. 127.0.0.1:9464), got '{text}'")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise WatchUsageError(f"--listen expects HOST:PORT (e.g. 127.0.0.1:9464), got '{text}'")
    return host, int(port)


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    if not text:
        return default
    if not _SECONDS.fullmatch(text):
        raise WatchUsageError(f"{name}: expected a number of seconds >= 0, got '{text}'")
    return float(text)


_VALUED = {
    "--env": "env",
    "--interval": "interval",
    "--listen": "listen",
    "--baseline": "baseline",
    "--config": "config",
    "--reports": "reports",
}


def parse(argv: Sequence[str]) -> WatchSettings | None:
    """The watch's settings from its arguments; None for ``--help`` (printed to stdout)."""
    from ..gate.arguments import check_addopts, scan

    scanned = scan(argv, _VALUED, ("--allow-synthetic",), WatchUsageError)
    if scanned is None:
        sys.stdout.write(HELP)
        return None
    values, switches, pytest_args = scanned
    allow_synthetic = "--allow-synthetic" in switches
    for required in ("env", "interval", "listen"):
        if not values.get(required):
            raise WatchUsageError(f"--{required} is required")
    env = values["env"]
    if not _ENV_NAME.fullmatch(env):
        raise WatchUsageError(f"--env: expected letters, digits, '_', '.' and '-', got '{env}'")
    interval_s = _seconds("--interval", values["interval"])
    host, port = _listen(values["listen"])
    for optional in ("baseline", "config", "reports"):
        if optional in values and not values[optional].strip():
            raise WatchUsageError(f"--{optional}: expected a path, got ''")
    problem = refused(pytest_args)
    if problem:
        raise WatchUsageError(problem)
    check_addopts(refused, WatchUsageError)
    config = values.get("config") or DEFAULT_CONFIG
    baseline = values.get("baseline")
    if baseline is not None and not Path(baseline).is_file():
        raise WatchUsageError(f"--baseline {baseline}: not found (a watch compares with one)")
    return WatchSettings(
        env=env,
        interval_s=interval_s,
        host=host,
        port=port,
        config=config,
        baseline=baseline,
        allow_synthetic=allow_synthetic,
        reports=values.get("reports"),
        pytest_args=tuple(pytest_args),
        run_s=_run_budget(config, env),
        python=sys.executable,
        kill_after_s=_env_seconds("PRODVAL_WATCH_KILL_AFTER", KILL_AFTER_S),
    )


def _run_budget(config: str, env: str) -> float:
    """The environment's ``timeouts.run_s``; an unknown environment or a bad file: one line."""
    from ..config import load_config
    from ..errors import ConfigError

    path = Path(config)
    if not path.is_file():
        raise WatchUsageError(f"config {config}: not found (--config names the prodval.yaml)")
    try:
        target = load_config(path).environment(env)
    except ConfigError as exc:
        raise WatchUsageError(str(exc)) from None
    return float(target.timeouts.run_s)
