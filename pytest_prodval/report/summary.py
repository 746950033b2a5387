"""``prodval-summary.json``: the machine-readable record of one run's verdicts."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..baseline.store import atomic_write_text
from ..baseline.verdict import Status
from ..recording import utcnow

if TYPE_CHECKING:
    from ..session import ProdvalSession

__all__ = ["write_summary"]


def write_summary(run: ProdvalSession, exitstatus: int) -> None:
    """Write the summary of ``run`` (on the controller, after the baseline was written)."""
    env, redactor = run.env, run.redactor
    counts = Counter(v.status.value for _, v in run.seen.verdicts)
    provenance = run.baseline.provenance
    written = run.written
    summary: dict[str, Any] = {
        "prodval_version": __version__,
        "environment": env.name,
        "protected": env.protected,
        "target": {
            # redact_url hides DSN passwords even when they were written literally in the file.
            "api": redactor.redact_url(env.api.base_url),
            "database": redactor.redact_url(env.database.dsn) if env.database else None,
            "version": run.target_version,
            # Why no connection to the API could be made at the session's start, else null.
            "unreachable": run.api_unreachable,
        },
        "baseline": {
            "path": run.baseline_display,
            "mode": "record" if run.options.record else "compare",
            "provenance": provenance.to_json() if provenance else None,
        },
        "started_at": run.started_at,
        "finished_at": utcnow(),
        "pytest_exit_status": exitstatus,
        # Why the run stopped without a verdict (an ``Undecided`` error), else null.
        "undecided": run.outcomes.undecided,
        "counts": {status.value: counts.get(status.value, 0) for status in Status},
        # Every check pytest reported: node id, suite, passed/failed/error/skipped, seconds.
        "checks": run.checks.to_json(),
        "comparisons": [
            {"nodeid": nodeid, **verdict.to_json()} for nodeid, verdict in run.seen.verdicts
        ],
        "unused_entries": run.unused,
        "baseline_written": None if written is None else written.to_json(run.baseline_display),
    }
    text = json.dumps(redactor.redact_obj(summary), indent=2) + "\n"
    atomic_write_text(run.options.summary_path, text)
