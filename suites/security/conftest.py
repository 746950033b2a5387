"""Security suite fixtures: an anonymous client, and the JWT factory for the target's secret."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pytest_prodval import TargetEnv

from ._support import ClientFor, TokenFactory

DEFAULT_ISSUER = "docpipe"
DEFAULT_TENANT = "acme"


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
