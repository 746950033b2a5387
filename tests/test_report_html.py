"""The Allure 3 CLI turns a real run's results into a report whose counts are pytest's, whose
comparisons are steps (the failed first) and whose shared load report is one global attachment.

Needs Node >= 20 and the ``allure`` npm package installed in the repository
(``npm install --no-save allure@3``, which puts ``node_modules/.bin/allure`` there); nothing is
downloaded at test time, so without them the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLURE = ROOT / "node_modules" / ".bin" / "allure"
INSTALL = "npm install --no-save allure@3 (in the repository; needs Node >= 20)"

CHECKS = '''
import pytest

pytestmark = [pytest.mark.security]


@pytest.mark.parametrize("n", range(4))
def test_value_matches_the_baseline(baseline, n):
    """A value equals the baseline's.

    Guards against: drift.
    Evidences: GDPR Art.17
    """
    baseline.exact("value", n)


def test_two_comparisons(baseline):
    baseline.exact("status", 200)
    baseline.exact("body", {"n": 1})


def test_skipped_on_purpose():
    pytest.skip("not here")


def test_broken_by_an_error():
    raise ConnectionRefusedError(111, "Connection refused")
'''


# Every comparison names one load report, as the performance suite's do.
LOAD_REPORT_CONFTEST = """
def pytest_prodval_comparison(item, verdict):
    verdict.evidence["locust_report"] = "load/report.html"
"""

TAXONOMY_INI = """
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
markers = security: the security suite
prodval_suites = security
"""


def _node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    try:
        return int(version.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def _attachment_links(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every attachment of a report test's steps, at any depth."""
    found = []
    for step in steps:
        if step.get("type") == "attachment":
            found.append(step["link"])
        found += _attachment_links(step.get("steps", []))
    return found


def test_the_allure_report_counts_equal_pytests(project: pytest.Pytester) -> None:
    major = _node_major()
    if major is None or major < 20:
        pytest.skip(f"Node >= 20 not found (found: {major}); the report test needs it")
    if not ALLURE.exists():
        pytest.skip(f"Allure 3 CLI not installed at {ALLURE.relative_to(ROOT)}: {INSTALL}")
    project.makeini(TAXONOMY_INI)
    project.makepyfile(test_checks=CHECKS)
    project.makeconftest(LOAD_REPORT_CONFTEST)
    (project.path / "load").mkdir()
    (project.path / "load" / "report.html").write_text("<html>the load run</html>")
    project.runpytest("--target-env=local", "--record-baseline", "-k", "value or two")
    project.makepyfile(
        test_checks=CHECKS.replace(
            'baseline.exact("value", n)', 'baseline.exact("value", n if n else 9)'
        ).replace('{"n": 1}', '{"n": 2}')
    )
    result = project.runpytest("--target-env=local", "--alluredir=reports/allure-results")
    outcomes = result.parseoutcomes()
    assert outcomes == {"passed": 3, "failed": 3, "skipped": 1}

    results = project.path / "reports" / "allure-results"
    report = project.path / "reports" / "allure-report"
    env = {**os.environ, "NO_COLOR": "1", "CI": "true"}
    generated = subprocess.run(
        [str(ALLURE), "generate", "--config", str(results / "allurerc.json"), str(results),
         "-o", str(report)],
        cwd=project.path, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    summary = json.loads((report / "summary.json").read_text())
    stats = summary["stats"]
    # Allure counts an error that is not an assertion as "broken"; pytest calls it failed.
    assert stats.get("failed", 0) + stats.get("broken", 0) == outcomes["failed"]
    assert stats.get("broken", 0) == 1
    assert stats.get("passed", 0) == outcomes["passed"]
    assert stats.get("skipped", 0) == outcomes["skipped"]
    assert stats["total"] == sum(outcomes.values())
    assert summary["name"] == "prodval: local"
    categories = json.loads((report / "widgets" / "categories.json").read_text())
    names = {node["name"] for node in categories["nodes"].values() if node["type"] == "category"}
    # By the failed verdicts' kinds (labels), not wording: the value that differs, and an error
    # the check raised itself (kind "check"; "unreachable" is the plugin's own reason line).
    assert names == {"Contract drift", "Check failed"}
    # The report's own data: each comparison a step, the failed one first, nothing missing.
    tests = {}
    for path in (report / "data" / "test-results").glob("*.json"):
        data = json.loads(path.read_text())
        tests[data["name"]] = data
    two = tests["test_two_comparisons"]
    assert [(s["name"], s["status"]) for s in two["steps"]] == [
        ("body: $.n: 1 -> 2 — differs from baseline (1 difference)", "failed"),
        ("status: equal to baseline", "passed"),
    ]
    assert [a["link"]["name"] for a in two["steps"][0]["steps"]] == [
        "body (failed)",
        "body evidence",
    ]
    links = [link for data in tests.values() for link in _attachment_links(data["steps"])]
    assert len(links) == 14 and not any(link["missed"] for link in links)  # 7 comparisons
    # The load report every comparison names: one global attachment of the run.
    shared = json.loads((report / "widgets" / "globals.json").read_text())["attachments"]
    assert [(a["name"], a["missed"]) for a in shared] == [("Locust report report.html", False)]
