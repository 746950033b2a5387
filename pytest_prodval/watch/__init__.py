"""Continuous validation, ``prodval-watch``: the read-only checks on an interval, as metrics.

- ``arguments``: options, ``--help``, the pytest options refused after ``--`` (the gate's rule,
  with the watch's table: ``gate.arguments.refused``).
- ``selection``: the pytest plugin each run loads: destructive checks never run, synthetic
  ones only with ``--allow-synthetic``.
- ``results``: one run's result from its ``prodval-summary.json`` and how the process ended.
- ``metrics``: the Prometheus collector (prometheus-client, the ``watch`` extra), one
  immutable snapshot per run.
- ``service``: the loop, one bounded pytest child at a time (``process.Supervisor``), signals,
  the HTTP server.

``main`` is the ``prodval-watch`` console script (also ``python -m pytest_prodval.watch``).
Nothing here is imported by the plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from .service import run

    return run(list(sys.argv[1:] if argv is None else argv))
