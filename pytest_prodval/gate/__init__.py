"""The deployment gate, ``prodval-gate``: a shell wrapper for process control, Python for rules.

- ``pytest_prodval/scripts/prodval-gate`` (bash; ``scripts/prodval-gate`` in the repository
  is a symlink to it): argument hand-off, the lock (flock), signal traps, the phases in order.
- ``arguments``: the gate's options, ``--help``, the pytest options it refuses (read from the
  plugin's option table).
- ``phases`` and ``..process``: each phase as one supervised child (own process group,
  deadline, first signal, SIGKILL after a grace period); ``state``: the run's files.
- ``decision``: the release decision, a pure function of what happened.
- ``record`` and ``notify``: the gate record and the Slack-compatible notification.
- ``preflight``: the pytest plugin of the preflight (target reachable, ini selection).
- ``cli``: ``python -m pytest_prodval.gate parse | run-phase | next | finish``.

``main`` here is the ``prodval-gate`` console script: it tells the script which Python has
pytest-prodval installed, then replaces itself with bash.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["SCRIPT", "main"]

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "prodval-gate"


def main() -> None:
    bash = shutil.which("bash")
    if bash is None:
        print("prodval-gate: bash is not on PATH", file=sys.stderr)
        sys.exit(3)
    os.environ.setdefault("PRODVAL_GATE_PYTHON", sys.executable)
    os.execv(bash, [bash, str(SCRIPT), *sys.argv[1:]])
