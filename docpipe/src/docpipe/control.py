"""Run the ``docpipe`` command from Python (tests, the root conftest, harnesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["run_docpipe"]


def run_docpipe(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``docpipe --home HOME ARGS…`` in a subprocess, output captured, never raising on exit."""
    return subprocess.run(
        [sys.executable, "-m", "docpipe", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
