"""The alert path in deploy/: Prometheus rules, Alertmanager routes, the Grafana dashboard.

promtool and amtool (Debian's prometheus and prometheus-alertmanager packages; .ci/run extracts
them) check and unit-test the files when they are on PATH. Without them the tests that need
them skip; the rest read the files with yaml/json: every query names only the metrics and
labels of prodval-watch's contract, every alert has a severity, a runbook anchor that exists,
and promtool tests that see it fire and stay quiet; no secret is written in the Alertmanager
config.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus/prodval-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus/prodval-alerts.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager/alertmanager.yml"
ALERTMANAGER_TEMPLATE = DEPLOY / "alertmanager/prodval.tmpl"
DASHBOARD = DEPLOY / "grafana/prodval-dashboard.json"
OPERATIONS = ROOT / "docs/operations.md"

# prodval-watch's metrics and their labels (pytest_prodval/watch/metrics.py, docs/operations.md).
CONTRACT = {
    "prodval_run_timestamp_seconds": {"env"},
    "prodval_run_duration_seconds": {"env"},
    "prodval_run_interval_seconds": {"env"},
    "prodval_run_completed": {"env"},
    "prodval_runs_total": {"env", "result"},
    "prodval_checks": {"env", "outcome"},
    "prodval_check_passed": {"env", "check", "suite", "slo"},
}
LABEL_VALUES = {
    "result": {"passed", "failed", "error"},
    "outcome": {"passed", "failed", "error", "skipped"},
    "slo": {"true", "false"},
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
SEVERITIES = {"page", "ticket"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "prometheus" if name == "promtool" else "prometheus-alertmanager"
        pytest.skip(f"{name} is not on PATH (Debian's {package}; .ci/run extracts it)")
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


# PromQL, read just enough to name its metrics and labels.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+|ms|[smhdwy])?\b")
_NAME = re.compile(r"[A-Za-z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions and keywords aside)."""
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", _STRING.sub('""', expr))
    text = _GROUPING.sub(" ", re.sub(r"\[[^\]]*\]", " ", text))
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        if re.match(r"\s*\(", text[match.end() :]) or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def contract_problems(expr: str) -> Iterator[str]:
    """What in a PromQL expression is not in the metrics contract."""
    for name in metric_names(expr):
        if name not in CONTRACT:
            yield f"metric {name}"
    for match in _SELECTOR.finditer(expr):
        metric, matchers = match.group(1), match.group(2)
        allowed = CONTRACT.get(metric, set()) | TARGET_LABELS
        for label, _, quoted in _MATCHER.findall(matchers):
            if label == "__name__" or label not in allowed:
                yield f"label {label} of {metric}"
            value = json.loads(quoted)
            if label in LABEL_VALUES and "$" not in value:
                unknown = set(value.split("|")) - LABEL_VALUES[label]
                if unknown:
                    yield f"{label} values {sorted(unknown)}"
    every_label = set().union(*CONTRACT.values()) | TARGET_LABELS
    for _, labels in _GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in labels.split(","))):
            if label not in every_label:
                yield f"grouping label {label}"


def _template_queries(annotation: str) -> list[str]:
    """The PromQL that an annotation's template runs (query (printf "..." ...))."""
    return [
        json.loads(quoted).replace("%q", '"x"')
        for quoted in re.findall(r'query\s*\(\s*printf\s+("(?:[^"\\]|\\.)*")', annotation)
    ]


def test_the_promql_reader_finds_metrics_and_labels() -> None:
    expr = (
        'sum by (env) (rate(foo_total{env=~"a|b", job!="x"}[5m] offset 1h)) > 2e3 * bar'
        ' unless on (env, zone) prodval_checks{outcome="failed|missing"}'
    )
    assert metric_names(expr) == {"foo_total", "bar", "prodval_checks"}
    assert sorted(contract_problems(expr)) == [
        "grouping label zone",
        "label env of foo_total",
        "metric bar",
        "metric foo_total",
        "outcome values ['missing']",
    ]


# Rules.


def test_the_rules_reference_only_the_contract_metrics() -> None:
    problems = {}
    for rule in _rules():
        exprs = [rule["expr"]]
        for annotation in rule.get("annotations", {}).values():
            exprs += _template_queries(annotation)
        found = [problem for expr in exprs for problem in contract_problems(expr)]
        if found:
            problems[rule.get("alert", rule.get("record"))] = found
    assert problems == {}
    every = set().union(*(metric_names(rule["expr"]) for rule in _rules()))
    assert every == set(CONTRACT) - {"prodval_run_duration_seconds", "prodval_runs_total"}


def test_the_issues_alerts_are_there() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in _alerts()}
    assert 'prodval_checks{outcome=~"failed|error"}' in exprs["ProdvalChecksFailing"]
    assert exprs["ProdvalSLOCheckFailing"] == 'prodval_check_passed{slo="true"} == 0'
    assert exprs["ProdvalRunsNotCompleting"] == "prodval_run_completed == 0"
    assert exprs["ProdvalNoRecentRun"] == (
        "time() - prodval_run_timestamp_seconds > 3 * prodval_run_interval_seconds"
    )
    assert exprs["ProdvalRunMetricsAbsent"] == "absent(prodval_run_timestamp_seconds)"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_severity_annotations_and_a_runbook_in_the_operations_page() -> None:
    anchors = _anchors(OPERATIONS.read_text())
    bases = set()
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert "$labels.env" in annotations["summary"] or "absent" in alert["expr"], name
        base, _, anchor = annotations["runbook_url"].partition("#")
        assert base.endswith("/docs/operations.md"), name
        assert anchor == name.lower() and anchor in anchors, name
        bases.add(base)
    assert len(bases) == 1  # one prefix to replace with where the docs are served
    per_check = [alert for alert in _alerts() if "prodval_check_passed" in alert["expr"]]
    assert all("$labels.check" in alert["annotations"]["description"] for alert in per_check)


def test_every_alert_has_promtool_tests_that_see_it_fire_and_stay_quiet() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    cases = [case for group in tests["tests"] for case in group["alert_rule_test"]]
    for alert in _alerts():
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case["exp_alerts"] for case in mine), alert["alert"]
        assert any(not case["exp_alerts"] for case in mine), alert["alert"]


def test_promtool_checks_the_rules() -> None:
    promtool = _tool("promtool")
    result = _run(promtool, "check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    promtool = _tool("promtool")
    result = _run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("alert", [a["alert"] for a in _alerts() if "for" in a])
def test_the_unit_tests_fail_when_an_alert_loses_its_for(alert: str, tmp_path: Path) -> None:
    """The `for:` durations are exercised: without one, an alert fires before its tests say."""
    promtool = _tool("promtool")
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                del rule["for"]
    (tmp_path / RULES.name).write_text(yaml.safe_dump(document))
    shutil.copy(RULE_TESTS, tmp_path)
    result = _run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert f"alertname: {alert}," in result.stdout + result.stderr


def test_promtool_checks_the_prometheus_example() -> None:
    promtool = _tool("promtool")
    result = _run(promtool, "check", "config", PROMETHEUS_CONFIG.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [RULES.name]


# Alertmanager.


def _alertmanager() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    return config


# Alertmanager's secret options: each has a *_file twin, the only one this config may use.
SECRETS = {
    "slack_api_url",
    "api_url",
    "smtp_auth_password",
    "auth_password",
    "smtp_auth_secret",
    "auth_secret",
    "routing_key",
    "service_key",
    "password",
    "credentials",
    "bearer_token",
}


def _keys(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_the_alertmanager_config_reads_every_secret_from_a_file() -> None:
    keys = dict(_keys(_alertmanager()))
    assert not SECRETS & set(keys)
    files = {key for key in keys if key.endswith("_file")}
    assert {"slack_api_url_file", "smtp_auth_password_file", "routing_key_file"} <= files
    assert all(str(keys[key]).startswith("/etc/alertmanager/secrets/") for key in files)


def test_pages_go_to_pagerduty_and_slack_and_tickets_to_email_and_slack() -> None:
    config = _alertmanager()
    receivers = {r["name"]: set(r) - {"name"} for r in config["receivers"]}
    assert receivers["prodval-page"] == {"pagerduty_configs", "slack_configs"}
    assert receivers["prodval-ticket"] == {"email_configs", "slack_configs"}
    [prodval] = config["route"]["routes"]
    routes = {tuple(route["matchers"]): route["receiver"] for route in prodval["routes"]}
    assert routes == {
        ('severity="page"',): "prodval-page",
        ('severity="ticket"',): "prodval-ticket",
    }
    assert {alert["labels"]["severity"] for alert in _alerts()} == SEVERITIES


def test_amtool_checks_the_alertmanager_config() -> None:
    amtool = _tool("amtool")
    result = _run(amtool, "check-config", ALERTMANAGER_CONFIG.name, cwd=ALERTMANAGER_CONFIG.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=ProdvalSLOCheckFailing", "severity=page", "env=production"), "prodval-page"),
        (("alertname=ProdvalRunsNotCompleting", "severity=page", "env=x"), "prodval-page"),
        (("alertname=ProdvalChecksFailing", "severity=ticket", "env=x"), "prodval-ticket"),
        (("alertname=ProdvalRunMetricsAbsent", "severity=ticket"), "prodval-ticket"),
        (("alertname=ProdvalNew", "severity=unknown"), "prodval-ticket"),
        (("alertname=NodeDown", "severity=page"), "default"),
    ],
)
def test_amtool_routes_each_severity_to_its_receiver(
    labels: tuple[str, ...], receiver: str
) -> None:
    amtool = _tool("amtool")
    config = f"--config.file={ALERTMANAGER_CONFIG.name}"
    result = _run(
        amtool, "config", "routes", "test", config, *labels, cwd=ALERTMANAGER_CONFIG.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_amtool_renders_the_notification_templates() -> None:
    amtool = _tool("amtool")
    text = '{{ template "prodval.title" . }}|{{ template "prodval.text" . }}'
    result = _run(
        amtool,
        "template",
        "render",
        f"--template.glob={ALERTMANAGER_TEMPLATE.name}",
        f"--template.text={text}",
        cwd=ALERTMANAGER_TEMPLATE.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Runbook: " in result.stdout


# Grafana.


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _dashboard_exprs() -> dict[str, str]:
    return {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
    }


def test_the_dashboard_references_only_the_contract_metrics() -> None:
    exprs = _dashboard_exprs()
    problems = {key: list(contract_problems(expr)) for key, expr in exprs.items()}
    assert {key: found for key, found in problems.items() if found} == {}
    every = set().union(*(metric_names(expr) for expr in exprs.values()))
    assert every == set(CONTRACT)
    [variable] = [v for v in _dashboard()["templating"]["list"] if v["name"] == "env"]
    values = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
    assert values is not None
    assert values.group(2) in CONTRACT[values.group(1)]


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = _dashboard()
    panels = {panel["title"]: panel for panel in dashboard["panels"]}
    assert {
        "Runs per hour by result",
        "Checks per outcome",
        "Failing checks",
        "Last run age",
        "Run duration",
    } <= set(panels)
    assert panels["Failing checks"]["type"] == "table"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all('env=~"$env"' in target["expr"] for target in panel["targets"]), panel["title"]


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """As recording rules (promtool has no offline query parser), Grafana's $env filled in."""
    promtool = _tool("promtool")
    rules = [
        {"record": f"dashboard:query_{n}", "expr": expr.replace("$env", ".*")}
        for n, expr in enumerate(_dashboard_exprs().values())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _run(promtool, "check", "rules", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("page", [DEPLOY / "README.md", OPERATIONS], ids=lambda p: p.name)
def test_the_pages_relative_links_resolve(page: Path) -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    relative = [link for link in links if "://" not in link]
    assert relative
    assert [link for link in relative if not (page.parent / link).exists()] == []


def test_prodval_watch_serves_exactly_the_contract() -> None:
    """The metrics the rules and the dashboard read are those prodval-watch writes."""
    if importlib.util.find_spec("pytest_prodval.watch") is None:
        pytest.skip("pytest_prodval.watch is not in this tree yet (issue 17 item 2)")
    metrics = importlib.import_module("pytest_prodval.watch.metrics")
    results = importlib.import_module("pytest_prodval.watch.results")
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    watch = metrics.WatchMetrics("production", 300.0)
    checks = (
        results.CheckState("suites/a.py::test_a", "security", "failed", False),
        results.CheckState("suites/b.py::test_b", "performance", "passed", True),
    )
    watch.record(results.RunResult("failed", True, "checks failed", 1000.0, 42.0, checks))
    served: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(watch.registry).decode()):
        for sample in family.samples:
            served.setdefault(sample.name, set()).update(sample.labels)
    assert served == CONTRACT
