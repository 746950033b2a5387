"""Run the validation suites as an operator would: pytest in a subprocess, against a config;
and redeploy the docpipe they run against."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from docpipe.control import run_docpipe

ROOT = Path(__file__).resolve().parent.parent


def deploy(home: Path, *faults: str) -> None:
    """``docpipe deploy --release 1`` with these fault switches (none: a clean deployment)."""
    args = ["deploy", "--release", "1"]
    for fault in faults:
        args += ["--fault", fault]
    result = run_docpipe(home, *args)
    assert result.returncode == 0, result.stderr


def run_suites(
    *selection: str,
    config: Path,
    baseline: Path | str,
    summary: Path,
    extra: Sequence[str] = (),
    timeout: float,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """``pytest SELECTION --target-env=local`` with ``config``; never starts a docpipe itself.

    ``cwd`` is the project the suites are taken from (this one, or a copy of it).
    """
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
        cwd=cwd,
        env={**os.environ, "PRODVAL_NO_EMBEDDED_TARGET": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
