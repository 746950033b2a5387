"""Secret values never reach the terminal, JUnit, the summary, the baseline or a gate record.

Every field prodval.yaml treats as secret (``_collect_secrets`` in
pytest_prodval/config/environment.py) holds its own value, from an environment variable or
written literally, in runs that pass and fail.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote

import pytest

from pytest_prodval.baseline.store import BaselineFile, write_merged

from .gate_harness import FakeTarget, Project, gate_args, run_gate

# One value per secret field (config/environment.py's _collect_secrets). PRODVAL_TEST_* are
# environment variables CONFIG reads with ${...}; LITERAL_* are written into the file as they
# are here.
SECRETS = {
    # credentials, from variables
    "PRODVAL_TEST_API_KEY": "k3y-Viewer-0001",  # viewer.api_key
    "PRODVAL_TEST_TOKEN": "t0ken-Admin-0002",  # admin.bearer_token
    "PRODVAL_TEST_PASSWORD": "pw-Operator-0003",  # operator.password
    # credentials, literal
    "LITERAL_API_KEY": "lit-K3y-Reader-0004",  # reader.api_key
    "LITERAL_TOKEN": "lit-T0ken-Auditor-0005",  # auditor.bearer_token
    "LITERAL_PASSWORD": "lit-Pw-Support-0006",  # support.password
    # URL passwords: api.base_url's from a variable, database.dsn's literal and percent-encoded
    # (scan() also looks for it decoded)
    "PRODVAL_TEST_URL_PASSWORD": "pw-Url-0007",
    "LITERAL_DSN_PASSWORD": "lit%40Pw-Database-0008",
    # any value from a variable, in fields that are not secret themselves
    "PRODVAL_TEST_URL_PATH": "h0st-Secret-0009",  # api.base_url's path
    "PRODVAL_TEST_HEADER": "hdr-Tenant-0010",  # api.headers
    "PRODVAL_TEST_TENANT": "param-Tenant-0011",  # params under a plain key
    # params under a secret-sounding key, literal
    "LITERAL_PARAM_SECRET": "lit-Signing-0012",  # params.signing_secret
}

UNREACHABLE_API = "127.0.0.1:9"

CONFIG = """
environments:
  local:
    api:
      base_url: http://prodval:${PRODVAL_TEST_URL_PASSWORD}@API_HOST/${PRODVAL_TEST_URL_PATH}
      timeout: 0.5
      headers:
        X-Tenant-Token: ${PRODVAL_TEST_HEADER}
    database:
      dsn: postgresql://app:LITERAL_DSN_PASSWORD@127.0.0.1:9/app
    credentials:
      viewer:
        api_key: ${PRODVAL_TEST_API_KEY}
      admin:
        bearer_token: ${PRODVAL_TEST_TOKEN}
      operator:
        username: operator
        password: ${PRODVAL_TEST_PASSWORD}
      reader:
        api_key: LITERAL_API_KEY
      auditor:
        bearer_token: LITERAL_TOKEN
      support:
        username: support
        password: LITERAL_PASSWORD
    params:
      tenant: ${PRODVAL_TEST_TENANT}
      signing_secret: LITERAL_PARAM_SECRET
"""


def secret_config(
    monkeypatch: pytest.MonkeyPatch, secrets: Mapping[str, str], api: str = UNREACHABLE_API
) -> str:
    """CONFIG holding ``secrets``: the literal ones written in, the others set as variables."""
    for name, value in secrets.items():
        if not name.startswith("LITERAL_"):
            monkeypatch.setenv(name, value)
    text = CONFIG.replace("API_HOST", api)
    return re.sub(r"\bLITERAL_[A-Z_]+\b", lambda match: secrets[match[0]], text)


# Check code: the value of every secret field, read from the target the way a check would.
EVERY_SECRET = """
from urllib.parse import unquote, urlsplit


def every_secret(target):
    credentials = target.credentials.values()
    return [
        *(c.api_key or c.bearer_token or c.password for c in credentials),
        target.api.base_url,
        *target.api.headers.values(),
        target.database.dsn,
        unquote(urlsplit(target.database.dsn).password),
        *target.params.values(),
    ]
"""

CHECKS = (
    EVERY_SECRET
    + """
import logging


def test_prints_logs_and_compares_every_secret(baseline, target):
    secrets = every_secret(target)
    print("secrets:", secrets)
    logging.getLogger("check").warning("secrets: %s", secrets)
    baseline.exact("echo", {"secrets": secrets, "n": 1})


def test_fails_with_every_secret_in_its_message(target):
    secrets = every_secret(target)
    print("captured:", secrets)
    assert secrets == [], f"leaked {secrets}"


def test_fails_in_a_baseline_comparison(baseline, target):
    baseline.exact("token", target.credentials["admin"].bearer_token + "-changed")


def test_calls_the_api(api):
    api.get("/health").raise_for_status()
"""
)


def scan(root: Path, output: str, secrets: Iterable[str]) -> list[str]:
    """Where any of ``secrets``, as written or percent-decoded, appears: in ``output`` or in a
    file under ``root`` other than prodval.yaml (the one file meant to hold them)."""
    forms = sorted({form for secret in secrets for form in (secret, unquote(secret))})
    found = [f"output: {s}" for s in forms if s in output]
    for path in root.rglob("*"):
        if path.is_file() and path != root / "prodval.yaml":
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {s}" for s in forms if s.encode() in data]
    return found


def run_with_every_output(
    pytester: pytest.Pytester, outputs: list[str], name: str, *args: str
) -> pytest.RunResult:
    """pytest with every output a secret could leak through: ``-rA -vv --showlocals``, JUnit
    (with captured logs) in ``reports/<name>.xml``, the summary; the terminal goes to
    ``outputs``."""
    result = pytester.runpytest(
        "--target-env=local",
        f"--junitxml=reports/{name}.xml",
        f"--prodval-summary=reports/{name}-summary.json",
        "-o",
        "junit_logging=all",
        "-rA",
        "-vv",
        "--showlocals",
        *args,
    )
    outputs.append(result.stdout.str() + result.stderr.str())
    return result


@pytest.mark.parametrize("mode", ["record", "compare"])
def test_no_secret_reaches_any_output_of_passing_and_failing_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pytester.makefile(".yaml", prodval=secret_config(monkeypatch, SECRETS))
    pytester.makepyfile(test_leaky=CHECKS)
    outputs: list[str] = []

    def run(name: str, *args: str) -> pytest.RunResult:
        return run_with_every_output(pytester, outputs, name, *args)

    # Runs that pass: one records a value holding every secret, one (compare) matches it.
    passing = ("-k", "compares_every_secret")
    run("pass-record", "--record-baseline", *passing).assert_outcomes(passed=1)
    if mode == "compare":
        run("pass-compare", *passing).assert_outcomes(passed=1)
    failing = run("fail", *(["--record-baseline"] if mode == "record" else []))
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    recorded = (pytester.path / "baselines" / "local.json").read_text()
    assert all("***" in output for output in outputs) and "***" in recorded
    assert scan(pytester.path, "".join(outputs), SECRETS.values()) == []


def test_no_secret_reaches_the_gate_record_its_output_or_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The leaky checks fail, so the gate rolls back, verifies and notifies: every path it has.
    with FakeTarget() as target:
        project = Project(tmp_path / "project", target.url)
        # An entry of another check: a baseline without entries is refused before any check.
        baseline = project.path / "baselines" / "fake.json"
        other = {"kind": "exact", "value": 1, "test": "test_other.py::test_x"}
        provenance = BaselineFile.load(baseline).provenance
        assert provenance is not None
        write_merged(baseline, {"test_other.py::test_x::x": other}, provenance)
        api = target.url.removeprefix("http://")
        (project.path / "prodval.yaml").write_text(secret_config(monkeypatch, SECRETS, api))
        (project.path / "test_leaky.py").write_text(CHECKS)
        # The rollback command and its output name every secret too.
        said = shlex.quote(" ".join(SECRETS.values()))
        hook = f"{target.url}/hooks/secrets-gate"
        result = run_gate(
            project.path,
            gate_args(
                project,
                "--notify",
                hook,
                "--",
                "-rA",
                "--showlocals",
                env="local",
                rollback=project.rollback_command(f"echo {said}"),
            ),
        )
        posts = [body for path, body in target.posts if path == "/hooks/secrets-gate"]
    assert result.returncode == 1, result.stderr
    record = project.record()
    assert record["decision"] == "rolled_back" and record["verification"]["passed"]
    [failed] = [
        check
        for check in record["suites"]["failed_checks"]
        if check["check"].endswith("test_fails_with_every_secret_in_its_message")
    ]
    assert "***" in failed["message"]
    assert "***" in record["rollback"]["command"] and "***" in record["rollback"]["output_tail"]
    assert len(posts) == 1 and record["notification"]["sent"]
    output = result.stdout + result.stderr + json.dumps(posts)
    assert scan(project.path, output, SECRETS.values()) == []


# -- secrets printed escaped ------------------------------------------------------------------

# A backslash, a tab and both quote kinds: repr() (--showlocals, assertion rewriting), JSON and
# XML print it escaped, not as written; the second one adds a newline and a non-ASCII letter.
ESCAPED_SECRETS = ("a\\b\t\"c'd", "n\u00e9w\nline-s3cret")


def printed_forms(secret: str) -> set[str]:
    """``secret`` as written and as repr(), JSON, XML/HTML and URL quoting print it."""
    import html
    from urllib.parse import quote, quote_plus
    from xml.sax.saxutils import escape

    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.replace('"', ""))[1:-1].replace("'", "\\'"),
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        escape(secret, {'"': "&quot;", "'": "&apos;"}),
        escape(secret, {'"': "&quot;", "\n": "&#10;", "\t": "&#09;"}),
        html.escape(secret),
        quote(secret, safe=""),
        quote_plus(secret),
    }
    forms.add(escape(repr(secret)[1:-1], {'"': "&quot;", "\n": "&#10;"}))  # repr() in JUnit
    return forms


ESCAPED_CHECKS = """
import json


def test_prints_the_secret_and_has_it_in_its_locals(target):
    secret = target.params["signing_secret"]
    other = target.params["api_token"]
    as_json = json.dumps({"secret": secret, "other": other})
    print("secret:", repr(secret), secret, as_json, repr(other))
    assert secret == "something else", f"got {secret!r} and {other!r}"


def test_compares_it(baseline, target):
    baseline.exact("signed", {"secret": target.params["signing_secret"] + "-x"})
"""


def yaml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def test_no_escaped_form_of_a_secret_reaches_the_terminal_junit_or_the_summary(
    pytester: pytest.Pytester,
) -> None:
    # Before: `a\\b\t"c'd` was hidden as written, but --showlocals, the assertion message and
    # JUnit printed it as `a\\\\b\\t"c\\'d` (repr) or with &quot; / &#09; (XML).
    secret, other = ESCAPED_SECRETS
    pytester.makefile(
        ".yaml",
        prodval=(
            "environments:\n  local:\n    api:\n      base_url: http://127.0.0.1:9\n"
            f"    params:\n      signing_secret: {yaml_string(secret)}\n"
            f"      api_token: {yaml_string(other)}\n"
        ),
    )
    pytester.makepyfile(test_escaped=ESCAPED_CHECKS)
    outputs: list[str] = []

    def run(*args: str) -> pytest.RunResult:
        return run_with_every_output(pytester, outputs, "escaped", *args)

    run("--record-baseline", "-k", "compares").assert_outcomes(passed=1)
    run().assert_outcomes(passed=1, failed=1)
    junit = (pytester.path / "reports/escaped.xml").read_text(encoding="utf-8")
    summary = (pytester.path / "reports/escaped-summary.json").read_text(encoding="utf-8")
    baseline = (pytester.path / "baselines/local.json").read_text(encoding="utf-8")
    output = "".join(outputs)
    assert "***" in output and "***" in junit and "***" in summary
    texts = {"output": output, "junit": junit, "summary": summary, "baseline": baseline}
    for name, text in texts.items():
        for value in ESCAPED_SECRETS:
            leaked = sorted(form for form in printed_forms(value) if form in text)
            assert leaked == [], f"{name}: {leaked}"


def config_error(tmp_path: Path, api_block: str, environ: Mapping[str, str]) -> str:
    from pytest_prodval.config import ConfigError, load_config

    path = tmp_path / "prodval.yaml"
    path.write_text(
        "environments:\n  local:\n    api:\n      base_url: http://127.0.0.1:9\n" + api_block,
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ).environment("local")
    return str(raised.value)


@pytest.mark.parametrize(
    ("api_block", "secret", "where"),
    [
        # A variable's value (a secret) in a field that rejects it: repr() escapes it.
        ("      timeout: ${T}\n", ESCAPED_SECRETS[0], "api.timeout: expected a number"),
        # Long enough to be cut at 80 characters: redacted before it is shortened.
        ("      timeout: ${T}\n", "tok-" + "x" * 60 + '\\"' + "y" * 30, "api.timeout: expected"),
        # Written literally under a secret-sounding header name: no redactor knows it.
        (
            "      headers:\n        Authorization: [lit-Bearer-s3cret]\n",
            "lit-Bearer-s3cret",
            "api.headers.Authorization: expected a string, got a value of type list (not shown)",
        ),
    ],
)
def test_config_errors_never_echo_a_secret_in_any_form(
    tmp_path: Path, api_block: str, secret: str, where: str
) -> None:
    message = config_error(tmp_path, api_block, {"T": secret})

    assert where in message and "\n" not in message
    leaked = [form for form in printed_forms(secret) | {secret[:20]} if form in message]
    assert leaked == [], message


@pytest.mark.parametrize(
    ("api_block", "environ", "where"),
    [
        (
            '      headers:\n        X-Tenant: "t1\\r\\nX-Evil: yes"\n',
            {},
            "api.headers: value of header 'X-Tenant': expected printable ASCII",
        ),
        (
            "      headers:\n        X-Tenant: ${H}\n",
            {"H": "t1\nX-Evil: s3cr3t-h"},
            "api.headers: value of header 'X-Tenant': expected printable ASCII",
        ),
        (
            '      headers:\n        X-Tenant: "caf\u00e9-s3cr3t"\n',
            {},
            "api.headers: value of header 'X-Tenant': expected printable ASCII",
        ),
        (
            '      headers:\n        "X Tenant": ok\n',
            {},
            "api.headers: header name 'X Tenant': expected letters, digits",
        ),
        (
            '    credentials:\n      viewer:\n        api_key: "k3y\\r\\nX-Evil: 1"\n',
            {},
            "credentials.viewer.api_key: sent as a header: expected printable ASCII",
        ),
        (
            "    credentials:\n      admin:\n        bearer_token: ${H}\n",
            {"H": "t0k\x00en-s3cr3t"},
            "credentials.admin.bearer_token: sent as a header: expected printable ASCII",
        ),
    ],
)
def test_header_values_httpx_would_refuse_are_config_errors_that_do_not_show_them(
    tmp_path: Path, api_block: str, environ: dict[str, str], where: str
) -> None:
    # Before: the file loaded, and the first request failed with httpx's
    # `Illegal header value b't1\r\nX-Evil: ...'`, value and all.
    message = config_error(tmp_path, api_block, environ)

    assert where in message and "\n" not in message, message
    assert "(value not shown)" in message or "header name" in where, message
    for shown in ("X-Evil", "s3cr3t", "caf"):
        assert shown not in message, message
