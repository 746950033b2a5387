"""The terminal: prodval's header lines, and at the end the table of every comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from ..baseline.verdict import Status, Verdict

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = ["TerminalOutput", "write_table"]

_MARKUP = {
    Status.PASSED: {"green": True},
    Status.FAILED: {"red": True, "bold": True},
    Status.MISSING: {"red": True},
    Status.RECORDED: {"cyan": True},
}
_NAME_WIDTH = 70


def write_table(tr: pytest.TerminalReporter, verdicts: Sequence[Verdict]) -> None:
    rows = [
        (_clip(v.key, _NAME_WIDTH), v.baseline, v.target, v.change, v.status.value)
        for v in verdicts
    ]
    header = ("comparison", "baseline", "target", "change", "verdict")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    tr.write_line("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), bold=True)
    for verdict, row in zip(verdicts, rows, strict=True):
        cells = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True))
        tr.write(cells + "  ")
        tr.write_line(row[-1], **_MARKUP[verdict.status])


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


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
        if verdicts:
            tr.write_sep("=", "prodval baseline comparisons")
            write_table(tr, verdicts)
        if run.unused:
            tr.write_sep("-", f"{len(run.unused)} baseline entries unused by this run")
            for key in run.unused:
                tr.write_line(f"  {key}")
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
