"""Recording mode: what the run observed is merged into the baseline file at the end."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .baseline.store import BaselineFile, Provenance, write_merged
from .target import suite_commit

if TYPE_CHECKING:
    from .config import TargetEnv
    from .observations import Observations
    from .options import RunOptions

__all__ = ["BaselineRecorder", "BaselineWrite", "utcnow"]


@dataclasses.dataclass(frozen=True)
class BaselineWrite:
    """What one recording wrote."""

    path: Path
    recorded: int
    pruned: list[str]
    total: int


class BaselineRecorder:
    """Writes the recorded entries (and, with ``--prune``, removes unused ones) at the end."""

    def __init__(
        self, options: RunOptions, env: TargetEnv, baseline: BaselineFile, rootdir: Path
    ) -> None:
        self.options = options
        self.env = env
        self.baseline = baseline
        self.rootdir = rootdir

    def finish(
        self, seen: Observations, unused: list[str], target_version: str | None
    ) -> BaselineWrite | None:
        """Write the baseline if this run recorded anything (or prunes); None if it did not."""
        if not self.options.record or not (seen.recorded or self.options.prune):
            return None
        provenance = Provenance(
            environment=self.env.name,
            recorded_at=utcnow(),
            target_version=target_version,
            prodval_version=__version__,
            suite_commit=suite_commit(self.rootdir),
        )
        pruned = unused if self.options.prune else []
        entries = write_merged(self.baseline.path, seen.recorded, provenance, pruned)
        return BaselineWrite(self.baseline.path, len(seen.recorded), pruned, len(entries))


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
