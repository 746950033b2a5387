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


@pytest.mark.parametrize("mode", ["record", "compare"])
def test_no_secret_reaches_any_output_of_passing_and_failing_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pytester.makefile(".yaml", prodval=secret_config(monkeypatch, SECRETS))
    pytester.makepyfile(test_leaky=CHECKS)
    outputs: list[str] = []

    def run(name: str, *args: str) -> pytest.RunResult:
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
