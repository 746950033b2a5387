"""One Locust run per session for the performance checks, and the latency chart per comparison.

The run puts the environment's ``load:`` profile on the target (capped on protected
environments, see ``pytest_prodval/load/profile.py``) while reading a few synthetic documents
made for it; every synthetic document (seeds and Locust's uploads) is erased afterwards, also
when a check fails. Locust runs in a subprocess; its report, CSVs, raw samples and the charts
go to ``performance/`` next to the summary file (``reports/`` by default).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_prodval.baseline.keys import entry_key, test_key
from pytest_prodval.baseline.store import BaselineFile
from pytest_prodval.baseline.verdict import Status, Verdict
from pytest_prodval.load.chart import Panel, write_chart
from pytest_prodval.load.driver import LoadDriver, LoadRun
from pytest_prodval.load.profile import effective_profile
from pytest_prodval.settings import Settings

from .._support import wait_for_state
from ..conftest import SyntheticDocuments

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SEED_DOCUMENTS = 3
_PANEL = pytest.StashKey[tuple[str, list[float]]]()


def reports_dir(config: pytest.Config) -> Path:
    return Settings.from_config(config).summary_path.parent / "performance"


@pytest.fixture(scope="session")
def load_run(
    pytestconfig: pytest.Config, target: Any, api_as: Callable[[str], httpx.Client]
) -> Iterator[LoadRun]:
    settings = Settings.from_config(pytestconfig)
    profile = effective_profile(target, settings.load_workers)
    seeds = SyntheticDocuments(uploader=api_as("operator"), eraser=api_as("operator"))
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def progress(line: str) -> None:
        if reporter is None:
            return
        # Live, not captured into the setup section: suspend capturing for the line.
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"prodval {line}")
        else:
            reporter.write_line(f"prodval {line}")

    run: LoadRun | None = None
    try:
        for _ in range(SEED_DOCUMENTS):
            response = seeds.upload()
            if response.status_code not in (200, 201):
                pytest.fail(f"could not upload a seed document: {response.status_code}")
        for document in seeds.ids:
            wait_for_state(
                seeds.uploader, document, {"completed"}, float(target.slo.worker_seconds)
            )
        driver = LoadDriver(target, profile, reports_dir(pytestconfig), progress=progress)
        run = driver.run(
            LOCUSTFILE,
            label="load",
            documents=seeds.ids,
            read_role="viewer",
            write_role="operator",
        )
        yield run
    finally:
        if run is not None:
            seeds.ids.extend(run.samples.created)
        left = seeds.erase_all()
        if left:
            pytest.fail(f"synthetic documents could not be erased: {', '.join(left)}")


@pytest.fixture
def chart_panel(request: pytest.FixtureRequest) -> Callable[[str, list[float]], None]:
    """``chart_panel(name, target_samples)`` before ``baseline.distribution(name, ...)``."""

    def remember(name: str, samples: list[float]) -> None:
        request.node.stash[_PANEL] = (name, samples)

    return remember


def baseline_note(config: pytest.Config, target: Any) -> str:
    """Which baseline the comparison uses, in words, from the file's provenance."""
    provenance = BaselineFile.load(Settings.from_config(config).baseline_path).provenance  # type: ignore[arg-type]
    if provenance is None:
        return "baseline of unknown origin (no provenance in the file)"
    when = f"recorded {provenance.recorded_at}"
    if provenance.environment == target.name:
        return f"the same environment's last good run ({target.name}, {when})"
    return (
        f"a baseline from another environment ({provenance.environment}, {when}); only the "
        "control calibration makes it comparable, see docs/performance.md"
    )


@pytest.hookimpl
def pytest_prodval_comparison(item: pytest.Item, verdict: Verdict) -> None:
    """Draw baseline vs target for a performance comparison; its path goes into the evidence."""
    panel = item.stash.get(_PANEL, None)
    if panel is None or verdict.status not in (Status.PASSED, Status.FAILED):
        return
    name, samples = panel
    settings = Settings.from_config(item.config)
    assert settings.baseline_path is not None
    rootdir = Path(item.config.rootpath)
    entry = BaselineFile.load(settings.baseline_path).entries.get(
        entry_key(test_key(item, rootdir), name), {}
    )
    evidence = verdict.evidence
    summary = (
        f"{verdict.status.value.upper()} {evidence.get('ratio', 0):.2f}x "
        f"(CI {evidence.get('ci_low', 0):.2f}x to {evidence.get('ci_high', 0):.2f}x)"
    )
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    path = write_chart(
        reports_dir(item.config) / f"{slug}.svg",
        [Panel(name, entry.get("samples", []), samples, summary)],
        title=f"{name}: baseline vs target",
    )
    evidence["chart"] = str(path)
    item.add_report_section("call", "prodval chart", str(path))
    locust_report = reports_dir(item.config) / "load.html"  # the session's Locust HTML report
    if locust_report.exists():
        evidence["locust_report"] = str(locust_report)
