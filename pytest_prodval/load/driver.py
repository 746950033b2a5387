"""Runs Locust headless in a subprocess and hands back its raw samples.

Locust monkey-patches the interpreter with gevent on import; inside pytest that would break
every other fixture, so Locust only ever runs as ``python -m locust`` in its own process
(and, with ``workers``, as a master with that many worker processes). What the locustfile
needs travels in ``PRODVAL_LOAD_*`` environment variables; what comes back is files under
the reports directory: the raw samples (JSON lines), Locust's HTML report and CSVs, its log.

The run is bounded (``process.run_bounded``): ``--run-time`` plus a fixed margin, after which
the process group gets SIGTERM, then SIGKILL. Progress is read from Locust's stats history
file every ``PROGRESS_EVERY_S`` seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LoadError
from ..process import run_bounded
from ..safety.load_caps import EffectiveProfile
from .progress import read_progress
from .samples import LoadSamples

if TYPE_CHECKING:
    from ..config import TargetEnv

__all__ = ["LoadDriver", "LoadError", "LoadRun", "master_args"]

# The locustfile has Locust write its stats history every second (docs/performance.md).
PROGRESS_EVERY_S = 1.0
# Locust's start-up (and its workers connecting) plus its stop; beyond this it is hung.
START_MARGIN_S = 30.0
STOP_TIMEOUT_S = 5.0
KILL_WAIT_S = 10.0
MASTER_PORTS = range(20000, 32768)


@dataclasses.dataclass(frozen=True)
class LoadRun:
    samples: LoadSamples
    profile: EffectiveProfile
    samples_path: Path
    html: Path
    csv_prefix: Path
    log: Path
    seconds: float
    target_name: str = "target"
    control_name: str | None = None  # paired mode: the control deployment

    @property
    def stopped_early(self) -> str | None:
        """Why the target's own errors stopped the run early; None if they did not."""
        stopped = self.samples.stopped
        if stopped is None or stopped.get("side", "target") != "target":
            return None
        where = f" on {self.target_name}" if self.control_name else ""
        return f"stopped early: {self._ratio_text(stopped)}{where}"

    @property
    def undecided(self) -> str | None:
        """Why this run cannot judge the target: the control deployment's errors (alone or
        with the target's) stopped it. None otherwise. A check that meets this raises
        ``Undecided``: a failing control says nothing about the release."""
        stopped = self.samples.stopped
        side = None if stopped is None else stopped.get("side", "target")
        if stopped is None or side == "target":
            return None
        if side == "control":
            return (
                f"the control deployment {self.control_name} failed under load "
                f"({self._ratio_text(stopped)}); the paired comparison says nothing about "
                f"{self.target_name}"
            )
        return (
            f"both {self.target_name} and the control deployment {self.control_name} failed "
            f"under load ({self._ratio_text(stopped)}): a cause they share (the load "
            "generator, the network, a dependency both use), not one release"
        )

    def _ratio_text(self, stopped: dict[str, object]) -> str:
        ratio = stopped.get("ratio", 0)
        return (
            f"error ratio {float(ratio) if isinstance(ratio, (int, float)) else 0:.1%} after "
            f"{stopped.get('requests')} requests passed the limit "
            f"{self.profile.stop_error_ratio:.1%} (load.stop_error_ratio)"
        )


class LoadDriver:
    """One target, one profile; ``run`` may be called for several locustfiles or labels."""

    def __init__(
        self,
        env: TargetEnv,
        profile: EffectiveProfile,
        reports_dir: Path,
        progress: Callable[[str], None] | None = None,
        python: str = sys.executable,
        control: TargetEnv | None = None,
    ) -> None:
        self.env = env
        self.profile = profile
        self.reports_dir = reports_dir
        self.progress = progress or (lambda line: None)
        self.python = python
        # Paired mode: the same load on a control deployment, from the same users.
        self.control = control
        self.sides: tuple[str, str] | None = (env.name, control.name) if control else None

    def command(self, locustfile: Path, prefix: Path) -> list[str]:
        p = self.profile
        users = p.users + (1 if p.upload_every_s > 0 else 0)  # + the one uploading user
        command = [
            self.python,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            f"{p.spawn_rate:g}",
            "--run-time",
            f"{max(1, round(p.duration_s))}s",
            "--host",
            self.env.api.base_url,
            "--csv",
            str(prefix),
            "--csv-full-history",
            "--html",
            f"{prefix}.html",
            "--only-summary",
            "--stop-timeout",
            f"{STOP_TIMEOUT_S:g}",
            "--exit-code-on-error",
            "0",
            "--loglevel",
            "WARNING",
        ]
        if p.workers:
            command += ["--processes", str(p.workers), *master_args()]
        return command

    def environment(
        self,
        samples: Path,
        documents: Sequence[str],
        read_role: str | None,
        write_role: str | None,
        control_documents: Sequence[str] = (),
    ) -> dict[str, str]:
        env, p = self.env, self.profile
        variables = {
            **os.environ,
            "PRODVAL_LOAD_SAMPLES": str(samples),
            **_side_variables("", env, documents, read_role, write_role),
            "PRODVAL_LOAD_USERS": str(p.users),
            "PRODVAL_LOAD_MAX_RPS": f"{p.max_rps:g}" if p.max_rps else "0",
            "PRODVAL_LOAD_UPLOAD_EVERY_S": f"{p.upload_every_s:g}",
            "PRODVAL_LOAD_ERROR_LIMIT": f"{p.stop_error_ratio:g}",
            "PRODVAL_LOAD_ERROR_MIN_REQUESTS": str(p.error_min_requests),
            "PRODVAL_LOAD_TIMEOUT_S": f"{env.api.timeout:g}",
            "PRODVAL_LOAD_CONTROL_URL": p.control_url or "",
        }
        if self.control is not None:
            control = _side_variables(
                "PAIRED_", self.control, control_documents, read_role, write_role
            )
            variables |= control | {"PRODVAL_LOAD_TARGET_NAME": env.name}
        return variables

    def run(
        self,
        locustfile: Path,
        *,
        label: str = "load",
        documents: Sequence[str] = (),
        read_role: str | None = None,
        write_role: str | None = None,
        control_documents: Sequence[str] = (),
    ) -> LoadRun:
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        prefix = self.reports_dir / label
        samples_path = self.reports_dir / f"{label}-samples.jsonl"
        log = self.reports_dir / f"{label}-locust.log"
        for stale in [samples_path, *self.reports_dir.glob(f"{label}_*.csv")]:
            stale.unlink(missing_ok=True)
        total_s = self.profile.spawn_s + self.profile.duration_s
        deadline_s = total_s + START_MARGIN_S + STOP_TIMEOUT_S
        against = self.env.name
        if self.control is not None:
            against += f" and, at the same time, the control deployment {self.control.name}"
        self.progress(f"load: {self.profile.describe()} against {against}")
        history = Path(f"{prefix}_stats_history.csv")

        printed: list[float] = []  # the timestamp of Locust's last write shown

        def report_progress(elapsed: float) -> None:
            # The aggregate line, then one per endpoint (both sides on one line when paired);
            # a write already shown is not repeated.
            progress = read_progress(history, self.sides)
            if progress is None or printed[-1:] == [progress.timestamp]:
                return
            printed.append(progress.timestamp)
            for line in progress.lines(elapsed, total_s):
                self.progress(line)

        with log.open("w", encoding="utf-8") as out:
            # Its own process group: a hang is killed with its workers (TERM, then KILL).
            outcome = run_bounded(
                self.command(locustfile, prefix),
                timeout_s=deadline_s,
                first_signal=signal.SIGTERM,
                grace_s=KILL_WAIT_S,
                tick_s=PROGRESS_EVERY_S,
                on_tick=report_progress,
                env=self.environment(
                    samples_path, documents, read_role, write_role, control_documents
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        seconds = outcome.seconds
        if outcome.timed_out:
            raise LoadError(f"Locust did not finish within {deadline_s:.0f} s; {_tail(log)}")
        if outcome.signal is not None:
            raise LoadError(f"Locust was killed by {outcome.signal}; {_tail(log)}")
        if outcome.exit_code != 0:
            raise LoadError(f"Locust exited with status {outcome.exit_code}; {_tail(log)}")
        samples = LoadSamples.read(samples_path)
        if not samples.endpoints:
            raise LoadError(f"Locust made no requests; {_tail(log)}")
        if self.control is not None and not samples.control_side:
            raise LoadError(
                f"Locust made no requests to the control deployment {self.control.name}; "
                f"{_tail(log)}"
            )
        return LoadRun(
            samples=samples,
            profile=self.profile,
            samples_path=samples_path,
            html=Path(f"{prefix}.html"),
            csv_prefix=prefix,
            log=log,
            seconds=seconds,
            target_name=self.env.name,
            control_name=self.control.name if self.control else None,
        )


def master_args() -> list[str]:
    """Where a master and its ``--processes`` workers talk: loopback only, and a free port.

    Locust's default is port 5557 on every interface: two runs with workers on one machine
    (two gates, parallel tests) would collide, and the channel would be open to the network.
    The port is picked below the kernel's ephemeral range, where no client's source port lands.
    """
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = MASTER_PORTS.stop
    ports = range(MASTER_PORTS.start, min(MASTER_PORTS.stop, ephemeral))
    port = 0
    for candidate in random.sample(ports, min(50, len(ports))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = candidate
            break
    if not port:  # nothing free down there: the kernel's pick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    host = "127.0.0.1"
    return [
        *("--master-bind-host", host, "--master-bind-port", str(port)),
        *("--master-host", host, "--master-port", str(port)),
    ]


def _side_variables(
    prefix: str,
    env: TargetEnv,
    documents: Sequence[str],
    read_role: str | None,
    write_role: str | None,
) -> dict[str, str]:
    """What the locustfile needs to reach one side: ``PRODVAL_LOAD_[PAIRED_]...``."""
    from ..target import auth_headers

    base_headers = dict(env.api.headers)
    name = f"PRODVAL_LOAD_{prefix}"
    variables = {
        f"{name}CA_FILE": env.api.ca_file or "",
        f"{name}VERIFY_TLS": "1" if env.api.verify_tls else "0",
        f"{name}READ_HEADERS": json.dumps(
            base_headers | (auth_headers(env, read_role) if env.credentials else {})
        ),
        f"{name}WRITE_HEADERS": json.dumps(
            base_headers | (auth_headers(env, write_role) if env.credentials else {})
        ),
        f"{name}DOCUMENTS": json.dumps(list(documents)),
    }
    if prefix:  # the target's address is Locust's --host
        variables |= {f"{name}HOST": env.api.base_url, f"{name}NAME": env.name}
    return variables


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return f"last lines of {log}:\n" + "\n".join(text[-lines:])
