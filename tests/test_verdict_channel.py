"""One channel: every failed check has a failed verdict in prodval-summary.json.

A docpipe deployed with ``slow_db`` (every query delayed) and ``cert_expiring`` (a certificate
valid for under 7 days) fails SLO and threshold checks; the suites run as an operator runs
them (pytest in a subprocess, the committed baseline, JUnit XML), and every check that JUnit
reports failed must have a failed verdict, under the same nodeid, in the summary.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from docpipe.control import run_docpipe

from .suite_runner import ROOT, deploy, run_suites

pytestmark = pytest.mark.xdist_group("verdict-channel")

SUITE_TIMEOUT_S = 300
FAULTS = ("slow_db", "cert_expiring")
# The SLO and threshold checks these faults break: each must fail through a limit verdict.
LIMIT_CHECKS = {
    "suites/application/test_dependencies.py::test_document_read_path_p95_is_within_the_api_slo",
    "suites/security/test_transport.py::test_the_certificate_verifies_and_is_far_from_expiry",
    "suites/infrastructure/test_network.py::test_api_tls_certificate_is_valid_long_enough_with_a_"
    "modern_protocol",
}


def nodeid(classname: str, name: str) -> str:
    """The pytest nodeid of a JUnit testcase: the longest classname prefix that is a module."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (ROOT / module).is_file():
            return "::".join([module, *parts[cut:], name])
    raise AssertionError(f"no module for JUnit classname {classname!r}")


def failed_in_junit(junit: Path) -> set[str]:
    return {
        nodeid(case.get("classname", ""), case.get("name", ""))
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }


@pytest.fixture(scope="module")
def faulty_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("verdict-channel")
    home = base / "home"
    result = run_docpipe(home, "up", "--ports", "auto", "--workers", "2")
    assert result.returncode == 0, result.stderr
    try:
        generated = run_docpipe(home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        config = base / "prodval.yaml"
        config.write_text(generated.stdout)
        deploy(home, *FAULTS)
        yield base, config
    finally:
        run_docpipe(home, "down")


def test_every_failed_check_has_a_failed_verdict_with_its_nodeid_in_the_summary(
    faulty_platform: tuple[Path, Path],
) -> None:
    base, config = faulty_platform
    junit, summary_path = base / "junit.xml", base / "summary.json"
    result = run_suites(
        "suites",
        "-m",
        "not performance",
        config=config,
        baseline="baselines/local.json",
        summary=summary_path,
        extra=[f"--junitxml={junit}", "-n", "2"],
        timeout=SUITE_TIMEOUT_S,
    )
    assert junit.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    failed = failed_in_junit(junit)
    summary = json.loads(summary_path.read_text())
    verdicts: dict[str, set[str]] = {}
    for comparison in summary["comparisons"]:
        if comparison["status"] in ("failed", "missing"):
            verdicts.setdefault(comparison["nodeid"], set()).add(comparison["kind"])

    def check(node: str) -> str:
        return node.split("[", 1)[0]

    assert LIMIT_CHECKS <= {check(node) for node in failed}, result.stdout[-3000:]
    without = sorted(node for node in failed if node not in verdicts)
    assert not without, f"failed checks without a failed verdict: {without}"
    for node in failed:
        if check(node) in LIMIT_CHECKS:
            assert "limit" in verdicts[node], (node, verdicts[node])
