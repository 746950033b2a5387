"""Shared fixtures of the validation suites: suite parameters and synthetic documents.

Everything here is built on the plugin's public fixtures (``target``, ``api``, ``api_as``,
``baseline``), as a user's own suites would be. Synthetic documents are created through the
API and always deleted at teardown, also when the check fails midway or the run is
interrupted (Ctrl-C, SIGINT from the gate).

A run that is killed outright (SIGKILL, a lost machine) cannot erase anything, so every run
first sweeps synthetic documents older than ``params.synthetic_sweep_after_s`` (default: the
run budget ``timeouts.run_s``, which no live run outlives) through ``GET /documents``, and
reports what it swept at the end of the terminal summary. The sweep never fails the run. It
has a budget of its own (``params.synthetic_sweep_budget_s``, default 60 s, at most a quarter
of ``timeouts.run_s``), and as a session fixture its time counts against the run, not against
the first check's budget.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pytest_prodval import TargetEnv

from ._inventory import DEFAULT_INVENTORY_PATH, Inventory, fetch_inventory
from ._support import (
    SYNTHETIC_SUBJECT_PREFIX,
    AwaitState,
    Sweep,
    Uploads,
    erase,
    sweep_as,
    wait_for_state,
)

# Documents created before this process loaded the suites, minus the sweep age, are leftovers.
_LOADED_AT = dt.datetime.now(dt.timezone.utc)
_SWEEPS = pytest.StashKey[list[Sweep]]()
_WORKER_OUTPUT_KEY = "prodval_synthetic_sweep"


@dataclasses.dataclass
class SyntheticDocuments:
    """Creates synthetic documents and remembers them so that teardown can erase them."""

    uploader: httpx.Client
    eraser: httpx.Client
    ids: list[str] = dataclasses.field(default_factory=list)
    subject: str = dataclasses.field(
        default_factory=lambda: f"{SYNTHETIC_SUBJECT_PREFIX}{uuid.uuid4().hex[:12]}"
    )

    def upload(
        self,
        content: bytes | None = None,
        *,
        content_type: str = "text/plain",
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """Upload (unique content unless given); the response is returned unchecked."""
        if content is None:
            content = f"prodval synthetic document {uuid.uuid4()}\n".encode() * 20
        response = (client or self.uploader).post(
            "/documents",
            content=content,
            headers={
                "Content-Type": content_type,
                "X-Subject-Id": self.subject,
                "X-Filename": "prodval-synthetic.txt",
            },
        )
        if response.status_code in (200, 201):
            document_id = response.json()["id"]
            if document_id not in self.ids:
                self.ids.append(document_id)
        return response

    def erase_all(self) -> list[str]:
        """Delete every document made; returns the ids that could not be deleted."""
        return [i for i in self.ids if erase(self.eraser, i) not in (204, 404)]


@pytest.fixture(scope="session")
def params(target: TargetEnv) -> dict[str, Any]:
    """The environment's suite parameters (``params:`` in prodval.yaml)."""
    return dict(target.params)


@pytest.fixture(scope="session")
def inventory(api: httpx.Client, params: dict[str, Any]) -> Inventory:
    """The target's route inventory (``params.inventory_path``, default /openapi.json), fetched
    once per session; every check that uses it fails with why when there is none."""
    path = str(params.get("inventory_path", DEFAULT_INVENTORY_PATH))
    try:
        return fetch_inventory(api, path)
    except ValueError as exc:
        pytest.fail(f"no route inventory: {exc}")


@pytest.fixture(scope="session", autouse=True)
def sweep_synthetic_leftovers(request: pytest.FixtureRequest) -> None:
    """Before the first check: erase synthetic documents that killed runs left behind.

    Erasing our own synthetic data is allowed on protected environments too. Every way of
    not sweeping (no list route, no operator credentials, a failing target) is reported, not
    raised: the checks judge the target, the sweep only tidies up.
    """
    try:
        target: TargetEnv = request.getfixturevalue("target")
    except pytest.UsageError:
        return  # no target environment chosen: the checks say so themselves

    def operator() -> httpx.Client:
        # Called by sweep_as only once the parameters are good: no api_as fixture or no
        # operator credentials is a LookupError, reported as the sweep's problem.
        api_as: Callable[[str], httpx.Client] = request.getfixturevalue("api_as")
        return api_as("operator")

    # In the first check's setup, but on the run's clock (a session fixture: budget.py).
    sweep = sweep_as(target, "operator", operator, _LOADED_AT)
    request.config.stash.setdefault(_SWEEPS, []).append(sweep)
    workeroutput = getattr(request.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput[_WORKER_OUTPUT_KEY] = sweep.to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: keep each worker's sweep for the summary."""
    data = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if data is not None:
        node.config.stash.setdefault(_SWEEPS, []).append(Sweep.from_json(data))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if hasattr(config, "workerinput"):
        return
    sweeps = config.stash.get(_SWEEPS, [])
    if sweeps:
        for line in Sweep.merged(sweeps).lines():
            terminalreporter.write_line(line)


@pytest.fixture
def synthetic(api_as: Callable[[str], httpx.Client]) -> Iterator[SyntheticDocuments]:
    documents = SyntheticDocuments(uploader=api_as("operator"), eraser=api_as("operator"))
    yield documents
    left = documents.erase_all()
    if left:
        pytest.fail(f"synthetic documents could not be erased: {', '.join(left)}")


@pytest.fixture
def await_state(target: TargetEnv) -> AwaitState:
    """``await_state(synthetic, id, states)``: poll until one of ``states``, within the SLO."""

    def wait(
        synthetic: Uploads, document_id: str, states: set[str]
    ) -> tuple[dict[str, Any], float]:
        return wait_for_state(
            synthetic.uploader, document_id, states, float(target.slo.worker_seconds)
        )

    return wait
