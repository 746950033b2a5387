"""Security suite fixtures: an anonymous client, and the JWT factory for the target's secret."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pytest_prodval import TargetEnv

from ._support import ClientFor, TokenFactory, tls_context

DEFAULT_ISSUER = "docpipe"
DEFAULT_TENANT = "acme"


def verify_option(target: TargetEnv) -> ssl.SSLContext | bool:
    """TLS verification as the plugin's clients do it: the configured CA, else the system's."""
    if not target.api.verify_tls:
        return False
    return tls_context(target.api.ca_file)


@pytest.fixture(scope="session")
def anonymous(target: TargetEnv) -> Iterator[httpx.Client]:
    """A client for the target's API that sends no credentials at all (only the configured
    extra headers, minus anything that authenticates)."""
    headers = {
        name: value
        for name, value in target.api.headers.items()
        if name.lower()
        not in ("x-api-key", "authorization", "cookie", target.api.api_key_header.lower())
    }
    with httpx.Client(
        base_url=target.api.base_url,
        timeout=httpx.Timeout(target.api.timeout),
        verify=verify_option(target),
        headers=headers,
        follow_redirects=False,
    ) as client:
        yield client


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
