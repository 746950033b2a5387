"""pytest entry point: options, markers, configuration and the public fixtures.

Nothing happens unless a target environment is chosen (``--target-env`` or the
``prodval_target_env`` ini key): installing the plugin leaves other projects alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from . import newhooks
from .report import plugins as reports
from .settings import Settings, add_options

# The rest is imported only when a target environment is chosen, so that having the
# plugin installed costs other projects nothing at start-up.
if TYPE_CHECKING:
    import asyncpg
    import httpx

    from .baseline.assertions import Baseline
    from .config import TargetEnv
    from .session import ProdvalSession

__all__ = ["api", "api_as", "async_api", "baseline", "db", "target"]

MARKERS = {
    "infrastructure": "infrastructure suite: database, storage, network, resources",
    "application": "application suite: health, readiness, versions, API contracts",
    "pipeline": "pipeline suite: documents through the processing state machine",
    "security": "security suite: authentication, authorization, headers, TLS",
    "compliance": "compliance suite: audit, retention, GDPR/HIPAA rules",
    "performance": "performance suite: latency and throughput under load",
    "synthetic": "writes only synthetic data that the check removes itself; "
    "runs on protected environments",
    "destructive": "changes or harms the target; skipped on protected environments "
    "unless --allow-destructive",
}
NO_TARGET = (
    "no target environment chosen: pass --target-env NAME "
    "(or set prodval_target_env in the ini file)"
)
NO_DATABASE = "environment {env!r} has no database configured (prodval.yaml: {path})"

_SESSION = pytest.StashKey["ProdvalSession"]()


# --- options and configuration ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    reports.add_report_options(parser)


def pytest_cmdline_main(config: pytest.Config) -> None:
    reports.keep_workers_from_cleaning(config)  # --clean-alluredir: the controller cleans alone


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(newhooks)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.addinivalue_line("markers", reports.SEVERITY_MARKER_HELP)
    settings = Settings.from_config(config)
    if settings.target_env is None:
        return
    from .config import ConfigError, load_config
    from .session import ProdvalSession

    try:
        env = load_config(settings.shown(settings.config_path)).environment(settings.target_env)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = ProdvalSession(config, settings, env)
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "prodval-session")
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistHooks(session), "prodval-xdist")
    # Review reports (report/plugins.py): Allure with --alluredir, properties with --junitxml.
    reports.configure_reports(config, session)


class XdistHooks:
    """Controller side of xdist: collect each worker's observations as it goes down."""

    def __init__(self, session: ProdvalSession) -> None:
        self.session = session

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        from .session import WORKER_OUTPUT_KEY

        payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if payload is not None:
            self.session.merge_worker(payload)


def _session(config: pytest.Config) -> ProdvalSession:
    try:
        return config.stash[_SESSION]
    except KeyError:
        raise pytest.UsageError(NO_TARGET) from None


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> TargetEnv:
    """The environment under validation, as resolved from prodval.yaml."""
    return _session(pytestconfig).env


@pytest.fixture(scope="session")
def api(target: TargetEnv) -> Iterator[httpx.Client]:
    """httpx client for the target's API, authenticated as the default role."""
    from .target import sync_client

    with sync_client(target) as client:
        yield client


@pytest.fixture(scope="session")
def api_as(target: TargetEnv) -> Iterator[Callable[[str], httpx.Client]]:
    """Factory: ``api_as("viewer")`` is a client authenticated as that role."""
    from .target import sync_client

    clients: dict[str, httpx.Client] = {}

    def for_role(role: str) -> httpx.Client:
        if role not in clients:
            clients[role] = sync_client(target, role)
        return clients[role]

    yield for_role
    for client in clients.values():
        client.close()


@pytest_asyncio.fixture
async def async_api(target: TargetEnv) -> AsyncIterator[httpx.AsyncClient]:
    """Async httpx client for the target's API, authenticated as the default role."""
    from .target import async_client

    async with async_client(target) as client:
        yield client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(target: TargetEnv) -> AsyncIterator[asyncpg.Pool]:
    """asyncpg pool to the target's database; read-only transactions on protected targets."""
    if target.database is None:
        pytest.skip(
            NO_DATABASE.format(env=target.name, path=f"environments.{target.name}.database")
        )
    from .target import close_pool, create_pool

    pool = await create_pool(target)
    try:
        yield pool
    finally:
        await close_pool(pool, target)


@pytest.fixture
def baseline(request: pytest.FixtureRequest) -> Baseline:
    """Baseline-diff assertions bound to the requesting test."""
    return _session(request.config).baseline_for(request.node)
