"""Run the validation suites as an operator would: pytest in a subprocess, against a config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suites(
    *selection: str,
    config: Path,
    baseline: Path | str,
    summary: Path,
    extra: Sequence[str] = (),
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """``pytest SELECTION --target-env=local`` with ``config``; never starts a docpipe itself."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *selection,
            "--target-env=local",
            f"--prodval-config={config}",
            f"--baseline={baseline}",
            f"--prodval-summary={summary}",
            "-p",
            "no:cacheprovider",
            "-q",
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, "PRODVAL_NO_EMBEDDED_TARGET": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
