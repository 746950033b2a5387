"""Access control: sessions end automatically — bearer tokens have a capped lifetime.

Parameters read from ``params``:

- ``jwt_secret`` (required, else the check is skipped), ``jwt_audience`` (default
  ``docpipe``), ``jwt_issuer`` (default ``docpipe``), ``jwt_tenant`` (default ``acme``): how to
  mint a token the target accepts.
- ``jwt_max_lifetime_s`` (default 3600): the longest session the policy allows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline

from .._inventory import Inventory, Operation, listing_query, synthetic_values

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.compliance, pytest.mark.synthetic]

LONG_LIFETIME_S = 24 * 3600
SHORT_LIFETIME_S = 5 * 60


def _token(params: dict[str, Any], lifetime_s: int) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "sub": "prodval-synthetic-session",
        "tenant": str(params.get("jwt_tenant", "acme")),
        "role": "viewer",
        "aud": str(params.get("jwt_audience", "docpipe")),
        "iss": str(params.get("jwt_issuer", "docpipe")),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
    }
    with warnings.catch_warnings():
        # A short HMAC secret is the security suite's finding; here it only signs a probe.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, str(params["jwt_secret"]), algorithm="HS256")


def _with_token(client: httpx.Client, op: Operation, url: str, query: Any, token: str) -> int:
    # Only this token authenticates the request: the client's own credential is dropped.
    request = client.build_request(op.method, url, params=query)
    for header in ("x-api-key", "authorization"):
        request.headers.pop(header, None)
    request.headers["Authorization"] = f"Bearer {token}"
    return client.send(request).status_code


def test_a_token_valid_for_24_hours_is_rejected_while_a_5_minute_token_is_accepted(
    synthetic: SyntheticDocuments,
    api_as: Callable[[str], httpx.Client],
    inventory: Inventory,
    params: dict[str, Any],
    baseline: Baseline,
) -> None:
    """On every viewer GET route of the route inventory, a viewer JWT with a 24 h lifetime
    gets 401 while the same token with 5 min gets past authentication.

    Routes are read for a synthetic document and its subject.

    Guards against: long-lived bearer tokens, i.e. sessions that never log off (no maximum
    lifetime, or a limit raised far beyond `jwt_max_lifetime_s`), on any route.
    Evidences: HIPAA 45 CFR 164.312(a)(2)(iii)
    """
    if not params.get("jwt_secret"):
        pytest.skip("params.jwt_secret is not set: cannot mint tokens for this environment")
    max_lifetime = float(params.get("jwt_max_lifetime_s", 3600))
    baseline.limit(
        "policy's maximum token lifetime",
        max_lifetime,
        at_least=SHORT_LIFETIME_S,
        below=LONG_LIFETIME_S,
        unit="s",
        source="params.jwt_max_lifetime_s, between the probes' 5 min and 24 h",
    )
    uploaded = synthetic.upload()
    assert uploaded.status_code == 201, f"upload: {uploaded.status_code} {uploaded.text[:300]}"
    values = synthetic_values(uploaded.json()["id"], synthetic.subject)
    viewer = api_as("viewer")
    tokens = {
        name: _token(params, s)
        for name, s in (("5 min", SHORT_LIFETIME_S), ("24 h", LONG_LIFETIME_S))
    }
    statuses = {
        op.name: {
            name: _with_token(
                viewer, op, op.url(values), listing_query(op, synthetic.subject, 5), token
            )
            for name, token in tokens.items()
        }
        for op in inventory.operations
        if op.method == "GET" and op.min_role == "viewer"
    }
    refused = [route for route, s in statuses.items() if s["5 min"] in (401, 403)]
    assert not refused, (
        f"a 5-minute viewer token was refused on {', '.join(refused)}: the check cannot mint "
        "tokens this target accepts (params jwt_secret/jwt_audience/jwt_issuer/jwt_tenant?)"
    )
    accepted = [f"{route} -> {s['24 h']}" for route, s in statuses.items() if s["24 h"] != 401]
    assert not accepted, (
        f"a viewer token valid for 24 h was not refused with 401 (tokens longer than "
        f"{max_lifetime:g} s, params.jwt_max_lifetime_s): " + "; ".join(accepted)
    )
    # A result read answers 409 or 200 as processing goes: what is recorded is authentication.
    baseline.exact(
        "authenticated",
        {
            route: {name: s not in (401, 403) for name, s in by.items()}
            for route, by in statuses.items()
        },
    )
