"""The terminal table of every comparison, printed at the end of the run."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ..baseline.verdict import Status, Verdict

__all__ = ["write_table"]

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
