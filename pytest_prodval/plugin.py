"""pytest entry point: options, markers, configuration and the public fixtures.

Nothing happens unless a target environment is chosen (``--target-env`` or the
``prodval_target_env`` ini key): installing the plugin leaves other projects alone.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import hookspecs
from .load.fixture import prodval_load  # noqa: F401  (a fixture: found in this namespace)
from .options import RunOptions, add_options
from .report import plugins as reports
from .safety.guards import MARKERS  # the plugin's own; a project declares its suites

# The rest is imported only when a target environment is chosen, so that having the
# plugin installed costs other projects nothing at start-up.
if TYPE_CHECKING:
    import httpx

    from .baseline.assertions import Baseline
    from .config import TargetEnv
    from .session import ProdvalSession

__all__ = ["api", "api_as", "baseline", "target"]

# async_api and db need the db extra: without pytest-asyncio, extras.py's stand-ins say so in
# one line. pytest-asyncio is found, not imported, and extras.py is left for pytest to import
# (after it marks the module for assertion rewriting).
pytest_plugins = [
    "pytest_prodval.async_fixtures"
    if importlib.util.find_spec("pytest_asyncio") is not None
    else "pytest_prodval.extras"
]

NO_TARGET = (
    "no target environment chosen: pass --target-env NAME "
    "(or set prodval_target_env in the ini file)"
)

_SESSION = pytest.StashKey["ProdvalSession"]()


# --- options and configuration ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    reports.add_report_options(parser)


def pytest_cmdline_main(config: pytest.Config) -> None:
    reports.keep_workers_from_cleaning(config)  # --clean-alluredir: the controller cleans alone


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.addinivalue_line("markers", reports.SEVERITY_MARKER_HELP)
    options = RunOptions.from_config(config)
    if options.target_env is None:
        if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
            config.pluginmanager.register(NoTargetOnWorkers(), "prodval-no-target")
        return
    from .config import load_config
    from .errors import ConfigError
    from .session import ProdvalSession

    try:
        loaded = load_config(options.shown(options.config_path))
        env = loaded.environment(options.target_env)
        control = None if options.control_env is None else loaded.environment(options.control_env)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = ProdvalSession(config, options, env, control)
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

    def pytest_configure_node(self, node: Any) -> None:
        from .session import API_UNREACHABLE_KEY

        # After the controller's session start, where the API was probed once for everyone.
        node.workerinput[API_UNREACHABLE_KEY] = self.session.api_unreachable

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        from .session import USAGE_ERROR_KEY, WORKER_OUTPUT_KEY

        output = getattr(node, "workeroutput", {})
        payload = output.get(WORKER_OUTPUT_KEY)
        if payload is not None:
            self.session.merge_worker(payload, output.get(USAGE_ERROR_KEY))


# The fixtures that need a target environment: a selected check using one, without a target
# chosen, makes the whole run a usage error before anything runs.
_TARGET_FIXTURES = frozenset(
    {
        "target",
        "control_target",
        "api",
        "api_anonymous",
        "api_as",
        "control_api_as",
        "async_api",
        "db",
        "baseline",
        "prodval_load",
    }
)


_NO_TARGET_KEY = "prodval_no_target"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _SESSION in config.stash or config.option.collectonly:
        return
    using = [item for item in items if _uses_target_fixtures(item)]
    if not using:
        return
    checks = "check uses" if len(using) == 1 else "checks use"
    message = (
        f"{NO_TARGET}; {len(using)} selected {checks} its fixtures ({using[0].nodeid}"
        + (", ..." if len(using) > 1 else "")
        + ")"
    )
    if not hasattr(config, "workerinput"):
        raise pytest.UsageError(message)
    # A worker that raised would crash xdist's controller: it runs nothing, and the
    # controller (NoTargetOnWorkers) ends the run with the usage error.
    config.hook.pytest_deselected(items=list(items))
    items.clear()
    config.workeroutput[_NO_TARGET_KEY] = message  # type: ignore[attr-defined]


def _uses_target_fixtures(item: pytest.Item) -> bool:
    """Whether ``item`` uses one of this plugin's target fixtures (not a project's own
    fixture of the same name, which overrides ours)."""
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {})
    for name in _TARGET_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        chosen = defs.get(name)
        if chosen and getattr(chosen[-1].func, "__module__", "").startswith("pytest_prodval"):
            return True
    return False


class NoTargetOnWorkers:
    """xdist's controller without a target environment: ends with a worker's usage error."""

    def __init__(self) -> None:
        self.message: str | None = None

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.message = self.message or getattr(node, "workeroutput", {}).get(_NO_TARGET_KEY)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.message is not None:
            sys.stderr.write(f"ERROR: {self.message}\n")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


def active_session(config: pytest.Config) -> ProdvalSession:
    """The run's session; a usage error when no target environment was chosen."""
    try:
        return config.stash[_SESSION]
    except KeyError:
        raise pytest.UsageError(NO_TARGET) from None


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> TargetEnv:
    """The environment under validation, as resolved from prodval.yaml."""
    return active_session(pytestconfig).env


@pytest.fixture(scope="session")
def control_target(pytestconfig: pytest.Config) -> TargetEnv | None:
    """The control deployment of the known-good release (``--control-env``), or None."""
    return active_session(pytestconfig).control


@pytest.fixture(scope="session")
def control_api_as(
    control_target: TargetEnv | None,
) -> Iterator[Callable[[str], httpx.Client]]:
    """Factory: ``control_api_as("operator")`` is a client of the control deployment's API.

    Only with ``--control-env``; without one, asking for a client fails the check."""
    if control_target is None:

        def no_control(role: str) -> httpx.Client:
            pytest.fail("no control deployment: pass --control-env NAME (ini prodval_control_env)")

        yield no_control
        return
    yield from _clients_by_role(control_target)


@pytest.fixture(scope="session")
def api(target: TargetEnv) -> Iterator[httpx.Client]:
    """httpx client for the target's API, authenticated as the default role."""
    from .target import sync_client

    with sync_client(target) as client:
        yield client


@pytest.fixture(scope="session")
def api_anonymous(target: TargetEnv) -> Iterator[httpx.Client]:
    """httpx client for the target's API that sends no credentials (nor configured headers
    that authenticate): what an anonymous caller sees."""
    from .target import sync_client

    with sync_client(target, anonymous=True) as client:
        yield client


@pytest.fixture(scope="session")
def api_as(target: TargetEnv) -> Iterator[Callable[[str], httpx.Client]]:
    """Factory: ``api_as("viewer")`` is a client authenticated as that role."""
    yield from _clients_by_role(target)


def _clients_by_role(env: TargetEnv) -> Iterator[Callable[[str], httpx.Client]]:
    """One client per role of ``env``, made on first use, closed when the fixture ends."""
    from .target import sync_client

    clients: dict[str, httpx.Client] = {}

    def for_role(role: str) -> httpx.Client:
        if role not in clients:
            clients[role] = sync_client(env, role)
        return clients[role]

    yield for_role
    for client in clients.values():
        client.close()


@pytest.fixture
def baseline(request: pytest.FixtureRequest) -> Baseline:
    """Baseline-diff assertions bound to the requesting test."""
    return active_session(request.config).baseline_for(request.node)
