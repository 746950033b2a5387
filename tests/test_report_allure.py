"""Allure results: every check labelled, every comparison a step with its evidence (the failed
ones first), shared files once per run, run files, the same under xdist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_prodval.report.allure_files import executor_info

CHECKS = '''
import pytest

pytestmark = [pytest.mark.security]


def test_a_route_refuses_anonymous_callers(baseline):
    """A route refuses anonymous callers.

    Guards against: anonymous reads.
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication); GDPR Art.17
    """
    baseline.exact("status", 401)
    baseline.shape("body", {"error": "unauthorized", "n": 1})


@pytest.mark.prodval_severity("minor")
@pytest.mark.parametrize("n", [1, 2])
def test_numbers_stay_close(baseline, n):
    baseline.number("value", n * 10, rel=0.1)
'''

OTHER = """
import pytest


@pytest.mark.pipeline
def test_documents_complete(baseline):
    baseline.exact("states", ["uploaded", "completed"])


def test_without_a_suite():
    pass
"""

# What the performance suite does: a chart file named in the evidence.
CHART_CONFTEST = """
import pathlib

def pytest_prodval_comparison(item, verdict):
    if verdict.key.endswith("::status"):
        path = pathlib.Path(item.config.rootpath) / "reports" / "chart.svg"
        path.parent.mkdir(exist_ok=True)
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
        verdict.evidence["chart"] = "reports/chart.svg"
"""

RUN_LABELS = {"host", "thread", "framework", "language", "package"}
BASE_INI = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
# The user's project declares its suites; the plugin knows none.
TAXONOMY_INI = (
    BASE_INI
    + """markers =
    security: the security suite
    pipeline: the pipeline suite
prodval_suites =
    security
    pipeline
prodval_severities =
    security=blocker
    pipeline=critical
"""
)


@pytest.fixture(autouse=True)
def taxonomy_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(TAXONOMY_INI)


def results(directory: Path) -> dict[str, dict[str, Any]]:
    """Test name -> the result JSON, for every ``*-result.json``."""
    found = {}
    for path in directory.glob("*-result.json"):
        data = json.loads(path.read_text())
        found[data["name"]] = data
    return found


def labels(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (lab["name"], lab["value"]) for lab in result["labels"] if lab["name"] not in RUN_LABELS
    }


def attachment_names(result: dict[str, Any]) -> list[str]:
    return sorted(a["name"] for a in result.get("attachments", []))


def steps(result: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """The result's top-level steps, in order: name, status, attachment names."""
    return [
        (step["name"], step["status"], [a["name"] for a in step.get("attachments", [])])
        for step in result.get("steps", [])
    ]


def step_parameters(step: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in step.get("parameters", [])}


def global_attachments(directory: Path) -> list[dict[str, Any]]:
    return [
        attachment
        for path in sorted(directory.glob("*-globals.json"))
        for attachment in json.loads(path.read_text()).get("attachments", [])
    ]


def fingerprint(directory: Path) -> set[tuple[Any, ...]]:
    """What a reviewer sees of each test, file names (uuids) left out."""
    tests = {
        (
            name,
            frozenset(labels(result)),
            tuple(attachment_names(result)),
            tuple(
                (s["name"], s["status"], tuple(a["name"] for a in s.get("attachments", [])),
                 tuple(sorted(step_parameters(s).items())))
                for s in result.get("steps", [])
            ),
        )
        for name, result in results(directory).items()
    }  # fmt: skip
    run = {("global", a["name"], a["source"]) for a in global_attachments(directory)}
    return tests | run


@pytest.fixture
def recorded(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(test_checks=CHECKS, test_other=OTHER)
    project.makeconftest(CHART_CONFTEST)
    project.runpytest("--target-env=local", "--record-baseline").assert_outcomes(passed=5)
    # The target drifts: the body gains a key, so the first check fails.
    project.makepyfile(test_checks=CHECKS.replace('"n": 1}', '"n": 1, "debug": "x"}'))
    return project


def test_every_check_is_labelled_with_suite_module_story_severity_rules_and_docs_link(
    recorded: pytest.Pytester,
) -> None:
    recorded.runpytest("--target-env=local", "--alluredir=allure").assert_outcomes(
        passed=4, failed=1
    )
    found = results(recorded.path / "allure")
    assert set(found) == {
        "test_a_route_refuses_anonymous_callers",
        "test_numbers_stay_close[1]",
        "test_numbers_stay_close[2]",
        "test_documents_complete",
        "test_without_a_suite",
    }
    first = found["test_a_route_refuses_anonymous_callers"]
    assert {
        ("epic", "security"),
        ("feature", "checks"),
        ("story", "a route refuses anonymous callers"),
        ("severity", "blocker"),
        ("tag", "HIPAA-164.312(d)"),
        ("tag", "GDPR-Art.17"),
    } <= labels(first)
    assert first["links"] == [
        {"type": "link", "url": "docs/checks.md#security", "name": "docs: a route refuses "
         "anonymous callers"}
    ]  # fmt: skip
    assert ("severity", "minor") in labels(found["test_numbers_stay_close[1]"])
    assert {("epic", "pipeline"), ("severity", "critical")} <= labels(
        found["test_documents_complete"]
    )
    plain = labels(found["test_without_a_suite"])
    assert ("severity", "normal") in plain
    assert not any(name == "epic" for name, _ in plain)


def test_the_docs_link_follows_the_ini_template(recorded: pytest.Pytester) -> None:
    recorded.makeini(
        TAXONOMY_INI + "prodval_docs_url = https://docs.example/{suite}/{module}#{check}\n"
    )
    recorded.runpytest("--target-env=local", "--alluredir=allure", "-k", "pipeline or documents")
    result = results(recorded.path / "allure")["test_documents_complete"]
    assert (
        result["links"][0]["url"]
        == "https://docs.example/pipeline/test_other#test_documents_complete"
    )


def test_each_comparison_is_a_step_with_its_table_json_and_chart_the_failed_one_first(
    recorded: pytest.Pytester,
) -> None:
    recorded.runpytest("--target-env=local", "--alluredir=allure")
    directory = recorded.path / "allure"
    failed = results(directory)["test_a_route_refuses_anonymous_callers"]
    assert failed["status"] == "failed"
    # The check compared the status (passed), then the body (failed): the failure comes first,
    # each step named by what it compared and what it found, its evidence under it.
    assert steps(failed) == [
        (
            "body: $.debug: unexpected key — shape differs from baseline (1 difference)",
            "failed",
            ["body (failed)", "body evidence"],
        ),
        (
            "status: equal to baseline",
            "passed",
            ["status (passed)", "status evidence", "status latency chart"],
        ),
    ]
    assert attachment_names(failed) == []  # nothing of the comparisons left at the top
    body, status = failed["steps"]
    assert body["statusDetails"]["message"].startswith(
        "body: $.debug: unexpected key — shape differs from baseline (1 difference)\n"
    )
    assert step_parameters(body) == {
        "baseline": '{"error":"string","n":"integer"}',
        "target": '{"debug":"string","error":"string","n":…',
        "change": "1 difference",
        "rule": "same shape as baseline",
    }
    assert "statusDetails" not in status
    sources = {a["name"]: a for s in failed["steps"] for a in s["attachments"]}
    table = (directory / sources["body (failed)"]["source"]).read_text()
    for expected in ["baseline", "target", "change", "rule", "FAILED", "$.debug: unexpected key"]:
        assert expected in table
    evidence = json.loads((directory / sources["body evidence"]["source"]).read_text())
    assert evidence["status"] == "failed" and evidence["kind"] == "shape"
    chart = sources["status latency chart"]
    assert chart["type"] == "image/svg+xml"
    assert (directory / chart["source"]).read_text().startswith("<svg")
    passing = results(directory)["test_numbers_stay_close[1]"]
    assert steps(passing) == [
        ("value: 10 vs baseline 10 (no change), within ±10%", "passed",
         ["value (passed)", "value evidence"]),
    ]  # fmt: skip


ORDER = """
def test_the_fifth_of_six_differs(baseline, drift):
    for n in range(4):
        baseline.exact(f"value {n}", n)
    baseline.exact("status", 503 if drift else 200)
    baseline.exact("last", 6)


def test_broken_after_two_comparisons(baseline, drift):
    baseline.exact("first", 1)
    baseline.exact("second", 2)
    if drift:
        raise ConnectionRefusedError(111, "Connection refused")


def test_fails_on_its_own_assertion(baseline, drift):
    baseline.exact("first", 1)
    assert not drift, "the check's own assertion"


def test_compares_with_no_entry(baseline):
    baseline.exact("never recorded", 1)
"""

ORDER_CONFTEST = """
import os

import pytest


@pytest.fixture
def drift():
    return bool(os.environ.get("DRIFT"))
"""


@pytest.fixture
def ordered(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    project.makepyfile(test_order=ORDER)
    project.makeconftest(ORDER_CONFTEST)
    project.runpytest(
        "--target-env=local", "--record-baseline", "-k", "not no_entry"
    ).assert_outcomes(passed=3)
    monkeypatch.setenv("DRIFT", "1")
    return project


def test_failed_and_broken_steps_come_first_each_with_the_status_allure_gives(
    ordered: pytest.Pytester,
) -> None:
    ordered.runpytest("--target-env=local", "--alluredir=allure").assert_outcomes(failed=4)
    found = results(ordered.path / "allure")
    fifth = found["test_the_fifth_of_six_differs"]
    assert [(name, status) for name, status, _ in steps(fifth)] == [
        ("status: 200 -> 503 — differs from baseline (1 difference)", "failed"),
        ("value 0: equal to baseline", "passed"),
        ("value 1: equal to baseline", "passed"),
        ("value 2: equal to baseline", "passed"),
        ("value 3: equal to baseline", "passed"),
    ]
    assert steps(fifth)[0][2] == ["status (failed)", "status evidence"]
    # An error that is not an assertion: the check's step is broken, as Allure rates the test.
    broken = found["test_broken_after_two_comparisons"]
    assert broken["status"] == "broken"
    assert [(name, status) for name, status, _ in steps(broken)] == [
        ("check (call): ConnectionRefusedError: [Errno 111] Connection refused", "broken"),
        ("first: equal to baseline", "passed"),
        ("second: equal to baseline", "passed"),
    ]
    assert steps(broken)[0][2] == ["(call) (failed)", "(call) evidence"]
    own = found["test_fails_on_its_own_assertion"]
    assert [(name, status) for name, status, _ in steps(own)] == [
        ("check (call): AssertionError: the check's own assertion", "failed"),
        ("first: equal to baseline", "passed"),
    ]
    missing = steps(found["test_compares_with_no_entry"])
    assert len(missing) == 1 and missing[0][1] == "failed"
    assert missing[0][0].startswith(
        "never recorded: no baseline entry 'test_order.py::test_compares_with_no_entry::never"
    )


# A load run's report, named by every comparison of every check (what the performance suite
# does with ``attachments={"locust_report": load_run.html}``), and one chart for them all.
LOAD_REPORT_CONFTEST = """
def pytest_prodval_comparison(item, verdict):
    verdict.evidence["locust_report"] = "load/locust.html"
    verdict.evidence["chart"] = "load/chart.svg"
"""

LOAD_CHECKS = """
import pytest


@pytest.mark.parametrize("route", ["documents", "search", "health", "results"])
def test_latency(baseline, route):
    baseline.exact("status", 200)
    baseline.exact("count", 3)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "two-workers"])
def test_a_file_several_comparisons_name_is_attached_once(
    project: pytest.Pytester, workers: list[str]
) -> None:
    report = "<html>" + "locust " * 20_000 + "</html>"
    (project.path / "load").mkdir()
    (project.path / "load" / "locust.html").write_text(report)
    (project.path / "load" / "chart.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    project.makeconftest(LOAD_REPORT_CONFTEST)
    project.makepyfile(test_load=LOAD_CHECKS)
    project.runpytest("--target-env=local", "--record-baseline")
    project.runpytest("--target-env=local", "--alluredir=allure", *workers).assert_outcomes(
        passed=4
    )
    directory = project.path / "allure"
    # The Locust report: one file, one global attachment of the run, whatever the workers.
    copies = [p.name for p in directory.iterdir() if p.read_text(errors="replace") == report]
    assert len(copies) == 1, copies
    assert not list(directory.glob(".prodval-claim-*"))
    shared = global_attachments(directory)
    assert [(a["name"], a["source"], a["type"]) for a in shared] == [
        ("Locust report locust.html", copies[0], "text/html")
    ]
    found = results(directory)
    assert len(found) == 4
    for result in found.values():
        # The chart: once per test, under its first step; the second step names that step.
        assert steps(result) == [
            ("status: equal to baseline", "passed",
             ["status (passed)", "status evidence", "status latency chart"]),
            ("count: equal to baseline", "passed", ["count (passed)", "count evidence"]),
        ]  # fmt: skip
        first, second = (step_parameters(step) for step in result["steps"])
        run_file = 'attached once to the run: global attachment "Locust report locust.html"'
        assert first["Locust report"] == second["Locust report"] == run_file
        assert "latency chart" not in first
        assert second["latency chart"] == 'attached under the step "status: equal to baseline"'


def test_an_unknown_severity_level_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        "import pytest\n\n@pytest.mark.prodval_severity('urgent')\ndef test_x():\n    pass\n"
    )
    result = project.runpytest("--target-env=local", "--alluredir=allure")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*prodval_severity('urgent')*expected one of blocker, critical*"])


def test_a_docs_template_with_an_unknown_placeholder_is_a_usage_error(
    project: pytest.Pytester,
) -> None:
    project.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
        "prodval_docs_url = https://docs.example/{owner}\n"
    )
    project.makepyfile("def test_x():\n    pass\n")
    result = project.runpytest("--target-env=local", "--alluredir=allure")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*prodval_docs_url*KeyError('owner')*placeholders are {check}*"])


def test_the_controller_writes_environment_executor_and_categories(
    recorded: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ["GITLAB_CI", "CI_PIPELINE_ID", "JENKINS_URL", "BUILD_NUMBER"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/repo")
    monkeypatch.setenv("GITHUB_RUN_ID", "991")
    monkeypatch.setenv("GITHUB_RUN_NUMBER", "17")
    monkeypatch.setenv("GITHUB_WORKFLOW", "deploy")
    recorded.runpytest("--target-env=local", "--alluredir=allure")
    directory = recorded.path / "allure"
    properties = (directory / "environment.properties").read_text().splitlines()
    assert "environment=local" in properties
    assert "target.url=http\\://127.0.0.1\\:9" not in properties  # values are not key-escaped
    assert "target.url=http://127.0.0.1:9" in properties
    assert "baseline.file=baselines/local.json" in properties
    assert any(line.startswith("baseline.provenance=recorded on local") for line in properties)
    assert any(line.startswith("prodval.version=") for line in properties)
    executor = json.loads((directory / "executor.json").read_text())
    assert executor == {
        "name": "GitHub Actions",
        "type": "github",
        "url": "https://github.example/org/repo",
        "buildOrder": 17,
        "buildName": "deploy #17",
        "buildUrl": "https://github.example/org/repo/actions/runs/991",
        "reportName": "prodval: local",
    }
    categories = json.loads((directory / "categories.json").read_text())
    # Allure 2 matches messages only: by the exception class the message starts with.
    assert [(c["name"], c.get("messageRegex")) for c in categories] == [
        ("Target unreachable", r"(?:[\w.]+\.)?TargetUnreachable:[\s\S]*"),
        ("Time budget exceeded", r"(?:[\w.]+\.)?CheckTimedOut:[\s\S]*"),
        ("SLO breached or baseline differs", r"(?:[\w.]+\.)?BaselineMismatch:[\s\S]*"),
        ("Check failed", None),
    ]
    # Allure 3 matches the labels of the failed verdicts: kind and status, never wording.
    config = json.loads((directory / "allurerc.json").read_text())
    rules = {r["name"]: r["matchers"]["labels"] for r in config["categories"]["rules"]}
    assert list(rules) == [
        "Target unreachable",
        "Time budget exceeded",
        "SLO breached",
        "Latency regression",
        "Metric drift",
        "Contract drift",
        "Check failed",
    ]
    assert rules["SLO breached"] == {"prodval_verdict": "^limit:failed$"}
    assert "suites/" not in json.dumps(config) + json.dumps(categories)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"GITLAB_CI": "true", "CI_PIPELINE_IID": "42", "CI_PROJECT_PATH": "org/app",
             "CI_PROJECT_URL": "https://gitlab.example/org/app", "CI_JOB_NAME": "gate",
             "CI_JOB_URL": "https://gitlab.example/org/app/-/jobs/7"},
            {"name": "GitLab CI", "type": "gitlab", "url": "https://gitlab.example/org/app",
             "buildOrder": 42, "buildName": "org/app #42 gate",
             "buildUrl": "https://gitlab.example/org/app/-/jobs/7", "reportName": "r"},
        ),
        (
            {"JENKINS_URL": "https://ci.example/", "BUILD_NUMBER": "5", "JOB_NAME": "deploy",
             "BUILD_URL": "https://ci.example/job/deploy/5/"},
            {"name": "Jenkins", "type": "jenkins", "url": "https://ci.example/", "buildOrder": 5,
             "buildName": "deploy #5", "buildUrl": "https://ci.example/job/deploy/5/",
             "reportName": "r"},
        ),
        ({}, {"name": "local run", "type": "local", "reportName": "r"}),
    ],
    ids=["gitlab", "jenkins", "local"],
)  # fmt: skip
def test_the_executor_comes_from_the_ci_variables_present(
    environ: dict[str, str], expected: dict[str, Any]
) -> None:
    assert executor_info(environ, "r") == expected


def test_two_workers_give_the_same_tests_labels_and_attachments_as_a_serial_run(
    recorded: pytest.Pytester,
) -> None:
    recorded.runpytest("--target-env=local", "--alluredir=serial").assert_outcomes(
        passed=4, failed=1
    )
    (recorded.path / "parallel").mkdir()
    (recorded.path / "parallel" / "stale-result.json").write_text("{}")
    result = recorded.runpytest(
        "--target-env=local",
        "--alluredir=parallel",
        "--clean-alluredir",
        "--junitxml=reports/junit.xml",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=4, failed=1)
    serial, parallel = (
        fingerprint(recorded.path / "serial"),
        fingerprint(recorded.path / "parallel"),
    )
    assert len(serial) == 5
    assert parallel == serial
    # The controller cleaned once, before the workers started; no worker cleaned again.
    assert not (recorded.path / "parallel" / "stale-result.json").exists()
    assert len(list((recorded.path / "parallel").glob("*-result.json"))) == 5
    assert (recorded.path / "parallel" / "environment.properties").is_file()
    # JUnit: the comparisons made on the workers reach the controller's XML as properties.
    xml = (recorded.path / "reports/junit.xml").read_text()
    assert 'name="prodval:test_checks.py::test_a_route_refuses_anonymous_callers::body"' in xml
    assert xml.count('name="prodval:') == 5


def test_junit_xml_carries_each_comparison_in_full_as_a_testsuite_property(
    recorded: pytest.Pytester,
) -> None:
    # More in tests/test_junit.py (the schema, the testcase's system-out, legacy, secrets).
    recorded.runpytest("--target-env=local", "--junitxml=reports/junit.xml")
    xml = (recorded.path / "reports/junit.xml").read_text()
    name = "prodval:test_checks.py::test_a_route_refuses_anonymous_callers::body"
    suite_properties = xml.split("<testcase", 1)[0]
    value = suite_properties.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]
    summary = json.loads(value.replace("&quot;", '"'))
    assert summary == {
        "status": "failed",
        "kind": "shape",
        "baseline": {"error": "string", "n": "integer"},
        "target": {"error": "string", "n": "integer", "debug": "string"},  # not cut
        "change": "1 difference",
        "rule": "same shape as baseline",
    }
    assert suite_properties.count('name="prodval:') == 5


FAILURES = """
import pytest

pytestmark = [pytest.mark.security]


def test_slo(baseline):
    baseline.limit("p95", 250.0, at_most=200, unit="ms", source="slo.api_p95_ms")


def test_contract(baseline):
    baseline.exact("status", 200)


def test_plain_assert():
    assert 1 == 2, "the check's own assertion"
"""


def test_each_failed_verdict_labels_the_result_with_its_kind_and_status(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_failures=FAILURES)
    project.runpytest("--target-env=local", "--alluredir=allure").assert_outcomes(failed=3)
    found = results(project.path / "allure")
    expected = {
        "test_slo": ("limit", "limit:failed"),
        "test_contract": ("exact", "exact:missing"),  # no baseline entry yet
        "test_plain_assert": ("check", "check:failed"),  # the fallback verdict
    }
    for name, (kind, verdict) in expected.items():
        assert {("prodval_kind", kind), ("prodval_verdict", verdict)} <= labels(found[name]), name
    assert ("epic", "security") in labels(found["test_slo"])


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "prodval_suites = smoke\n",
            "ERROR: ini prodval_suites: 'smoke' is not a declared marker; declare it in the ini "
            '"markers" list ("smoke: what the suite checks")',
        ),
        (
            "markers = smoke: s\nprodval_suites = smoke\nprodval_severities = smoke:blocker\n",
            "ERROR: ini prodval_severities: 'smoke:blocker': expected suite=level with a suite "
            "of prodval_suites (smoke) and a level of blocker, critical, normal, minor, trivial",
        ),
        (
            "markers = smoke: s\nprodval_suites = smoke\nprodval_severities = smoke=urgent\n",
            "ERROR: ini prodval_severities: 'smoke=urgent': expected suite=level*",
        ),
    ],
    ids=["undeclared-suite", "no-equals", "unknown-level"],
)
def test_a_bad_taxonomy_declaration_is_a_one_line_usage_error(
    project: pytest.Pytester, ini: str, message: str
) -> None:
    project.makeini(BASE_INI + ini)
    project.makepyfile("def test_x():\n    pass\n")
    result = project.runpytest("--target-env=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_without_a_declaration_no_check_has_a_suite(project: pytest.Pytester) -> None:
    project.makeini(BASE_INI + "markers = security: s\n")
    project.makepyfile(test_checks=CHECKS)
    project.runpytest("--target-env=local", "--alluredir=allure")
    first = labels(results(project.path / "allure")["test_a_route_refuses_anonymous_callers"])
    assert ("severity", "normal") in first
    assert not any(name == "epic" for name, _ in first)
