"""A docpipe built from a changed copy of its source: a realistic regression, not a fault switch.

``mutated_source`` copies docpipe's source tree (or another copy of it) and applies text
replacements, each of which must match exactly once (``mutated_texts``); ``docpipe_from`` runs
the CLI with that copy first on PYTHONPATH, which the supervisor and every component it starts
inherit. ``failures`` reads what failed from a JUnit XML report, with the failure text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCPIPE_SRC = ROOT / "docpipe" / "src"

# file (relative to docpipe/src) -> (old, new) replacements
Mutation = dict[str, list[tuple[str, str]]]


def mutated_texts(mutation: Mutation, base: Path = DOCPIPE_SRC) -> dict[str, str]:
    """Each file ``mutation`` changes (relative to ``base``, a docpipe/src tree) -> its new text.

    Raises ValueError naming the file and the text when a replacement does not match exactly
    once (after the file's earlier replacements).
    """
    texts = {}
    for relative, replacements in mutation.items():
        text = (base / relative).read_text()
        for old, new in replacements:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"{relative}: {old!r} occurs {count} times, expected once")
            text = text.replace(old, new)
        texts[relative] = text
    return texts


def mutated_source(where: Path, mutation: Mutation, base: Path = DOCPIPE_SRC) -> Path:
    """A copy of ``base`` (docpipe/src) under ``where`` with ``mutation`` applied; its path."""
    texts = mutated_texts(mutation, base)
    source = where / "src"
    shutil.copytree(base, source, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, text in texts.items():
        (source / relative).write_text(text)
    return source


def docpipe_from(
    source: Path, home: Path, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``docpipe --home HOME ARGS…`` running the code in ``source``."""
    path = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "docpipe", "--home", str(home), *args],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def runs_from(source: Path, pid: int) -> bool:
    """Whether process ``pid`` imports docpipe from ``source`` (its PYTHONPATH starts there)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    paths = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"PYTHONPATH=")]
    return bool(paths) and paths[0].decode().split(os.pathsep)[0] == str(source)


def failures(junit: Path) -> dict[str, str]:
    """``module::function[params]`` -> failure or error text, of every check that failed."""
    failed = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            module = case.get("classname", "").replace(".", "/") + ".py"
            failed[f"{module}::{case.get('name')}"] = (
                f"{problem.get('message', '')}\n{problem.text or ''}"
            )
    return failed


def outcomes(junit: Path) -> dict[str, str]:
    """``module::function[params]`` -> passed, failed or skipped, of every check run."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        results[f"{module}::{case.get('name')}"] = outcome
    return results
