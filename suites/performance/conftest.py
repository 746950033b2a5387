"""One Locust run per session for the performance checks.

The run is the plugin's ``prodval_load`` fixture: it puts the environment's ``load:`` profile
on the target (capped on protected environments), shows progress and writes Locust's reports
to ``load/`` next to the summary file (``reports/`` by default). This conftest only
makes the synthetic documents the run reads; every synthetic document (seeds and Locust's
uploads) is erased afterwards, also when a check fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pytest_prodval import Baseline, LoadRun, LoadRunner, TargetEnv, TargetUnreachable, Undecided

from .._support import wait_for_state
from ..conftest import SyntheticDocuments

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SEED_DOCUMENTS = 3


@pytest.fixture(scope="session")
def load_run(
    prodval_load: LoadRunner,
    target: TargetEnv,
    control_target: TargetEnv | None,
    api_as: Callable[[str], httpx.Client],
    control_api_as: Callable[[str], httpx.Client],
) -> Iterator[LoadRun]:
    """One Locust run; in paired mode (--control-env) on the target and the control at once,
    each reading its own seed documents. A control deployment that cannot take the seeds or
    the load ends the session undecided: it says nothing about the release."""
    sides = {"target": SyntheticDocuments(uploader=api_as("operator"), eraser=api_as("operator"))}
    if control_target is not None:
        client = control_api_as("operator")
        sides["control"] = SyntheticDocuments(uploader=client, eraser=client)
    run: LoadRun | None = None
    try:
        for side, seeds in sides.items():
            _seed(seeds, side, control_target if side == "control" else target)
        run = prodval_load(
            LOCUSTFILE,
            label="load",
            documents=sides["target"].ids,
            read_role="viewer",
            write_role="operator",
            control_documents=sides["control"].ids if "control" in sides else (),
        )
        if run.undecided is not None:
            raise Undecided(run.undecided)
        yield run
    finally:
        if run is not None:
            sides["target"].ids.extend(run.samples.created)
            if "control" in sides:
                sides["control"].ids.extend(run.samples.control_created)
        left = [document for seeds in sides.values() for document in seeds.erase_all()]
        if left:
            pytest.fail(f"synthetic documents could not be erased: {', '.join(left)}")


def _seed(seeds: SyntheticDocuments, side: str, env: TargetEnv | None) -> None:
    assert env is not None
    try:
        for _ in range(SEED_DOCUMENTS):
            response = seeds.upload()
            if response.status_code not in (200, 201):
                pytest.fail(f"could not upload a seed document: {response.status_code}")
        for document in seeds.ids:
            wait_for_state(seeds.uploader, document, {"completed"}, float(env.slo.worker_seconds))
    except (pytest.fail.Exception, AssertionError, httpx.HTTPError, TargetUnreachable) as exc:
        if side == "target":
            raise
        raise Undecided(f"the control deployment {env.name} could not be seeded: {exc}") from exc


def baseline_note(baseline: Baseline, target: TargetEnv) -> str:
    """Which baseline the comparison uses, in words, from the file's provenance."""
    provenance = baseline.provenance
    if provenance is None:
        return "baseline of unknown origin (no provenance in the file)"
    when = f"recorded {provenance.recorded_at}"
    if provenance.environment == target.name:
        return f"the same environment's last good run ({target.name}, {when})"
    return (
        f"a baseline from another environment ({provenance.environment}, {when}); only the "
        "control calibration makes it comparable, see docs/performance.md"
    )
