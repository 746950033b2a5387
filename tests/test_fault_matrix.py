"""The fault matrix: every docpipe regression is caught by an expected check; a clean
platform passes every check.

One docpipe deployment for the module; each batch of faults that do not mask each other is
deployed in turn, the suites run against it as an operator runs them (pytest in a subprocess,
the committed baseline), and the failed checks are read from JUnit XML. The matrix is written
to reports/fault-matrix.md, and to docs/fault-matrix.md with PRODVAL_WRITE_FAULT_MATRIX=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml
from docpipe.api.health import STALE_HEARTBEATS
from docpipe.control import run_docpipe
from docpipe.faults import FAULTS

from .suite_runner import ROOT, deploy, run_suites

pytestmark = pytest.mark.xdist_group("fault-matrix")  # one deployment, batches in order

SUITE_TIMEOUT_S = 300

# Faults in one batch act on different things, so each is still seen by its own checks.
BATCHES: list[tuple[str, ...]] = [
    ("auth_bypass", "no_audit", "schema_drift", "weak_headers"),
    ("tenant_leak", "erasure_incomplete", "cert_expiring"),
    ("retention_off", "leaky_errors"),
    ("state_skip", "slow_db"),
    ("migration_behind", "unlisted_route"),
    ("error_rate",),
    ("worker_stalled",),
    ("slow_embedder",),
]

APP = "suites/application/"
INFRA = "suites/infrastructure/"
PIPE = "suites/pipeline/"
SEC = "suites/security/"
COMP = "suites/compliance/"

# fault -> checks (module::function, parameters ignored) of which at least one must fail.
EXPECTED: dict[str, set[str]] = {
    "auth_bypass": {
        SEC + "test_authentication.py::test_a_protected_route_answers_401_without_credentials",
        SEC + "test_authentication.py::test_no_route_accepts_bogus_credentials_and_the_route_"
        "table_matches_the_baseline",
    },
    "no_audit": {
        COMP + "test_audit.py::test_reading_a_synthetic_document_is_audited_with_actor_action_"
        "object_and_time",
    },
    "schema_drift": {
        APP + "test_contract.py::test_document_route_answers_with_the_baseline_status_and_shape",
        PIPE + "test_documents.py::test_a_completed_document_has_a_result_of_the_baseline_shape",
        SEC + "test_authorization.py::test_a_result_response_exposes_no_field_beyond_the_baseline",
    },
    "weak_headers": {
        SEC + "test_headers.py::test_every_kind_of_answer_carries_the_security_headers",
        SEC + "test_headers.py::test_document_data_is_never_cached",
        SEC + "test_transport.py::test_hsts_is_sent_over_https",
    },
    "tenant_leak": {
        SEC + "test_authorization.py::test_another_tenant_cannot_read_or_delete_a_document",
    },
    "erasure_incomplete": {
        COMP + "test_gdpr.py::test_an_erased_synthetic_document_leaves_no_rows_in_the_database",
    },
    "cert_expiring": {
        SEC + "test_transport.py::test_the_certificate_verifies_and_is_far_from_expiry",
        INFRA + "test_network.py::test_api_tls_certificate_is_valid_long_enough_with_a_modern_"
        "protocol",
    },
    "retention_off": {
        COMP + "test_retention.py::test_the_retention_purge_has_run_within_its_interval",
    },
    "leaky_errors": {
        SEC + "test_errors.py::test_provoked_errors_are_4xx_without_traces_or_versions",
        SEC + "test_errors.py::test_no_answer_names_the_server_software_or_its_version",
        SEC + "test_errors.py::test_refused_uploads_answer_4xx_without_details",
    },
    "state_skip": {
        PIPE + "test_documents.py::test_a_synthetic_document_goes_through_the_baseline_states_"
        "within_the_slo",
    },
    "slow_db": {
        APP + "test_dependencies.py::test_document_read_path_p95_is_within_the_api_slo",
    },
    "migration_behind": {
        INFRA + "test_database.py::test_schema_version_is_the_one_the_release_expects",
        APP + "test_health.py::test_version_reports_the_expected_release",
    },
    "unlisted_route": {
        APP + "test_inventory.py::test_the_route_inventory_matches_the_baseline",
    },
    "error_rate": {
        APP + "test_contract.py::test_read_route_answers_with_the_baseline_status_and_shape",
        APP + "test_dependencies.py::test_document_read_path_p95_is_within_the_api_slo",
    },
    "worker_stalled": {
        APP + "test_workers.py::test_ready_reports_the_expected_number_of_live_workers",
        APP + "test_health.py::test_ready_reports_every_component_ok",
    },
    "slow_embedder": {
        PIPE + "test_documents.py::test_the_embedding_step_takes_no_longer_than_in_the_baseline",
        APP + "test_dependencies.py::test_processing_step_waits_for_its_service_within_the_"
        "external_slo",
    },
}
# Caught only under load: the performance suite's job (Locust; not part of this matrix yet).
PERFORMANCE_ONLY = {
    "slow_api": "+25% stays far below the absolute API SLO; caught under load by "
    "`suites/performance/test_load.py::test_endpoint_latency_under_load_is_not_slower_than_the_"
    "baseline` (tests/test_performance_suite.py)",
    # Not the suites' to see: the data a release damaged is the deployment run's data check.
    "lose_rows": "no check reads the rows lost (the storage check sees the files they leave, "
    "once 30 s old); caught by `prodval-gate --deploy`'s data integrity check "
    "(tests/test_gate_deploy.py)",
    "corrupt_rows": "the suites' checks pass; caught by `prodval-gate --deploy`'s data "
    "integrity check (tests/test_gate_deploy.py)",
}

# The purge-on-start check judges workers that have run this long (suites/compliance).
FIRST_PURGE_WITHIN_S = 15.0
# The scheduled purge's interval here: the check wants a purge within two of them, so once a
# retention_off deployment has run FIRST_PURGE_WITHIN_S, the previous deployment's last purge
# is out of that window too, whatever the timing of the workers' starts (under load, the
# purge-on-start rule alone let retention_off pass now and then).
RETENTION_INTERVAL_S = 6.0
assert 2 * RETENTION_INTERVAL_S < FIRST_PURGE_WITHIN_S
WORKERS = 2
# docpipe's /ready: a heartbeat older than this many intervals (1 s by default) is stale.
STALE_S = STALE_HEARTBEATS * 1.0


async def _wait_for_workers(dsn: str, seconds: float, pids: set[int]) -> None:
    """Poll until the heartbeat rows of the workers ``pids`` say they started ``seconds`` ago.

    By pid: the rows of the previous deployment's workers may still look live for a while.
    """
    connection = await asyncpg.connect(dsn, timeout=10)

    async def old_enough() -> None:
        while True:
            # How long until the youngest of them is old enough, on the database's clock.
            row = await connection.fetchrow(
                "select count(*) as started, extract(epoch from"
                " max(started_at) + make_interval(secs => $1) - now()) as wait_s"
                " from worker_heartbeats where pid = any($2::int[]) and status <> 'stopped'",
                seconds,
                sorted(pids),
            )
            if row["started"] >= len(pids) and row["wait_s"] <= 0:
                return
            wait_s = 0.5 if row["started"] < len(pids) else float(row["wait_s"])
            await asyncio.sleep(min(max(wait_s, 0.05), 5.0))  # polls a fact, bounded below

    try:
        await asyncio.wait_for(old_enough(), timeout=seconds + 60)
    finally:
        await connection.close()


async def _wait_for_stale_heartbeats(dsn: str, stale_s: float) -> None:
    """Poll until no live worker has beaten within ``stale_s``: what /ready calls stale."""
    connection = await asyncpg.connect(dsn, timeout=10)

    async def stale() -> None:
        while True:
            fresh = await connection.fetchval(
                """
                select count(*) from worker_heartbeats
                where status <> 'stopped' and last_seen >= now() - make_interval(secs => $1)
                """,
                stale_s,
            )
            if fresh == 0:
                return
            await asyncio.sleep(0.2)  # polls a fact, bounded by the timeout below

    try:
        await asyncio.wait_for(stale(), timeout=stale_s + 60)
    finally:
        await connection.close()


def check_name(classname: str, name: str) -> str:
    module = classname.replace(".", "/") + ".py"
    return f"{module}::{name.split('[', 1)[0]}"


def failed_checks(junit: Path) -> set[str]:
    failed = set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(check_name(case.get("classname", ""), case.get("name", "")))
    return failed


class Platform:
    def __init__(self, home: Path, config: Path, reports: Path) -> None:
        self.home, self.config, self.reports = home, config, reports

    def deploy(self, *faults: str) -> None:
        deploy(self.home, *faults)

    def wait_until_workers_ran(self, seconds: float) -> None:
        """Wait until this deployment's workers have run ``seconds``, as the check sees it.

        Judged from their heartbeat rows on the database's clock, the facts the purge-on-start
        check reads: a process's start time is earlier than its row's `started_at` by its
        start-up, which takes seconds on a cold machine.
        """
        environments = yaml.safe_load(self.config.read_text())["environments"]
        (environment,) = environments.values()
        state = json.loads((self.home / "state.json").read_text())
        pids = {c["pid"] for name, c in state["components"].items() if name.startswith("worker-")}
        assert len(pids) == WORKERS, state["components"]
        asyncio.run(_wait_for_workers(environment["database"]["dsn"], seconds, pids))

    def wait_until_heartbeats_stale(self) -> None:
        """Wait until /ready can see stalled workers: their heartbeats older than its limit."""
        environments = yaml.safe_load(self.config.read_text())["environments"]
        (environment,) = environments.values()
        asyncio.run(_wait_for_stale_heartbeats(environment["database"]["dsn"], STALE_S))

    def run_suites(self, label: str) -> tuple[set[str], str]:
        junit = self.reports / f"{label}.xml"
        result = run_suites(
            "suites",
            "-m",
            "not performance",
            config=self.config,
            baseline="baselines/local.json",
            summary=self.reports / f"{label}-summary.json",
            extra=[f"--junitxml={junit}", "-n", "2"],
            timeout=SUITE_TIMEOUT_S,
        )
        assert junit.exists(), result.stdout[-3000:] + result.stderr[-3000:]
        return failed_checks(junit), result.stdout


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    base = tmp_path_factory.mktemp("fault-matrix")
    home = base / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DOCPIPE_RETENTION_INTERVAL_S", str(RETENTION_INTERVAL_S))
        result = run_docpipe(home, "up", "--ports", "auto", "--workers", str(WORKERS))
    assert result.returncode == 0, result.stderr
    try:
        config = base / "prodval.yaml"
        generated = run_docpipe(home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        document = yaml.safe_load(generated.stdout)
        for environment in document["environments"].values():
            environment.setdefault("params", {})["retention_interval_s"] = RETENTION_INTERVAL_S
        config.write_text(yaml.safe_dump(document, sort_keys=False))
        yield Platform(home, config, base)
        if set(MATRIX) == set(EXPECTED):  # every batch ran: the matrix is whole
            write_matrix()
    finally:
        run_docpipe(home, "down")


MATRIX: dict[str, list[str]] = {}


def write_matrix() -> None:
    lines = [
        "# Fault matrix",
        "",
        "Each docpipe fault, and the checks that failed because of it, from the last run of",
        "`tests/test_fault_matrix.py` (written by the test, not by hand). A clean platform",
        "passed every check in the same run.",
        "",
        "| fault | what it breaks | checks that caught it |",
        "|---|---|---|",
    ]
    for fault in FAULTS:
        if fault in PERFORMANCE_ONLY:
            checks = f"not in this matrix: {PERFORMANCE_ONLY[fault]}"
        else:
            checks = "<br>".join(f"`{c}`" for c in MATRIX[fault])
        lines.append(f"| `{fault}` | {FAULTS[fault]} | {checks} |")
    text = "\n".join(lines) + "\n"
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "fault-matrix.md").write_text(text)
    if os.environ.get("PRODVAL_WRITE_FAULT_MATRIX"):
        (ROOT / "docs" / "fault-matrix.md").write_text(text)


def test_every_fault_is_in_exactly_one_batch() -> None:
    batched = [fault for batch in BATCHES for fault in batch]
    assert sorted([*batched, *PERFORMANCE_ONLY]) == sorted(FAULTS)
    assert set(EXPECTED) == set(batched)


def test_the_clean_platform_passes_every_check(platform: Platform) -> None:
    failed, output = platform.run_suites("clean")
    assert failed == set(), output[-4000:]


@pytest.mark.parametrize("batch", BATCHES, ids=["+".join(b) for b in BATCHES])
def test_every_fault_is_caught_by_an_expected_check(
    platform: Platform, batch: tuple[str, ...]
) -> None:
    platform.deploy(*batch)
    if "retention_off" in batch:
        # Only a worker that has had time to purge can be caught not purging.
        platform.wait_until_workers_ran(FIRST_PURGE_WITHIN_S + 1)
    if "worker_stalled" in batch:
        # /ready calls a worker stale 5 heartbeats after its last: the checks that ask it
        # may run first in the session (before: it depended on the order under -n).
        platform.wait_until_heartbeats_stale()
    try:
        failed, output = platform.run_suites("+".join(batch))
    finally:
        platform.deploy()
    missed = []
    for fault in batch:
        caught = sorted(failed & EXPECTED[fault])
        MATRIX[fault] = caught
        if not caught:
            missed.append(fault)
    assert not missed, f"not caught: {missed}; failed checks: {sorted(failed)}\n{output[-3000:]}"
