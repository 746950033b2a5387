"""prodval-gate's command line: its options, ``--help``, and the pytest options it refuses.

``parse(argv)`` turns the gate's arguments into ``GateSettings`` or raises ``GateUsageError`` with
a one-line message. The pytest options refused after ``--`` are not a copy: they are read from
the plugin's own option table (``options.add_options``) by their ``dest``, so a renamed or added
spelling is refused as soon as the plugin defines it; abbreviations argparse would expand
(``--record-base``) and ``--opt=value`` spellings are refused too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from ..errors import GateUsageError

__all__ = [
    "GATE_SET",
    "HELP",
    "NO_CHECKS",
    "RECORDING",
    "GateSettings",
    "check_addopts",
    "default_lock_file",
    "forbidden_flags",
    "option_flags",
    "parse",
    "refused",
    "refused_ini_keys",
    "scan",
]

DEFAULT_TIMEOUT_S = 900
DEFAULT_ROLLBACK_TIMEOUT_S = 300
DEFAULT_DEPLOY_TIMEOUT_S = 600
DEFAULT_BACKUP_TIMEOUT_S = 900  # also the restore's
DEFAULT_SNAPSHOT_TIMEOUT_S = 300  # the data snapshot, and each of its checks
NOTIFY_S = 10.0  # the notification's total deadline (PRODVAL_GATE_NOTIFY_S)
PROBE_S = 15.0  # the preflight's probe of the target, in total (PRODVAL_GATE_PROBE_S)
COLLECT_S = 300.0  # collecting the checks, after the probe (PRODVAL_GATE_COLLECT_S)
# The options' dests (the plugin's option table) the gate sets itself, and those that record.
GATE_SET = (
    "prodval_target_env",
    "prodval_control_env",
    "prodval_baseline",
    "prodval_config",
    "prodval_summary",
)
RECORDING = ("prodval_record_baseline", "prodval_prune", "prodval_confirm_record")
# pytest's own option for the JUnit XML, which the gate also sets.
JUNIT_FLAGS = ("--junitxml", "--junit-xml")
# allure-pytest's results directory: the gate gives each phase its own (--allure-dir).
ALLURE_FLAGS = ("--alluredir",)
_ALLURE_WHY = (
    "the gate gives each phase its own Allure results (use the gate's --allure-dir DIR: "
    "DIR/suites and DIR/verification), so that a verification never shows as a retry of "
    "the release's checks"
)
_ENV_NAME = re.compile(r"[A-Za-z0-9_.-]+")

HELP = """\
Usage: prodval-gate --env NAME --baseline PATH --rollback COMMAND [options] [-- PYTEST_ARGS...]
       prodval-gate ... --rollback COMMAND --deploy COMMAND [--backup COMMAND] [--restore COMMAND]

Run the validation suites against a fresh deployment and decide the release. When the suites
fail, time out or are interrupted, run COMMAND to roll back, then run verification checks
against the rolled-back deployment. Every run that gets past argument checking writes a gate
record, reports/gate/<UTC time>-<env>.json.

Required:
  --env NAME              environment from the config file (pytest --target-env)
  --baseline PATH         baseline to compare with; must exist (pytest --baseline)
  --rollback COMMAND      shell command that rolls the deployment back, e.g.
                          'helm rollback docpipe' or 'docpipe rollback'; run with bash -c,
                          at most once per gate run, and never when the suites pass

Options:
  --verify SELECTION      pytest arguments for the post-rollback check, split like a shell
                          line (default: the validation project's ini key
                          prodval_gate_verify, e.g. -m application -k 'not expected_release':
                          is the rolled-back deployment healthy, whatever release it runs)
  --timeout SECONDS       limit for the suite run (default 900); at the limit pytest gets
                          SIGINT (it tears down synthetic data and writes its reports), then
                          SIGKILL 30 s later
  --verify-timeout SECONDS
                          limit for the verification run (default: --timeout)
  --rollback-timeout SECONDS
                          limit for the rollback command (default 300); at the limit its
                          process group gets SIGTERM, then SIGKILL 30 s later
  --notify URL            POST a Slack-compatible JSON message (decision, failed checks) to
                          URL when done, within PRODVAL_GATE_NOTIFY_S (10) seconds in all; a
                          failed notification is recorded, never changes the exit code
  --control-env NAME      a deployment of the known-good release beside the target (the blue
                          side of blue/green, a canary's stable service): the performance
                          checks measure both at the same time and compare them (pytest
                          --control-env); checked reachable in the preflight like the target
  --config PATH           environment config file (default: prodval.yaml); also used to
                          redact secrets from the rollback output in the record
  --reports DIR           where reports go (default: reports); the record is DIR/gate/...
  --allure-dir DIR        Allure results of each phase in its own directory, cleaned first:
                          DIR/suites (the release's checks) and DIR/verification (after a
                          rollback); needs allure-pytest (pytest-prodval[allure]).
                          --alluredir after -- is refused
  -h, --help              this text

The deployment run (--deploy): the gate deploys, validates, and rolls back itself:
  --deploy COMMAND        shell command that deploys the release (bash -c), after the
                          prerequisites: the target answers, config and baseline load, the
                          current release passes the readiness selection, and the data
                          snapshot (prodval.yaml integrity:) is taken. After the suites pass,
                          the data is checked against the snapshot; a difference is a failed
                          release. After a rollback, it is checked again: data lost is exit 2
  --backup COMMAND        run before the deploy; a failed backup deploys nothing (exit 3)
  --restore COMMAND       run after a successful rollback, before the verification; a failed
                          restore is exit 2
  --readiness SELECTION   pytest arguments of the read-only readiness checks of the current
                          release (default: the verification selection)
  --deploy-timeout SECONDS
                          limit for the deploy command (default 600); SIGTERM, SIGKILL 30 s later
  --backup-timeout SECONDS, --restore-timeout SECONDS
                          limits for the backup and restore commands (default 900 each)
  --snapshot-timeout SECONDS
                          limit for the data snapshot and for each check of it (default 300)
  -- PYTEST_ARGS...       passed to every pytest run (collection, suites, verification), e.g.
                          -- -n 4 -m 'not performance'; the --verify selection comes after them
                          refused there, in --verify and in PYTEST_ADDOPTS: the options the gate
                          sets, recording (also as -o/--override-ini), options that run no
                          checks (--collect-only, --setup-plan, --fixtures, --help, ...), @file

Exit codes:
  0  the suites passed; nothing was rolled back
  1  the suites failed, timed out or were interrupted (or exited 0 without this run's JUnit
     and summary reporting every collected check); rolled back, and the verification passed
  2  the suites failed, and the rollback failed, timed out or its verification failed: the
     deployment is in an unknown state and a human must act; with --deploy also: the restore
     failed, or the data after the rollback differs from the snapshot (data_lost)
  3  gate misused or misconfigured: bad arguments, invalid config, unreadable baseline,
     unreachable target, no checks collected, every check skipped, no verification selection,
     pytest usage error, or another gate holds the environment's lock; or undecided: pytest
     hit an internal error (a full disk, a broken plugin) before any check failed. Nothing
     was validated and nothing was rolled back. With --deploy also: the current release
     failed its readiness checks, or the data snapshot or the backup failed (not_deployed).

pytest's exit codes are mapped explicitly: 0 -> 0; 1 (checks failed), 2 (interrupted),
3 (internal error), death by a signal and the timeout -> roll back (then 1 or 2); 4 (usage
error) -> 3; 5 (no checks collected) -> 3, never a pass.

SIGINT or SIGTERM during the preflight stop it (exit 3, nothing rolled back); while the suites
run they stop them and roll back; during the rollback they are noted, and the rollback and its
verification run on (each bounded by its timeout); during the verification they stop it
(exit 2: not verified); while the record is written they cut the notification short. The
record names the signal.

Environment: PRODVAL_GATE_PYTHON (the Python with pytest-prodval; set by the installed
prodval-gate), PRODVAL_GATE_LOCK_DIR (lock files, one per environment; default
${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/prodval-gate-locks, keyed on the config file's path and the
environment, whatever --reports says), PRODVAL_GATE_KILL_AFTER, PRODVAL_GATE_PROBE_S (the
preflight's wait for the target, in total), PRODVAL_GATE_COLLECT_S, PRODVAL_GATE_NOTIFY_S.
PYTEST_ADDOPTS is checked like the arguments after --. The gate sets
PRODVAL_NO_EMBEDDED_TARGET=1: it validates the deployment that is there, never one it starts
itself.
"""


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """One gate run's arguments, checked; saved as JSON in the run's private work directory."""

    env: str
    baseline: str
    rollback: str
    control_env: str | None
    verify: str | None  # --verify; None: the project's ini key prodval_gate_verify
    timeout_s: int
    verify_timeout_s: int
    rollback_timeout_s: int
    notify: str | None
    config: str
    reports: str
    pytest_args: tuple[str, ...]
    python: str
    kill_after_s: float
    collect_s: float
    lock_file: str
    probe_s: float
    notify_s: float
    started_at: float
    allure_dir: str | None = None  # --allure-dir: DIR/suites, DIR/verification
    # The deployment run (--deploy); None without it: the gate behaves as it always did.
    deploy: str | None = None
    backup: str | None = None
    restore: str | None = None
    readiness: str | None = None  # None: the verification selection
    deploy_timeout_s: int = DEFAULT_DEPLOY_TIMEOUT_S
    backup_timeout_s: int = DEFAULT_BACKUP_TIMEOUT_S
    restore_timeout_s: int = DEFAULT_BACKUP_TIMEOUT_S
    snapshot_timeout_s: int = DEFAULT_SNAPSHOT_TIMEOUT_S

    def allure_args(self, phase: str) -> list[str]:
        """allure-pytest's options for ``phase`` (suites, verification): its own directory."""
        if self.allure_dir is None:
            return []
        return [f"--alluredir={Path(self.allure_dir) / phase}", "--clean-alluredir"]

    @property
    def common_args(self) -> list[str]:
        """What every pytest run of the gate gets first."""
        args = [
            f"--target-env={self.env}",
            f"--baseline={self.baseline}",
            f"--prodval-config={self.config}",
        ]
        if self.control_env is not None:
            args.append(f"--control-env={self.control_env}")
        return args

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["pytest_args"] = list(self.pytest_args)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateSettings:
        return cls(**{**data, "pytest_args": tuple(data["pytest_args"])})


# --- the pytest options a gate refuses --------------------------------------------------------


class _OptionRecorder:
    """Stands in for ``pytest.Parser``: keeps each registered option's flags by dest."""

    def __init__(self) -> None:
        self.flags: dict[str, tuple[str, ...]] = {}

    def getgroup(self, name: str, description: str = "", after: str | None = None) -> Any:
        return self

    def addoption(self, *flags: str, **attrs: Any) -> None:
        self.flags[str(attrs["dest"])] = flags

    def addini(self, *args: Any, **kwargs: Any) -> None:
        pass


def option_flags() -> dict[str, tuple[str, ...]]:
    """Every option of the plugin's table: {dest: its flags}, as ``add_options`` adds them."""
    import pytest

    from ..options import add_options

    recorder = _OptionRecorder()
    add_options(cast(pytest.Parser, recorder))
    return recorder.flags


def forbidden_flags() -> tuple[dict[str, str], set[str]]:
    """{flag: why refused} for the options a gate sets or that record, and every plugin flag."""
    flags = option_flags()
    missing = [dest for dest in (*GATE_SET, *RECORDING) if dest not in flags]
    if missing:  # the option table changed under the gate: fail loudly, never refuse less
        raise RuntimeError(f"prodval-gate: the plugin defines no option for {missing}")
    why: dict[str, str] = {}
    for dest in GATE_SET:
        why |= dict.fromkeys(flags[dest], "the gate sets it (use the gate's own options)")
    why |= dict.fromkeys(JUNIT_FLAGS, "the gate sets it (use the gate's own options)")
    why |= dict.fromkeys(ALLURE_FLAGS, _ALLURE_WHY)
    for dest in RECORDING:
        why |= dict.fromkeys(flags[dest], "a gate compares with the baseline, never records")
    known = {flag for spellings in flags.values() for flag in spellings}
    return why, known | set(JUNIT_FLAGS) | set(ALLURE_FLAGS)


# pytest options that run no checks (they collect, plan, list or print, and exit 0): a gate
# run needs checks that ran, so they are refused at parse time like the recording options.
NO_CHECKS = (
    "--collect-only",
    "--co",
    "--setup-plan",
    "--setup-only",
    "--fixtures",
    "--funcargs",
    "--fixtures-per-test",
    "--markers",
    "--cache-show",
    "--help",
    "--version",
)
NO_CHECKS_SHORT = {"h": "--help", "V": "--version"}
# pytest's short flags that take no value: a cluster such as -qV is read letter by letter up to
# the first one that takes a value (the rest of the word, or the next word, is that value).
_SHORT_FLAGS = set("qvxslhV")
_NO_CHECKS_WHY = "runs no checks (a gate decides on checks that ran)"
_ARGFILE_WHY = "pytest would read arguments from that file; pass them to the gate directly"


def refused_ini_keys() -> dict[str, str]:
    """{ini key: why refused} for ``-o/--override-ini``: recording, confirmations, destructive."""
    from ..options import OPTIONS

    why: dict[str, str] = {}
    for opt in OPTIONS:
        if opt.dest in RECORDING:
            why[opt.dest] = "a gate compares with the baseline, never records"
        elif "destructive" in opt.dest or "confirm" in opt.dest:
            why[opt.dest] = "a production guard is not overridden through ini (use its option)"
    return why


def _override(value: str, where: str, arg: str, ini_why: dict[str, str]) -> str | None:
    key = value.partition("=")[0].strip()
    why = ini_why.get(key)
    return f"'{arg}' {where}: overrides ini {key}: {why}" if why else None


def refused(
    args: Sequence[str],
    where: str = "after --",
    *,
    flags: tuple[dict[str, str], set[str]] | None = None,
    ini_keys: dict[str, str] | None = None,
) -> str | None:
    """The first argument in ``args`` that a gate refuses, as a one-line message.

    ``flags`` ({flag: why}, every known flag) and ``ini_keys`` ({ini key: why}) default to the
    gate's (``forbidden_flags()``, ``refused_ini_keys()``); ``prodval-watch`` passes its own.
    """
    why, known = forbidden_flags() if flags is None else flags
    ini_why = refused_ini_keys() if ini_keys is None else ini_keys
    words = list(args)
    for index, arg in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if arg.startswith("@") and len(arg) > 1:
            return f"'{arg}' {where}: {_ARGFILE_WHY}"
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            for position, letter in enumerate(arg[1:], start=1):
                if letter in NO_CHECKS_SHORT:
                    return (
                        f"'{arg}' {where}: -{letter} ({NO_CHECKS_SHORT[letter]}) {_NO_CHECKS_WHY}"
                    )
                if letter == "o":
                    value = arg[position + 1 :]
                    shown = arg if value else f"{arg} {following}".strip()
                    problem = _override(value or following, where, shown, ini_why)
                    if problem:
                        return problem
                    break
                if letter not in _SHORT_FLAGS:
                    break  # this letter takes a value: the rest of the word is it
            continue
        if not arg.startswith("--") or arg == "--":
            continue
        name, has_value, value = arg.partition("=")
        if name == "--override-ini":
            shown = arg if has_value else f"{arg} {following}".strip()
            problem = _override(value if has_value else following, where, shown, ini_why)
            if problem:
                return problem
            continue
        if name in NO_CHECKS:
            return f"'{arg}' {where}: {_NO_CHECKS_WHY}"
        if name in why:
            return f"'{arg}' {where}: {why[name]}"
        if name in known or len(name) < 3:
            continue
        # An abbreviation argparse (with allow_abbrev) would expand to a refused option.
        expands_to = sorted(flag for flag in why if flag.startswith(name))
        if expands_to:
            return f"'{arg}' {where}: abbreviates {expands_to[0]}: {why[expands_to[0]]}"
    return None


def default_lock_file(config: str, env: str) -> Path:
    """The lock of one environment: the same for every gate on it, whatever ``--reports`` says.

    Keyed on the config file's absolute path and the environment's name, in
    ``PRODVAL_GATE_LOCK_DIR`` or else ``${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/prodval-gate-locks``.
    """
    import hashlib

    lock_dir = os.environ.get("PRODVAL_GATE_LOCK_DIR")
    if lock_dir:
        return Path(lock_dir) / f"{env}.lock"
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    where = os.path.realpath(os.path.abspath(config))
    digest = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return Path(base) / "prodval-gate-locks" / f"{digest}-{env}.lock"


# --- the gate's own arguments -----------------------------------------------------------------

_VALUED = {
    "--env": "env",
    "--control-env": "control_env",
    "--baseline": "baseline",
    "--rollback": "rollback",
    "--verify": "verify",
    "--timeout": "timeout",
    "--verify-timeout": "verify_timeout",
    "--rollback-timeout": "rollback_timeout",
    "--notify": "notify",
    "--config": "config",
    "--reports": "reports",
    "--allure-dir": "allure_dir",
    "--deploy": "deploy",
    "--backup": "backup",
    "--restore": "restore",
    "--readiness": "readiness",
    "--deploy-timeout": "deploy_timeout",
    "--backup-timeout": "backup_timeout",
    "--restore-timeout": "restore_timeout",
    "--snapshot-timeout": "snapshot_timeout",
}
# Options that only mean something in a deployment run.
_DEPLOY_ONLY = (
    "backup",
    "restore",
    "readiness",
    "deploy_timeout",
    "backup_timeout",
    "restore_timeout",
    "snapshot_timeout",
)


def _seconds(option: str, text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", text):
        raise GateUsageError(f"{option} expects a whole number of seconds > 0, got '{text}'")
    return int(text)


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise GateUsageError(f"{name}: expected a number of seconds >= 0, got '{text}'")
    return value


def scan(
    argv: Sequence[str],
    valued: Mapping[str, str],
    switches: Collection[str],
    error: type[Exception],
) -> tuple[dict[str, str], set[str], list[str]] | None:
    """A command's arguments (the gate's, the watch's): ``{dest: value}`` of the ``valued``
    options ({flag: dest}, as ``--x V`` or ``--x=V``), the ``switches`` given, and the pytest
    arguments after ``--``; None for ``-h``/``--help``. A bad argument raises ``error``."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            return None
        if arg == "--":
            return values, seen, rest
        if arg in switches:
            seen.add(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name not in valued:
            raise error(f"unknown argument '{arg}' (pytest arguments go after --)")
        if not has_value:
            if not rest:
                raise error(f"{name} needs a value")
            value = rest.pop(0)
        values[valued[name]] = value
    return values, seen, []


def check_addopts(
    refuses: Callable[[Sequence[str], str], str | None], error: type[Exception]
) -> None:
    """``PYTEST_ADDOPTS`` is checked like the arguments after ``--`` (every pytest run reads
    it); the first refused one raises ``error``."""
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    if not addopts.strip():
        return
    try:
        added = shlex.split(addopts)
    except ValueError as exc:
        raise error(f"PYTEST_ADDOPTS: cannot split '{addopts}': {exc}") from None
    problem = refuses(added, "in PYTEST_ADDOPTS")
    if problem:
        raise error(problem)


def parse(argv: Sequence[str]) -> GateSettings | None:
    """The gate's settings from its arguments; None for ``--help`` (printed to stdout)."""
    scanned = scan(argv, _VALUED, (), GateUsageError)
    if scanned is None:
        sys.stdout.write(HELP)
        return None
    values, _, pytest_args = scanned
    for required in ("env", "baseline", "rollback"):
        if not values.get(required):
            raise GateUsageError(f"--{required} is required")
    env = values["env"]
    if not _ENV_NAME.fullmatch(env):
        raise GateUsageError(f"--env: expected letters, digits, '_', '.' and '-', got '{env}'")
    control_env = values.get("control_env")
    if control_env is not None:
        if not _ENV_NAME.fullmatch(control_env):
            raise GateUsageError(
                f"--control-env: expected letters, digits, '_', '.' and '-', got '{control_env}'"
            )
        if control_env == env:
            raise GateUsageError(
                f"--control-env: '{control_env}' is the target itself; the control must be "
                "another deployment, running the known-good release"
            )
    verify = values.get("verify")
    if verify is not None:
        if not verify.strip():
            raise GateUsageError("--verify: expected a pytest selection, got ''")
        verify_words(verify, "--verify")  # splits, and refuses what a gate refuses
    timeout_s = _seconds("--timeout", values.get("timeout", str(DEFAULT_TIMEOUT_S)))
    rollback_timeout_s = _seconds(
        "--rollback-timeout", values.get("rollback_timeout", str(DEFAULT_ROLLBACK_TIMEOUT_S))
    )
    verify_timeout_s = _seconds("--verify-timeout", values.get("verify_timeout", str(timeout_s)))
    notify = values.get("notify") or None
    if notify is not None and not re.match(r"https?://", notify):
        raise GateUsageError("--notify: expected an http:// or https:// URL")
    problem = refused(pytest_args)
    if problem:
        raise GateUsageError(problem)
    check_addopts(refused, GateUsageError)
    allure_dir = values.get("allure_dir")
    if allure_dir is not None:
        import importlib.util

        if not allure_dir.strip():
            raise GateUsageError("--allure-dir: expected a directory, got ''")
        if importlib.util.find_spec("allure_pytest") is None:
            raise GateUsageError(
                "--allure-dir needs allure-pytest in the gate's Python "
                "(pip install 'pytest-prodval[allure]')"
            )
    reports = values.get("reports") or "reports"
    config = values.get("config") or "prodval.yaml"
    deploy = values.get("deploy")
    for command in ("deploy", "backup", "restore"):
        if command in values and not values[command].strip():
            raise GateUsageError(f"--{command}: expected a shell command, got ''")
    if deploy is None:
        given = [f"--{name.replace('_', '-')}" for name in _DEPLOY_ONLY if name in values]
        if given:
            raise GateUsageError(f"{given[0]} needs --deploy (the deployment run)")
    readiness = values.get("readiness")
    if readiness is not None:
        verify_words(readiness, "--readiness")
    deploy_timeout_s = _seconds(
        "--deploy-timeout", values.get("deploy_timeout", str(DEFAULT_DEPLOY_TIMEOUT_S))
    )
    backup_timeout_s = _seconds(
        "--backup-timeout", values.get("backup_timeout", str(DEFAULT_BACKUP_TIMEOUT_S))
    )
    restore_timeout_s = _seconds(
        "--restore-timeout", values.get("restore_timeout", str(DEFAULT_BACKUP_TIMEOUT_S))
    )
    snapshot_timeout_s = _seconds(
        "--snapshot-timeout", values.get("snapshot_timeout", str(DEFAULT_SNAPSHOT_TIMEOUT_S))
    )
    return GateSettings(
        env=env,
        baseline=values["baseline"],
        rollback=values["rollback"],
        control_env=control_env,
        verify=verify,
        timeout_s=timeout_s,
        verify_timeout_s=verify_timeout_s,
        rollback_timeout_s=rollback_timeout_s,
        notify=notify,
        config=config,
        reports=reports,
        pytest_args=tuple(pytest_args),
        python=sys.executable,
        kill_after_s=_env_seconds("PRODVAL_GATE_KILL_AFTER", 30.0),
        collect_s=_env_seconds("PRODVAL_GATE_COLLECT_S", COLLECT_S) or COLLECT_S,
        lock_file=str(default_lock_file(config, env)),
        probe_s=_env_seconds("PRODVAL_GATE_PROBE_S", PROBE_S),
        notify_s=_env_seconds("PRODVAL_GATE_NOTIFY_S", NOTIFY_S) or NOTIFY_S,
        started_at=time.time(),
        allure_dir=allure_dir,
        deploy=deploy,
        backup=values.get("backup"),
        restore=values.get("restore"),
        readiness=readiness,
        deploy_timeout_s=deploy_timeout_s,
        backup_timeout_s=backup_timeout_s,
        restore_timeout_s=restore_timeout_s,
        snapshot_timeout_s=snapshot_timeout_s,
    )


def verify_words(text: str, source: str) -> list[str]:
    """A verification selection split like a shell line; GateUsageError when it cannot be used."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise GateUsageError(f"{source}: cannot split '{text}': {exc}") from None
    if not words:
        raise GateUsageError(f"{source}: expected a pytest selection, got '{text}'")
    problem = refused(words, f"in {source}")
    if problem:
        raise GateUsageError(problem)
    return words
