"""Each comparison an Allure step: its status, its evidence under it, the failed ones first.

``AllureReport`` (allure.py) opens a step per comparison with allure's public ``allure.step``
and attaches the comparison's table and JSON inside it, so they hang under the step. It then
sets the step's status from the verdict on allure-pytest's own step object (allure-pytest marks
a step passed unless an exception leaves it, and a comparison never raises inside it).

A latency chart (drawn for one comparison) is attached under its step; a later comparison of
the same test naming the same file gets a parameter naming that step instead. Any other file the
evidence names (what a check passes as ``attachments=``: Locust's report of a load run, which
several checks judge) is the run's: one global attachment, written once whichever process or
test names it first, under a name made from its content (``prodval-<sha256>-attachment.<ext>``),
and every step naming it says so in a parameter. (Allure 3 links an attachment file to one
test or step only, so a file shared by tests can only be a global attachment.)

``StepOrder`` is an ``allure_commons`` plugin: when allure-pytest reports a test result, just
before its file is written, it moves the steps that failed (or contain a failure) first, and
gives a failure without a comparison (kind ``check``, ``unreachable``, ``timeout``) the status
Allure gave the test: ``broken`` for an error that is not an assertion.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import allure_commons
from allure_commons.model2 import (
    GlobalAttachment,
    Globals,
    Parameter,
    StatusDetails,
)

from ..baseline.verdict import Status, Verdict
from ..outcomes import FALLBACK_KINDS
from .evidence import FILE_EVIDENCE

__all__ = [
    "PROBLEM_STATUSES",
    "STEP_FILES",
    "StepOrder",
    "attach_to_run",
    "failures_first",
    "file_attachment",
    "file_type",
    "finish_step",
    "refer",
    "show_values",
    "step_parameters",
    "step_status",
    "step_title",
    "write_once",
]

PROBLEM_STATUSES = ("failed", "broken")
# Evidence files drawn for one comparison (its latency chart) hang under its step; any other
# (what a check names with ``attachments=``: Locust's report of a load run that several
# checks judge) is the run's, attached once as a global attachment.
STEP_FILES = frozenset({FILE_EVIDENCE["chart"]})
_TITLE_CHARS = 160
_PARAMETERS = ("baseline", "target", "change", "rule")
# Evidence files by suffix: (MIME type, extension), as allure_commons.types.AttachmentType.
_FILE_TYPES = {
    ".svg": ("image/svg+xml", "svg"),
    ".html": ("text/html", "html"),
    ".htm": ("text/html", "html"),
    ".png": ("image/png", "png"),
    ".json": ("application/json", "json"),
    ".csv": ("text/csv", "csv"),
}


def step_title(verdict: Verdict, name: str) -> str:
    """What the comparison is, then what it found: the first line a failed check shows.

    ``body: $.debug: unexpected key — differs from baseline (1 difference)``;
    ``status: equal to baseline``; a failure without a comparison: ``check (call):
    AssertionError: …``.
    """
    if verdict.kind in FALLBACK_KINDS:
        title = f"{verdict.kind} {name}: {verdict.target}"
    else:
        title = verdict.failure_text(name).split("\n", 1)[0]
        if not title.startswith(name):  # a missing entry or a limit names itself otherwise
            title = f"{name}: {title}"
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 1] + "…"
    return title


def step_status(verdict: Verdict) -> str:
    """``failed`` for a failed or missing comparison, ``passed`` for a passed or recorded one.

    A failure without a comparison gets the check's own Allure status later (``StepOrder``).
    """
    return "failed" if verdict.status in (Status.FAILED, Status.MISSING) else "passed"


def step_parameters(verdict: Verdict) -> list[tuple[str, str]]:
    """The table's short values, shown in the step itself: baseline, target, change, rule."""
    values = [(key, str(getattr(verdict, key))) for key in _PARAMETERS]
    return [(key, value) for key, value in values if value and value != "—"]


def show_values(step: Any, verdict: Verdict) -> None:
    """The verdict's short values as parameters of allure-pytest's step (``TestStepResult``)."""
    step.parameters.extend(
        Parameter(name=key, value=value) for key, value in step_parameters(verdict)
    )


def finish_step(step: Any, verdict: Verdict, name: str) -> None:
    """Give the closed step the verdict's status, and a failure's message."""
    step.status = step_status(verdict)
    if verdict.failed:
        step.statusDetails = StatusDetails(message=verdict.failure_text(name))


def file_type(path: Path) -> tuple[str | None, str]:
    """``(MIME type, extension)`` of an evidence file, by its suffix."""
    return _FILE_TYPES.get(path.suffix.lower(), (None, path.suffix.lstrip(".") or "attach"))


def file_attachment(path: Path) -> tuple[str, str | None]:
    """``(file name in the results directory, MIME type)`` of an evidence file: by content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    mime, extension = file_type(path)
    return f"prodval-{digest.hexdigest()[:32]}-attachment.{extension}", mime


def attach_to_run(path: Path, label: str, report_dir: Path) -> str:
    """Make ``path`` a global attachment of the run, once whichever process or test names it
    first; returns its name there (``Locust report load.html``)."""
    file_name, mime = file_attachment(path)
    title = f"{label} {path.name}"
    record = Globals(
        attachments=[
            GlobalAttachment(
                source=file_name, name=title, type=mime, timestamp=int(time.time() * 1000)
            )
        ]
    )
    write_once(report_dir, file_name, path, record)
    return title


def refer(step: Any, label: str, where: str) -> None:
    """A comparison naming a file attached elsewhere: a parameter of its step saying where."""
    step.parameters.append(Parameter(name=label, value=where))


def write_once(report_dir: Path, file_name: str, source: Path, record: Any = None) -> bool:
    """Write ``source`` as ``file_name`` (and ``record``, a ``Globals`` naming it) through
    allure's reporting hooks, once per results directory; True when this call wrote them.

    allure's file writer copies, then the scrubber rewrites the copy redacted (scrub.py). A
    claim file made with ``O_EXCL`` keeps two xdist workers from writing the same name at once
    (the writer's temporary file has a fixed name).
    """
    final = report_dir / file_name
    if final.exists():
        return False
    claim = report_dir / f".prodval-claim-{file_name}"
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False  # another process is writing it now
    try:
        if final.exists():
            return False
        hook = allure_commons.plugin_manager.hook
        hook.report_attached_file(source=str(source), file_name=file_name)
        if record is not None:
            hook.report_globals(globals_item=record)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            claim.unlink()


def _has_problem(step: Any) -> bool:
    return step.status in PROBLEM_STATUSES or any(_has_problem(s) for s in step.steps or ())


def failures_first(steps: list[Any]) -> None:
    """Reorder ``steps`` in place: failed or broken ones (or holding one) first, each group in
    the order it ran."""
    steps.sort(key=lambda step: 0 if _has_problem(step) else 1)


class StepOrder:
    """An ``allure_commons`` plugin: the last word on a test result's steps before it is written."""

    def __init__(self) -> None:
        # Steps of failures without a comparison, waiting for their test's status.
        self.pending: list[Any] = []

    def fallback(self, step: Any) -> None:
        self.pending.append(step)

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        status = result.status if result.status in PROBLEM_STATUSES else "failed"
        for step in _walk(result.steps):
            if any(step is waiting for waiting in self.pending):
                step.status = status
        self.pending.clear()  # the process reports each test right after it ran
        failures_first(result.steps)


def _walk(steps: Iterable[Any]) -> Iterable[Any]:
    for step in steps:
        yield step
        yield from _walk(step.steps or ())
