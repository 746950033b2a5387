"""Security suite fixtures: an anonymous client, the JWT factory for the target's secret, and
synthetic documents of another tenant.

The session's sweep (suites/conftest.py) erases synthetic leftovers as the operator, in the
operator's tenant only. Checks that upload as ``other_tenant_admin`` get their documents from
``other_tenant_synthetic``: erased at teardown by that tenant's admin, and, once per session
before the first of them, that tenant's own synthetic leftovers of killed runs are swept with
the same rules (``sweep_as``: age, budget, at most ``SWEEP_MAX_DOCUMENTS``). What that sweep
did is reported at the end of the terminal summary of a run without xdist (an xdist
controller does not load this conftest; the leftovers are erased all the same).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pytest_prodval import TargetEnv

from .._support import Sweep, sweep_as
from ..conftest import SyntheticDocuments
from ._support import ClientFor, TokenFactory

DEFAULT_ISSUER = "docpipe"
DEFAULT_TENANT = "acme"
OTHER_TENANT_ROLE = "other_tenant_admin"

# Documents of the other tenant created before this, minus the sweep age, are leftovers.
_LOADED_AT = dt.datetime.now(dt.timezone.utc)
_OTHER_SWEEPS = pytest.StashKey[list[Sweep]]()


@pytest.fixture(scope="session")
def anonymous(api_anonymous: httpx.Client) -> httpx.Client:
    """The plugin's client that sends no credentials at all."""
    return api_anonymous


@pytest.fixture(scope="session")
def tokens(params: dict[str, Any]) -> TokenFactory:
    """HS256 tokens for ``params.jwt_secret`` / ``jwt_audience`` (issuer, tenant overridable)."""
    secret = params.get("jwt_secret")
    if not secret:
        pytest.skip("params.jwt_secret is not set for this environment: cannot sign test JWTs")
    return TokenFactory(
        secret=str(secret),
        audience=str(params.get("jwt_audience", "docpipe")),
        issuer=str(params.get("jwt_issuer", DEFAULT_ISSUER)),
        tenant=str(params.get("jwt_tenant", DEFAULT_TENANT)),
    )


@pytest.fixture(scope="session")
def client_for(target: TargetEnv, api_as: Callable[[str], httpx.Client]) -> ClientFor:
    """``client_for(role)``: ``api_as(role)``, or a skip naming the role when it is not set up."""

    def get(role: str) -> httpx.Client:
        if role not in target.credentials:
            pytest.skip(f"no credentials for role {role!r} in environment {target.name!r}")
        return api_as(role)

    return get


@pytest.fixture(scope="session")
def other_tenant_swept(
    request: pytest.FixtureRequest, target: TargetEnv, client_for: ClientFor
) -> httpx.Client:
    """The other tenant's admin client, after sweeping that tenant's synthetic leftovers once.

    Skips when ``other_tenant_admin`` is not configured. Never fails: the checks judge the
    target, the sweep only tidies up.
    """
    client = client_for(OTHER_TENANT_ROLE)
    sweep = sweep_as(target, OTHER_TENANT_ROLE, lambda: client, _LOADED_AT)
    request.config.stash.setdefault(_OTHER_SWEEPS, []).append(sweep)
    return client


@pytest.fixture
def other_tenant_synthetic(other_tenant_swept: httpx.Client) -> Iterator[SyntheticDocuments]:
    """Synthetic documents uploaded as ``other_tenant_admin``, erased by it at teardown."""
    documents = SyntheticDocuments(uploader=other_tenant_swept, eraser=other_tenant_swept)
    yield documents
    left = documents.erase_all()
    if left:
        pytest.fail(
            f"synthetic documents of {OTHER_TENANT_ROLE}'s tenant could not be erased: "
            f"{', '.join(left)}"
        )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """What the other tenant's sweep did, when there is anything to say."""
    sweeps = config.stash.get(_OTHER_SWEEPS, [])
    if hasattr(config, "workerinput") or not sweeps:
        return
    merged = Sweep.merged(sweeps)
    if merged.swept or merged.failed or merged.problem or merged.truncated:
        for line in merged.lines():
            terminalreporter.write_line(
                line.replace("prodval: ", f"prodval ({OTHER_TENANT_ROLE}'s tenant): ", 1)
            )
