"""The target, api and db fixtures against a real HTTP server and a real PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every GET with the request's headers, and /version with a release."""

    def do_GET(self) -> None:
        if self.path == "/version":
            body = {"release": "2026.11.3"}
        else:
            body = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def config_for(url: str, dsn: str | None = None, protected: bool = False) -> str:
    database = f"    database:\n      dsn: {dsn}\n" if dsn else ""
    return f"""
environments:
  local:
    protected: {str(protected).lower()}
    api:
      base_url: {url}
      timeout: 3
      version_path: /version
      version_field: release
      headers:
        User-Agent: prodval-test
    credentials:
      viewer:
        api_key: viewer-key-1234
      admin:
        bearer_token: admin-token-5678
    default_role: viewer
{database}"""


def test_api_clients_carry_base_url_auth_and_timeouts(
    pytester: pytest.Pytester, echo_url: str
) -> None:
    pytester.makefile(".yaml", prodval=config_for(echo_url))
    pytester.makepyfile(
        """
        def test_default_role(api):
            assert api.timeout.read == 3
            headers = api.get("/anything").json()["headers"]
            assert headers["x-api-key"] == "viewer-key-1234"
            assert headers["user-agent"] == "prodval-test"

        def test_other_role(api_as):
            headers = api_as("admin").get("/x").json()["headers"]
            assert headers["authorization"] == "Bearer admin-token-5678"
            assert "x-api-key" not in headers

        def test_unknown_role(api_as):
            import pytest
            with pytest.raises(LookupError, match="no credentials for role 'ghost'"):
                api_as("ghost")
        """
    )
    pytester.runpytest("--target-env=local").assert_outcomes(passed=3)


def test_the_async_client_works_under_pytest_asyncio(
    pytester: pytest.Pytester, echo_url: str
) -> None:
    pytester.makefile(".yaml", prodval=config_for(echo_url))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_async(async_api):
            response = await async_api.get("/a")
            assert response.json()["headers"]["x-api-key"] == "viewer-key-1234"
        """
    )
    pytester.runpytest("--target-env=local").assert_outcomes(passed=1)


def test_the_targets_version_is_shown_and_recorded_as_provenance(
    pytester: pytest.Pytester, echo_url: str
) -> None:
    pytester.makefile(".yaml", prodval=config_for(echo_url))
    pytester.makepyfile("def test_it(baseline):\n    baseline.exact('x', 1)\n")
    result = pytester.runpytest("--target-env=local", "--record-baseline")
    result.stdout.fnmatch_lines(["prodval: target version 2026.11.3"])
    data = json.loads((pytester.path / "baselines/local.json").read_text())
    assert data["provenance"]["target_version"] == "2026.11.3"


def test_db_without_a_database_configured_skips_with_the_key_to_set(
    pytester: pytest.Pytester, echo_url: str
) -> None:
    pytester.makefile(".yaml", prodval=config_for(echo_url))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="session")
        async def test_db(db):
            pass
        """
    )
    result = pytester.runpytest("--target-env=local", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*environment 'local' has no database configured "
            "(prodval.yaml: environments.local.database)*"
        ]
    )


DB_CHECKS = """
import asyncpg
import pytest

@pytest.mark.asyncio(loop_scope="session")
async def test_read(db):
    assert await db.fetchval("select 41 + 1") == 42

@pytest.mark.asyncio(loop_scope="session")
async def test_write(db):
    async with db.acquire() as connection:
        try:
            await connection.execute("create temporary table prodval_probe (x int)")
        except asyncpg.exceptions.ReadOnlySQLTransactionError:
            pytest.fail("read-only")
"""


@pytest.mark.parametrize(("protected", "outcome"), [(False, "passed"), (True, "failed")])
def test_db_pool_is_read_only_on_protected_environments(
    pytester: pytest.Pytester, echo_url: str, postgres_dsn: str, protected: bool, outcome: str
) -> None:
    pytester.makefile(".yaml", prodval=config_for(echo_url, postgres_dsn, protected))
    pytester.makepyfile(DB_CHECKS)
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider")
    result.assert_outcomes(
        passed=2 if outcome == "passed" else 1, failed=0 if protected is False else 1
    )
    if protected:
        result.stdout.fnmatch_lines(["*Failed: read-only*"])


# --- session fixtures run on the run's clock, not the first check's --------------------------

SLOW_SESSION_FIXTURE = """
import signal
import threading

import pytest


@pytest.fixture(scope="session", autouse=True)
def slow_session_setup(target):
    threading.Event().wait({seconds})  # a slow target behind a session fixture


def test_first(target):
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert left > 2, f"the first check had {{left:.1f}} s of its 3 s budget left"


def test_second(target):
    pass
"""


def budget_config(pytester: pytest.Pytester, check_s: float, run_s: float) -> None:
    pytester.makefile(
        ".yaml",
        prodval="environments:\n  local:\n    api: {base_url: 'http://127.0.0.1:9'}\n"
        f"    timeouts: {{check_s: {check_s}, run_s: {run_s}}}\n",
    )


def test_a_session_fixtures_setup_is_not_counted_against_the_first_check(
    pytester: pytest.Pytester,
) -> None:
    # Before: a session fixture set up in the first check's setup used that check's budget.
    budget_config(pytester, check_s=3, run_s=60)
    pytester.makepyfile(test_checks=SLOW_SESSION_FIXTURE.format(seconds=2))
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_session_fixture_is_bounded_by_what_is_left_of_the_run(
    pytester: pytest.Pytester,
) -> None:
    budget_config(pytester, check_s=3, run_s=2)
    pytester.makepyfile(test_checks=SLOW_SESSION_FIXTURE.format(seconds=60))
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*the check did not finish within its time budget (* s, what was left of the run's "
            "2 s (timeouts.run_s) while the session fixture 'slow_session_setup' was set up)*",
            "*not run: the run's time budget of 2 s (timeouts.run_s in prodval.yaml)*",
        ]
    )
    assert result.duration < 30


def test_the_anonymous_client_sends_no_credentials_nor_authenticating_headers(
    pytester: pytest.Pytester, echo_url: str
) -> None:
    config = config_for(echo_url).replace(
        "        User-Agent: prodval-test\n",
        "        User-Agent: prodval-test\n        Cookie: session=s3cr3t-cookie\n",
    )
    pytester.makefile(".yaml", prodval=config)
    pytester.makepyfile(
        """
        def test_anonymous(api_anonymous):
            headers = api_anonymous.get("/x").json()["headers"]
            assert headers["user-agent"] == "prodval-test"
            assert not {"x-api-key", "authorization", "cookie"} & set(headers)
        """
    )
    pytester.runpytest("--target-env=local").assert_outcomes(passed=1)


FUNCTION_LOOP_DB_CHECKS = """
import pytest

@pytest.mark.asyncio
async def test_marked(db):
    assert await db.fetchval("select 1") == 1

async def test_by_default(db):
    assert await db.fetchval("select 1") == 1

@pytest.mark.asyncio(loop_scope="session")
async def test_on_the_session_loop(db):
    assert await db.fetchval("select 1") == 1
"""


def test_db_in_a_check_on_another_event_loop_says_how_to_mark_it(
    pytester: pytest.Pytester, echo_url: str, postgres_dsn: str
) -> None:
    # Before: "target unreachable: another operation is in progress" (asyncpg used from a
    # loop other than the pool's), filed by Allure as infrastructure.
    pytester.makefile(".yaml", prodval=config_for(echo_url, postgres_dsn, False))
    pytester.makepyfile(FUNCTION_LOOP_DB_CHECKS)
    result = pytester.runpytest(
        "--target-env=local", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto"
    )
    result.assert_outcomes(passed=1, errors=2)
    said = (
        "the db fixture's pool lives on the session's event loop and this check runs on a "
        'function-scoped one: mark it @pytest.mark.asyncio(loop_scope="session") (or set '
        "asyncio_default_test_loop_scope = session in the ini file)"
    )
    assert result.outlines.count(said) == 2, result.stdout.str()
    assert "another operation is in progress" not in result.stdout.str()
