"""``docpipe``: bring the reference platform up and down, deploy releases and faults, roll back,
pause and resume one dependency."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import DEFAULT_RELEASE, RELEASES
from .faults import FAULTS, FaultError, Faults
from .home import DEFAULT_PORTS, Home, write_json
from .net import free_port
from .pausing import MODES, control_file

__all__ = ["main"]

UP_TIMEOUT_S = 60.0
DEPLOY_TIMEOUT_S = 60.0
DOWN_TIMEOUT_S = 30.0
CONTROL_TIMEOUT_S = 60.0
POLL_S = 0.1

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3


class CliError(Exception):
    """A one-line message for the user; the exit code is EXIT_FAILED unless given."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- helpers --------------------------------------------------------------------------------


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    return condition()


def _running_state(home: Home) -> dict[str, Any] | None:
    state = home.state()
    if state and state.get("status") in ("up", "deploying") and _alive(state.get("supervisor_pid")):
        return state
    return None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _faults(specs: Sequence[str]) -> Faults:
    try:
        return Faults.parse(specs)
    except FaultError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _release(release: str) -> str:
    if release not in RELEASES:
        raise CliError(
            f"unknown release {release!r}; expected one of: {', '.join(RELEASES)}", EXIT_USAGE
        )
    return release


def _print_urls(state: dict[str, Any]) -> None:
    urls = state["urls"]
    print(f"docpipe is up: release {state['release']}, revision {state['revision']}", end="")
    print(f", faults: {state['faults']}" if state["faults"] else ", no faults")
    print(f"  api       {urls['api']}  (CA: {state['ca_file']})")
    print(f"  parser    {urls['parser']}")
    print(f"  embedder  {urls['embedder']}")
    print(f"  database  127.0.0.1:{state['ports']['postgres']}")
    print(f"  credentials: {state['credentials_file']}")


# --- commands -------------------------------------------------------------------------------


def cmd_up(home: Home, args: argparse.Namespace) -> int:
    release, faults = _release(args.release), _faults(args.fault)
    state = _running_state(home)
    if state is not None:
        if state["release"] == release and state["faults"] == faults.spec():
            _print_urls(state)
            return EXIT_OK
        raise CliError(
            f"docpipe is already up with release {state['release']} "
            f"(faults: {state['faults'] or 'none'}); use `docpipe deploy` to change it"
        )
    _down(home, quiet=True)  # whatever a crashed deployment left behind
    ports = {
        name: (free_port() if args.ports == "auto" else port)
        for name, port in DEFAULT_PORTS.items()
    }
    home.log_dir.mkdir(parents=True, exist_ok=True)
    home.credentials()
    argv = [
        sys.executable,
        "-m",
        "docpipe.supervisor",
        "--home",
        str(home.root),
        "--release",
        release,
        "--faults",
        faults.spec(),
        "--workers",
        str(args.workers),
    ]
    argv += [f"--{name}-port={port}" for name, port in ports.items()]
    if args.dsn:
        argv += ["--dsn", args.dsn]
    log = home.log_dir / "supervisor.log"
    with open(log, "ab") as handle:
        supervisor = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal that ran `docpipe up`
        )

    def settled() -> bool:
        state = home.state() or {}
        mine = state.get("supervisor_pid") == supervisor.pid
        return (mine and state.get("status") in ("up", "failed")) or supervisor.poll() is not None

    if not _wait(settled, args.timeout):
        _down(home, quiet=True)
        raise CliError(f"docpipe did not come up within {args.timeout:g} s; log: {log}")
    state = home.state() or {}
    if state.get("status") != "up" or state.get("supervisor_pid") != supervisor.pid:
        reason = state.get("last_error") or "the supervisor exited"
        _down(home, quiet=True)
        raise CliError(f"docpipe failed to start: {reason}\n{_log_tail(log)}")
    _print_urls(state)
    return EXIT_OK


def _down(home: Home, *, quiet: bool = False, timeout: float = DOWN_TIMEOUT_S) -> bool:
    """Stop everything the home's deployment started. True if anything was running."""
    state = home.state()
    if state is None:
        return False
    pid = state.get("supervisor_pid")
    was_running = _alive(pid)
    if was_running and isinstance(pid, int):
        os.kill(pid, signal.SIGTERM)
        if not _wait(lambda: not _alive(pid), timeout):
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), 5)
    # A supervisor that crashed cannot have stopped its children: do it here.
    for component in (state.get("components") or {}).values():
        child = component.get("pid")
        if _alive(child) and _is_docpipe(child):
            os.kill(child, signal.SIGKILL)
    database = state.get("database") or {}
    if database.get("embedded") and database.get("data_dir"):
        from .pg import EmbeddedPostgres

        data_dir = Path(database["data_dir"])
        if (data_dir / "postmaster.pid").exists():
            password = home.credentials().postgres_password
            EmbeddedPostgres(data_dir, state["ports"]["postgres"], password=password).stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if home.storage_dir.is_file():  # paused storage (docpipe.pausing) of a crashed supervisor
        home.storage_dir.unlink()
    for storage in (home.storage_dir, home.storage_dir.with_name("storage.paused")):
        shutil.rmtree(storage, ignore_errors=True)
    home.state_file.unlink(missing_ok=True)
    home.request_file.unlink(missing_ok=True)
    control_file(home.root).unlink(missing_ok=True)
    if not quiet:
        print("docpipe is down" if was_running else "docpipe was not running; cleaned up")
    return was_running


def _is_docpipe(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"docpipe" in handle.read()
    except FileNotFoundError:
        return False


def cmd_down(home: Home, args: argparse.Namespace) -> int:
    if home.state() is None:
        print("docpipe is not running")
        return EXIT_OK
    _down(home, timeout=args.timeout)
    return EXIT_OK


def cmd_status(home: Home, args: argparse.Namespace) -> int:
    state = _running_state(home)
    if state is None:
        print("docpipe is not running")
        return EXIT_DOWN
    _print_urls(state)
    for name, component in state["components"].items():
        alive = "running" if _alive(component["pid"]) else "DOWN"
        restarts = f", {component['restarts']} restarts" if component["restarts"] else ""
        print(f"  {name:<10} pid {component['pid']:<8} {alive}{restarts}")
    return EXIT_OK


def _request_deploy(home: Home, release: str, faults: Faults, kind: str, timeout: float) -> int:
    state = _running_state(home)
    if state is None:
        raise CliError("docpipe is not running; start it with `docpipe up`", EXIT_DOWN)
    request_id = uuid.uuid4().hex
    write_json(
        home.request_file,
        {"id": request_id, "release": release, "faults": faults.spec(), "kind": kind},
    )
    os.kill(state["supervisor_pid"], signal.SIGHUP)

    def answered() -> bool:
        now = home.state() or {}
        return now.get("request_id") == request_id and now.get("status") != "deploying"

    if not _wait(answered, timeout):
        raise CliError(f"{kind} did not finish within {timeout:g} s")
    after = home.state() or {}
    if after.get("last_error"):
        raise CliError(f"{kind} failed: {after['last_error']}")
    what = "rolled back to" if kind == "rollback" else "deployed"
    faults_text = f" with faults {after['faults']}" if after["faults"] else ""
    print(f"{what} release {after['release']}{faults_text} (revision {after['revision']})")
    return EXIT_OK


def cmd_deploy(home: Home, args: argparse.Namespace) -> int:
    return _request_deploy(
        home, _release(args.release), _faults(args.fault), "deploy", args.timeout
    )


def cmd_rollback(home: Home, args: argparse.Namespace) -> int:
    state = _running_state(home)
    if state is None:
        raise CliError("docpipe is not running; nothing to roll back", EXIT_DOWN)
    history = state["history"]
    current = history[-1]
    if current["kind"] == "rollback":
        print(
            f"already rolled back to release {current['release']} "
            f"(revision {current['revision']}); nothing to do"
        )
        return EXIT_OK
    if len(history) < 2:
        raise CliError("nothing to roll back to: this is the first deployment")
    previous = history[-2]
    return _request_deploy(
        home, previous["release"], _faults([previous["faults"]]), "rollback", args.timeout
    )


def _request_control(home: Home, action: str, component: str, mode: str, timeout: float) -> None:
    """Ask the supervisor to pause or resume ``component``; wait (bounded) for its answer."""
    state = _running_state(home)
    if state is None:
        raise CliError("docpipe is not running; start it with `docpipe up`", EXIT_DOWN)
    request_id = uuid.uuid4().hex
    write_json(
        control_file(home.root),
        {"id": request_id, "action": action, "component": component, "mode": mode},
    )
    supervisor = state["supervisor_pid"]
    os.kill(supervisor, signal.SIGUSR1)

    def answered() -> bool:
        return (home.state() or {}).get("control_id") == request_id or not _alive(supervisor)

    if not _wait(answered, timeout):
        raise CliError(f"{action} {component} did not finish within {timeout:g} s")
    if not _alive(supervisor):
        raise CliError(f"{action} {component}: the supervisor exited; log: {home.log_dir}")
    error = (home.state() or {}).get("control_error")
    if error:
        raise CliError(f"{action} {component} failed: {error}")


def cmd_pause(home: Home, args: argparse.Namespace) -> int:
    _request_control(home, "pause", args.component, args.mode, args.timeout)
    how = "frozen: it hangs" if args.mode == "freeze" else "stopped: it is unreachable"
    print(f"paused {args.component} ({how}); `docpipe resume {args.component}` brings it back")
    return EXIT_OK


def cmd_resume(home: Home, args: argparse.Namespace) -> int:
    _request_control(home, "resume", args.component, "", args.timeout)
    print(f"resumed {args.component}")
    return EXIT_OK


# Requests per second the generated load profile may send: the API saturates at 500-1000
# req/s on a 2-core machine (its one process at 0.75-0.93 of a core), where latency measures
# queueing, not the release. A fifth of the low end leaves room for a second deployment on the
# same machine (blue/green, docs/docpipe.md) and for a busy neighbour.
PRODVAL_MAX_RPS = 100

PRODVAL_CONFIG_HEAD = """\
# prodval.yaml for {what} (written by `docpipe prodval-config`).
environments:
"""
PRODVAL_ENVIRONMENT = """\
  {name}:
    description: docpipe deployment in {home}
    api:
      base_url: {api}
      ca_file: {ca_file}
      version_path: /version
      version_field: release
    database:
      dsn: postgresql://docpipe_monitor:{monitor_password}@127.0.0.1:{pg_port}/docpipe
    credentials:
{credentials}
    load:
      # Well below the deployment's capacity: latency under saturation measures the queue.
      max_rps: {max_rps}
      # A static endpoint on the same host that no API release serves: the control that
      # calibrates latency comparisons (docs/performance.md).
      control_url: {embedder}/health
    # The tables a release must never lose: prodval-gate --deploy snapshots them before the
    # deploy and compares after it (docs/configuration.md, integrity). Content columns only:
    # a document's state changes by itself as it is processed.
    integrity:
      tables:
        documents:
          key: id
          columns: [tenant_id, subject_id, filename, sha256, size_bytes]
          created_at: created_at
          # Erased on purpose during the window (DELETE /documents/{{id}}, a retention purge):
          # accounted for, not lost. docpipe audits both.
          erased: >-
            select resource_id from audit_log
            where action = 'document.erase' and outcome = 'success' and at >= $1
            union select jsonb_array_elements_text(detail -> 'ids') from audit_log
            where action = 'retention.purge' and outcome = 'success' and at >= $1
        tenants: {{key: id, columns: [name]}}
    tls:
      required: true
      hsts: true
      cert_min_days: 30
    params:
      expected_release: "{release}"
      expected_workers: {workers}
      jwt_secret: {jwt_secret}
      jwt_audience: docpipe
      storage_dir: {storage_dir}
      # How the destructive dependency checks take a dependency away and give it back.
      pause_commands:
{pause_commands}
      resume_commands:
{resume_commands}
"""


def cmd_prodval_config(home: Home, args: argparse.Namespace) -> int:
    """Print a prodval.yaml describing this deployment, or each ``--environment NAME=HOME``
    (two deployments side by side: blue/green, docs/docpipe.md); any ports, any homes."""
    wanted = [_environment_arg(text) for text in args.environment] or [(args.name, home)]
    names = [name for name, _ in wanted]
    if len(set(names)) != len(names):
        raise CliError(f"--environment: each name once, got {', '.join(names)}")
    blocks = [_environment_block(name, where, args.expected_release) for name, where in wanted]
    what = (
        f"the docpipe deployment in {home.root}"
        if not args.environment
        else "the docpipe deployments " + ", ".join(f"{n} ({h.root})" for n, h in wanted)
    )
    print(PRODVAL_CONFIG_HEAD.format(what=what) + "".join(blocks), end="")
    return EXIT_OK


def _environment_arg(text: str) -> tuple[str, Home]:
    name, sep, where = text.partition("=")
    if not sep or not name or not where:
        raise CliError(f"--environment: expected NAME=HOME, got {text!r}")
    return name, Home.resolve(where)


def _environment_block(name: str, home: Home, expected_release: str | None) -> str:
    state = _running_state(home)
    if state is None:
        raise CliError(
            f"docpipe is not running in {home.root}; start it with `docpipe --home {home.root} up`",
            EXIT_DOWN,
        )
    credentials = home.credentials()
    # An external database (--dsn) is not docpipe's to stop.
    dependencies = ["parser", "embedder", "storage"]
    if (state.get("database") or {}).get("embedded"):
        dependencies.insert(0, "database")
    return PRODVAL_ENVIRONMENT.format(
        home=home.root,
        name=name,
        api=state["urls"]["api"],
        embedder=state["urls"]["embedder"],
        ca_file=state["ca_file"],
        monitor_password=credentials.monitor_password,
        pg_port=state["ports"]["postgres"],
        credentials="\n".join(
            f"      {role}:\n        api_key: {key}" for role, key in credentials.api_keys.items()
        ),
        max_rps=PRODVAL_MAX_RPS,
        release=expected_release or state["release"],
        workers=sum(1 for component in state["components"] if component.startswith("worker-")),
        jwt_secret=credentials.jwt_secret,
        storage_dir=json.dumps(str(home.storage_dir)),
        pause_commands=_commands(home, "pause", dependencies),
        resume_commands=_commands(home, "resume", dependencies),
    )


def _commands(home: Home, action: str, dependencies: list[str]) -> str:
    """YAML lines ``dependency: "docpipe --home HOME ACTION dependency"`` (JSON strings are YAML),
    with this interpreter so that they run wherever the checks run."""
    return "\n".join(
        f"        {name}: "
        + json.dumps(
            shlex.join([sys.executable, "-m", "docpipe", "--home", str(home.root), action, name])
        )
        for name in dependencies
    )


def cmd_faults(home: Home, args: argparse.Namespace) -> int:
    for name, description in FAULTS.items():
        print(f"{name:<20} {description}")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docpipe", description="The reference document-processing platform."
    )
    parser.add_argument("--home", help="state directory (default: $DOCPIPE_HOME or ./.docpipe)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start every component")
    up.add_argument("--release", default=DEFAULT_RELEASE, help=f"one of {', '.join(RELEASES)}")
    up.add_argument("--fault", action="append", default=[], help="NAME or NAME=VALUE")
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--dsn", help="use this PostgreSQL instead of an embedded one")
    up.add_argument(
        "--ports",
        choices=["default", "auto"],
        default="default",
        help="fixed ports 8443-8446 (default) or free ones",
    )
    up.add_argument("--timeout", type=float, default=UP_TIMEOUT_S)
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop every component and remove the data")
    down.add_argument("--timeout", type=float, default=DOWN_TIMEOUT_S)
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="show what runs (exit 3 when down)")
    status.set_defaults(func=cmd_status)

    deploy = sub.add_parser("deploy", help="switch the running API and workers to a release")
    deploy.add_argument("--release", required=True)
    deploy.add_argument("--fault", action="append", default=[], help="NAME or NAME=VALUE")
    deploy.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT_S)
    deploy.set_defaults(func=cmd_deploy)

    rollback = sub.add_parser("rollback", help="back to the previous deployment")
    rollback.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT_S)
    rollback.set_defaults(func=cmd_rollback)

    config = sub.add_parser(
        "prodval-config", help="print a prodval.yaml environment for this deployment"
    )
    config.add_argument("--name", default="local", help="environment name (default: local)")
    config.add_argument(
        "--environment",
        action="append",
        default=[],
        metavar="NAME=HOME",
        help="an environment for the deployment in HOME (repeatable: blue=A --environment "
        "green=B writes both sides of a blue/green pair); replaces --name and --home",
    )
    config.add_argument("--expected-release", help="release the checks expect (default: running)")
    config.set_defaults(func=cmd_prodval_config)

    pause = sub.add_parser(
        "pause", help="take one dependency away (stopped, or frozen with --mode freeze)"
    )
    pause.add_argument("component", help="database, storage, parser, embedder, api or worker-N")
    pause.add_argument(
        "--mode",
        choices=MODES,
        default="stop",
        help="stop: unreachable (default); freeze: SIGSTOP, it hangs",
    )
    pause.add_argument("--timeout", type=float, default=CONTROL_TIMEOUT_S)
    pause.set_defaults(func=cmd_pause)

    resume = sub.add_parser("resume", help="bring a paused dependency back")
    resume.add_argument("component")
    resume.add_argument("--timeout", type=float, default=CONTROL_TIMEOUT_S)
    resume.set_defaults(func=cmd_resume)

    faults = sub.add_parser("faults", help="list the fault switches")
    faults.set_defaults(func=cmd_faults)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    home = Home.resolve(args.home)
    try:
        code: int = args.func(home, args)
    except CliError as exc:
        print(f"docpipe: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
