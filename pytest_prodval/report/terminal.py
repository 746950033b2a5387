"""The terminal: prodval's header lines, and at the end the table of every comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from ..baseline.verdict import Status, Verdict

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = ["TerminalOutput", "clip", "fit_name", "short_name", "write_table"]

_MARKUP = {
    Status.PASSED: {"green": True},
    Status.FAILED: {"red": True, "bold": True},
    Status.MISSING: {"red": True},
    Status.RECORDED: {"cyan": True},
}
# Failures first: what a reviewer acts on is at the top, under the separator.
_ORDER = {Status.FAILED: 0, Status.MISSING: 1, Status.RECORDED: 2, Status.PASSED: 3}
_GAP = "  "
_MIN_NAME = 24
_MIN_VALUE = 8
_CHANGE_WIDTH = 14


def write_table(
    tr: pytest.TerminalReporter, verdicts: Sequence[Verdict], width: int, quiet: bool = False
) -> None:
    """One line per comparison, never wider than ``width``: failures first, and under ``-q``
    only they, with the passes counted. Linear in the number of verdicts."""
    shown = sorted(verdicts, key=lambda v: _ORDER[v.status])  # stable: keeps the run's order
    folded = 0
    if quiet:
        folded = sum(1 for v in shown if v.status is Status.PASSED)
        shown = [v for v in shown if v.status is not Status.PASSED]
    rows = [(v.status.value, short_name(v.key), v.baseline, v.target, v.change) for v in shown]
    header = ("verdict", "comparison", "baseline", "target", "change")
    widths = _column_widths([header, *rows], width)
    tr.write_line(_line(header, widths), bold=True)
    for verdict, row in zip(shown, rows, strict=True):
        tr.write(row[0].ljust(widths[0]), **_MARKUP[verdict.status])
        name = fit_name(row[1], widths[1]).ljust(widths[1])
        tr.write_line(_GAP + _line([name, *row[2:]], widths[1:]))
    if folded:
        tr.write_line(f"... and {folded} passed (listed without -q)")


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    text = _GAP.join(clip(c, w, 0.6).ljust(w) for c, w in zip(cells, widths, strict=True))
    return text.rstrip()


def _column_widths(rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column as wide as its widest cell, shrunk to fit ``width``: the values first (to
    an eighth of the line each), then the name; room the name does not need goes back."""
    natural = [0] * 5
    for row in rows:
        for i, cell in enumerate(row):
            natural[i] = max(natural[i], len(cell))
    room = max(width - len(_GAP) * 4 - natural[0], _MIN_NAME + 3 * _MIN_VALUE)
    widths = list(natural)
    for i in (2, 3):
        widths[i] = min(natural[i], max(_MIN_VALUE, room // 8))
    widths[4] = min(natural[4], max(_CHANGE_WIDTH, room // 8))  # "1 difference", "1.42x, p=…"
    widths[1] = max(_MIN_NAME, min(natural[1], room - sum(widths[2:])))
    spare = room - sum(widths[1:])
    for i in (3, 2, 4):
        grow = min(spare, natural[i] - widths[i])
        if grow > 0:
            widths[i] += grow
            spare -= grow
    return widths


def short_name(key: str) -> str:
    """A comparison's key without the directories of its module: ``test_x.py::test_y::name``."""
    module, sep, rest = key.partition("::")
    return module.rsplit("/", 1)[-1] + sep + rest if sep else key


def fit_name(name: str, width: int) -> str:
    """``test_x.py::test_y[params]::comparison`` in ``width``: each part cut in its own middle,
    so that the file, the parameters and the start of the comparison's name stay."""
    if len(name) <= width:
        return name
    test, sep, own = name.rpartition("::")
    if not sep:
        return clip(name, width)
    own_width = min(len(own), max(width // 2, width - len(test) - len(sep)))
    test_width = width - own_width - len(sep)
    if test_width < 8:
        return clip(name, width)
    return clip(test, test_width) + sep + clip(own, own_width, head_share=0.7)


def clip(text: str, width: int, head_share: float = 0.5) -> str:
    """``text`` in ``width`` characters, cut from the middle so both ends stay readable
    (``head_share`` of what is kept from the start)."""
    text = " ".join(text.split())  # one line: a value may hold newlines
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = int((width - 1) * head_share)
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


class TerminalOutput:
    """The run's header lines and, on the controller, its end-of-run summary."""

    def __init__(self, run: ProdvalSession) -> None:
        self.run = run

    def pytest_report_header(self) -> list[str]:
        run = self.run
        env, redactor = run.env, run.redactor
        lines = [
            f"prodval: environment {env.name} "
            + ("(protected)" if env.protected else "(unprotected)"),
            f"prodval: api {redactor.redact_url(env.api.base_url)}",
        ]
        if env.database is not None:
            lines.append(f"prodval: database {redactor.redact_url(env.database.dsn)}")
        if run.api_unreachable is not None:
            lines.append(
                f"prodval: api UNREACHABLE: {run.api_unreachable}; the checks that use the API "
                "fail at once with this line"
            )
        if run.control is not None:
            lines.append(
                f"prodval: control deployment {run.control.name}, api "
                f"{redactor.redact_url(run.control.api.base_url)} (measured beside the target)"
            )
        mode = "recording into" if run.options.record else "comparing with"
        if run.baseline.exists:
            provenance = run.baseline.provenance
            about = provenance.describe() if provenance else "no provenance"
            lines.append(
                f"prodval: {mode} baseline {run.baseline_display} "
                f"({len(run.baseline.entries)} entries; {about})"
            )
        else:
            lines.append(f"prodval: {mode} baseline {run.baseline_display} (does not exist yet)")
        if run.target_version is not None:
            lines.append(f"prodval: target version {run.target_version}")
        return [redactor.redact(line) for line in lines]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        run, tr = self.run, terminalreporter
        verdicts = [verdict for _, verdict in run.seen.verdicts]
        if verdicts and tr.config.get_verbosity() >= -1:
            failed = sum(1 for v in verdicts if v.failed)
            tr.write_sep("=", f"prodval baseline comparisons: {failed} of {len(verdicts)} failed")
            width = tr.config.get_terminal_writer().fullwidth
            write_table(tr, verdicts, width, quiet=tr.config.get_verbosity() < 0)
        if run.unused:
            tr.write_sep("-", f"{len(run.unused)} baseline entries unused by this run")
            if tr.config.get_verbosity() < 0:
                tr.write_line("  (listed without -q)")
            else:
                width = tr.config.get_terminal_writer().fullwidth
                for key in run.unused:  # the summary JSON has them in full
                    tr.write_line("  " + fit_name(short_name(key), width - 2))
            if run.options.record:
                tr.write_line("  (remove them with --record-baseline --prune)")
        if run.written is not None:
            for line in run.written.lines(run.baseline_display):
                tr.write_line(line)
            if run.written.error is not None:
                tr.write_line(f"ERROR: prodval: {run.written.error}", red=True, bold=True)
        if run.summary_error is not None:
            tr.write_line(f"ERROR: prodval: {run.summary_error}", red=True, bold=True)
        elif run.summary_written:
            shown = run.options.shown(run.options.summary_path)
            tr.write_line(f"prodval: summary written to {shown}")
