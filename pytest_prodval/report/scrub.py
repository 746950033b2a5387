"""Keep secrets out of the Allure results directory, whatever wrote the text.

allure-pytest builds its own copy of a failure from the exception (``excinfo.exconly()``, the
traceback text, fixture and step errors, parameter values, captured output), so redacting
pytest's reports is not enough. Every byte allure-pytest puts on disk goes through the
``allure_commons`` reporting hooks, and that is where this module sits:

1. ``report_result``, ``report_container``, ``report_globals`` (``tryfirst``): the result
   object is redacted in place *before* ``AllureFileLogger`` serialises it, so an unredacted
   result never reaches the disk.
2. ``report_attached_data``, ``report_attached_file`` (``trylast``): the attachment file the
   logger has just written is rewritten redacted, in the same call (bytes outside UTF-8 are kept
   as they are).
3. ``sweep``: at the end of the run the controller rescans the whole directory, as a net
   for files that reached it by any other path.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import allure_commons
import attr

from ..safety.redaction import Redactor

__all__ = ["AllureScrubber", "redact_bytes", "sweep"]


def redact_bytes(data: bytes, redactor: Redactor) -> bytes:
    """``data`` with every secret replaced; bytes that are not UTF-8 survive unchanged."""
    text = data.decode("utf-8", errors="surrogateescape")
    redacted = redactor.redact(text)
    if redacted == text:
        return data
    return redacted.encode("utf-8", errors="surrogateescape")


def redact_file(path: Path, redactor: Redactor) -> bool:
    """Rewrite ``path`` redacted (atomically) if it holds a secret; True when it did."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    redacted = redact_bytes(data, redactor)
    if redacted == data:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(redacted)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


def sweep(directory: Path, redactor: Redactor) -> list[Path]:
    """Redact every file under ``directory``; returns the files that had to be rewritten."""
    if not redactor or not directory.is_dir():
        return []
    return [
        path
        for path in sorted(directory.rglob("*"))
        if path.is_file() and redact_file(path, redactor)
    ]


def redact_model(obj: Any, redactor: Redactor) -> Any:
    """Redact, in place, every string of an allure_commons model object (attrs classes)."""
    if isinstance(obj, str):
        return redactor.redact(obj)
    if isinstance(obj, list):
        obj[:] = [redact_model(item, redactor) for item in obj]
        return obj
    if isinstance(obj, dict):
        redacted = {redact_model(k, redactor): redact_model(v, redactor) for k, v in obj.items()}
        obj.clear()
        obj.update(redacted)
        return obj
    if attr.has(type(obj)):
        for field in attr.fields(type(obj)):
            value = getattr(obj, field.name)
            if value is not None:
                setattr(obj, field.name, redact_model(value, redactor))
    return obj


class AllureScrubber:
    """An ``allure_commons`` plugin: redacts results before they are written, attachments after."""

    def __init__(self, redactor: Redactor, report_dir: Path) -> None:
        self.redactor = redactor
        self.report_dir = report_dir
        self.rewritten: list[str] = []

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        redact_model(result, self.redactor)

    @allure_commons.hookimpl(tryfirst=True)
    def report_container(self, container: Any) -> None:
        redact_model(container, self.redactor)

    @allure_commons.hookimpl(tryfirst=True)
    def report_globals(self, globals_item: Any) -> None:
        redact_model(globals_item, self.redactor)

    @allure_commons.hookimpl(trylast=True)
    def report_attached_data(self, body: Any, file_name: str) -> None:
        self._attachment(file_name)

    @allure_commons.hookimpl(trylast=True)
    def report_attached_file(self, source: Any, file_name: str) -> None:
        self._attachment(file_name)

    def _attachment(self, file_name: str) -> None:
        if redact_file(self.report_dir / file_name, self.redactor):
            self.rewritten.append(file_name)
