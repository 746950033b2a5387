"""The JUnit XML of a run with prodval: valid against the common junit-10.xsd in pytest's default
family (xunit2), every comparison in it with its full values, no secret in it.

xunit2: the comparisons are properties of the testsuite and lines of their testcase's
system-out (the schema has no testcase properties). legacy: properties of their testcase, as
before; pytest's own file/line attributes put that family outside the schema anyway.

tests/schemas/junit-10-subset.xsd is junit-10.xsd narrowed to what pytest writes (see its
header); with PRODVAL_JUNIT_XSD naming a copy of the real junit-10.xsd, the XML is validated
against that file too.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from pytest_prodval.gate.record import failed_checks
from pytest_prodval.gate.state import read_evidence
from pytest_prodval.safety.redaction import Redactor

from .test_secrets import SECRETS, secret_config

SCHEMAS = [Path(__file__).parent / "schemas" / "junit-10-subset.xsd"]
if os.environ.get("PRODVAL_JUNIT_XSD"):
    SCHEMAS.append(Path(os.environ["PRODVAL_JUNIT_XSD"]))

PREFIX = "prodval:"

# Longer than the comparison table's 40 characters: the properties must carry all of it.
RELEASE = {"release": "2026.11.3", "features": ["search", "export", "audit", "sso", "webhooks"]}

CHECKS = f"""
import json
import pathlib

import pytest

RELEASE = {RELEASE!r}


def observed():
    return json.loads(pathlib.Path("observed.json").read_text())


def test_passes(baseline):
    baseline.exact("release", RELEASE)
    baseline.number("p95", 120.0, rel=0.10, direction="higher_is_worse", unit="ms")
    baseline.limit("p99", 150.0, at_most=200, unit="ms")


def test_fails(baseline):
    baseline.exact("status code", observed()["status"])


def test_breaks_after_a_comparison(baseline):
    baseline.exact("before the crash", 1)
    if observed()["status"] != 200:
        raise RuntimeError("the check itself is broken")


@pytest.fixture
def broken_fixture():
    raise RuntimeError("cannot set up")


def test_broken_by_its_fixture(broken_fixture):
    pass


def test_skips():
    pytest.skip("not on this target")
"""


def observe(pytester: pytest.Pytester, status: int) -> None:
    (pytester.path / "observed.json").write_text(json.dumps({"status": status}))


def run(pytester: pytest.Pytester, name: str, *args: str) -> Path:
    junit = pytester.path / "reports" / f"{name}.xml"
    result = pytester.runpytest("--target-env=local", f"--junitxml={junit}", *args)
    output = result.stdout.str() + result.stderr.str()
    assert junit.exists(), output[-3000:]
    # filterwarnings = error (conftest's INI): pytest's xunit2 warning would be an error.
    assert "incompatible with junit_family" not in output
    return junit


@pytest.fixture
def checks(project: pytest.Pytester) -> pytest.Pytester:
    """The checks, recorded with status 200, then run against a target answering 503."""
    project.makepyfile(test_checks=CHECKS)
    observe(project, 200)
    run(project, "record", "--record-baseline")
    observe(project, 503)
    return project


def schema_errors(junit: Path, schema: Path) -> list[str]:
    validator = etree.XMLSchema(etree.parse(str(schema)))
    if validator.validate(etree.parse(str(junit))):
        return []
    return [f"{error.line}: {error.message}" for error in validator.error_log]


def assert_valid(junit: Path) -> None:
    for schema in SCHEMAS:
        assert schema_errors(junit, schema) == [], f"{schema.name}:\n{junit.read_text()[:4000]}"


def cases(junit: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(junit).getroot().iter("testcase")}


def suite_properties(junit: Path) -> dict[str, Any]:
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    return {
        p.get("name", "")[len(PREFIX) :]: json.loads(p.get("value", ""))
        for p in suite.findall("properties/property")
        if p.get("name", "").startswith(PREFIX)
    }


def system_out(case: ET.Element) -> str:
    outs = case.findall("system-out")
    assert len(outs) <= 1, "Jenkins shows only the first <system-out>"
    return outs[0].text or "" if outs else ""


def key(test: str, name: str) -> str:
    return f"test_checks.py::{test}::{name}"


def test_the_default_family_is_valid_with_every_comparison_in_the_suite_and_its_testcase(
    checks: pytest.Pytester,
) -> None:
    junit = run(checks, "compare")
    assert_valid(junit)
    found = cases(junit)
    assert all(case.find("properties") is None for case in found.values())

    comparisons = suite_properties(junit)
    assert set(comparisons) == {
        key("test_passes", "release"),
        key("test_passes", "p95"),
        key("test_passes", "p99"),
        key("test_fails", "status code"),
        key("test_breaks_after_a_comparison", "before the crash"),
        # A broken check is a comparison too: "the check passes", at the phase it broke in.
        key("test_breaks_after_a_comparison", "(call)"),
        key("test_broken_by_its_fixture", "(setup)"),
    }
    # Full values, not the table's cut text: the whole recorded JSON value.
    release = comparisons[key("test_passes", "release")]
    assert release == {
        "status": "passed",
        "kind": "exact",
        "baseline": RELEASE,
        "target": RELEASE,
        "change": "same",
        "rule": "equal to baseline",
    }
    p95 = comparisons[key("test_passes", "p95")]
    assert (p95["baseline"], p95["target"], p95["unit"]) == (120.0, 120.0, "ms")
    p99 = comparisons[key("test_passes", "p99")]
    assert (p99["kind"], p99["baseline"], p99["target"]) == ("limit", "≤ 200 ms", "150 ms")
    status = comparisons[key("test_fails", "status code")]
    assert (status["status"], status["baseline"], status["target"]) == ("failed", 200, 503)
    crashed = comparisons[key("test_breaks_after_a_comparison", "before the crash")]
    assert crashed["status"] == "passed"  # the check broke after its comparison

    # Each testcase's system-out lists its own comparisons; the failure names the difference.
    passes = system_out(found["test_passes"])
    assert passes.startswith("prodval: 3 baseline comparisons")
    assert "passed release (exact)" in passes
    assert f"  target:   {json.dumps(RELEASE, separators=(',', ':'))}" in passes
    failing = found["test_fails"]
    failure = failing.find("failure")
    assert failure is not None and "status code" in failure.get("message", "")
    assert "FAILED status code (exact)\n  baseline: 200\n  target:   503" in system_out(failing)
    broken = found["test_breaks_after_a_comparison"]
    assert broken.find("failure") is not None
    assert "passed before the crash (exact)" in system_out(broken)
    assert "FAILED (call) (check)\n  baseline: —\n  target:   RuntimeError" in system_out(broken)
    assert "FAILED (setup) (check)" in system_out(found["test_broken_by_its_fixture"])
    assert system_out(found["test_skips"]) == ""  # no comparison, no prodval output


def test_the_recording_run_is_valid_and_carries_what_it_recorded(project: pytest.Pytester) -> None:
    project.makepyfile(test_checks=CHECKS)
    observe(project, 200)
    junit = run(project, "record", "--record-baseline")
    assert_valid(junit)
    release = suite_properties(junit)[key("test_passes", "release")]
    assert (release["status"], release["baseline"], release["target"]) == (
        "recorded",
        RELEASE,
        RELEASE,
    )


def test_legacy_keeps_testcase_properties_and_differs_from_the_schema_only_by_them_and_pytests_file_and_line(  # noqa: E501
    checks: pytest.Pytester,
) -> None:
    junit = run(checks, "legacy", "-o", "junit_family=legacy")
    assert suite_properties(junit) == {}
    found = cases(junit)
    passes = found["test_passes"]
    props = {p.get("name"): json.loads(p.get("value", "")) for p in passes.iter("property")}
    assert props[PREFIX + key("test_passes", "release")]["baseline"] == RELEASE
    assert system_out(passes) == ""  # the properties are the testcase's comparisons there

    errors = schema_errors(junit, SCHEMAS[0])
    assert errors and all("properties" in e or "'file'" in e or "'line'" in e for e in errors)
    tree = ET.parse(junit)
    for case in tree.getroot().iter("testcase"):
        for attribute in ("file", "line"):
            case.attrib.pop(attribute, None)
        for element in case.findall("properties"):
            case.remove(element)
    stripped = junit.with_name("legacy-stripped.xml")
    tree.write(stripped, encoding="utf-8", xml_declaration=True)
    assert_valid(stripped)


def test_captured_output_and_the_comparisons_share_one_system_out(
    checks: pytest.Pytester,
) -> None:
    junit = run(checks, "logging", "-o", "junit_logging=all")
    assert_valid(junit)
    found = cases(junit)
    broken = system_out(found["test_breaks_after_a_comparison"])
    assert broken.startswith("prodval: 2 baseline comparisons (")
    assert "Captured Log" in broken or "Captured Out" in broken
    passes = system_out(found["test_passes"])
    assert passes.startswith("prodval: 3 baseline comparisons")


def test_under_xdist_the_controller_moves_the_comparisons_to_the_suite(
    checks: pytest.Pytester,
) -> None:
    serial = run(checks, "serial")
    parallel = run(checks, "xdist", "-n", "2")
    assert_valid(parallel)
    assert suite_properties(parallel) == suite_properties(serial)
    found = cases(parallel)
    assert all(case.find("properties") is None for case in found.values())
    assert "FAILED status code" in system_out(found["test_fails"])


def test_the_gate_reads_the_same_failures_and_counts(checks: pytest.Pytester) -> None:
    junit = run(checks, "compare")
    failed = failed_checks(junit, Redactor([]))
    assert failed is not None
    assert {(f["check"], f["outcome"]) for f in failed} == {
        ("test_checks.py::test_fails", "failed"),
        ("test_checks.py::test_breaks_after_a_comparison", "failed"),
        ("test_checks.py::test_broken_by_its_fixture", "error"),
    }
    evidence = read_evidence(junit, junit.with_name("missing.json"), 0.0)
    assert (evidence.junit, evidence.reported, evidence.executed, evidence.failed) == (
        True,
        5,
        4,
        3,
    )


def test_a_secret_in_a_full_value_is_redacted_in_the_suite_and_the_testcase(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "t0ken-Junit-Full-0042"
    secrets = {**SECRETS, "PRODVAL_TEST_TOKEN": token}
    pytester.makefile(".yaml", prodval=secret_config(monkeypatch, secrets))
    pytester.makepyfile(
        test_leaky="""
        def test_echo(baseline, target):
            sent = target.credentials["admin"].bearer_token
            baseline.exact("echo", {"authorization": "Bearer " + sent, "padding": "x" * 60})
        """
    )
    junit = run(pytester, "secret", "--record-baseline")
    assert_valid(junit)
    text = junit.read_text()
    assert token not in text
    [echo] = suite_properties(junit).values()
    assert echo["baseline"] == {"authorization": "Bearer ***", "padding": "x" * 60}
    assert '"authorization":"Bearer ***"' in system_out(cases(junit)["test_echo"])
