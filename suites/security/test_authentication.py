"""Authentication: every protected route refuses anonymous callers, and forged JWTs are refused.

The routes are those of the target's route inventory (``suites/_inventory.py``), addressed
with random ids: a 401 needs no document, and a route that answers anything else to a caller
without credentials (a 404 included) has skipped authentication. Write routes get no body, so
even a route that skipped authentication changes nothing (an empty upload is refused; a purge
removes only what the retention job would).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline

from ._support import FORGERIES, TokenFactory, random_id

if TYPE_CHECKING:
    from .._inventory import Inventory
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.security]

# Credentials that identify nobody: each must be refused like no credentials at all.
BOGUS_CREDENTIALS = {
    "none": {},
    "unknown-api-key": {"X-API-Key": "prodval-unknown-key-0000000000000000"},
    "basic-scheme": {"Authorization": "Basic cHJvZHZhbDpwcm9kdmFs"},
    "empty-bearer": {"Authorization": "Bearer"},
    "garbage-bearer": {"Authorization": "Bearer not.a.jwt"},
}


def _challenge(response: httpx.Response) -> str | None:
    """Why a refusal is not a 401 with a Bearer challenge; None when it is one."""
    if response.status_code != 401:
        return f"{response.status_code} {response.text[:80]!r}"
    challenge = response.headers.get("www-authenticate")
    if "bearer" not in (challenge or "").lower():
        return f"401 without a 'WWW-Authenticate: Bearer' challenge (got {challenge!r})"
    return None


def test_a_protected_route_answers_401_without_credentials(
    anonymous: httpx.Client, inventory: Inventory
) -> None:
    """Every protected operation of the route inventory, called without credentials, answers
    401 with a Bearer challenge.

    Ids are random and write operations get no body: nothing exists to change.

    Guards against: a route served to anonymous callers (`auth_bypass` serves
    GET /documents/{id} to anyone), also one that no hand-written list names.
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication)
    """
    problems = [
        f"{op.name} -> {problem}"
        for op in inventory.protected()
        if (problem := _challenge(anonymous.request(op.method, op.url()))) is not None
    ]
    assert not problems, "without credentials, expected 401 + Bearer: " + "; ".join(problems)


def test_no_route_accepts_bogus_credentials_and_the_route_table_matches_the_baseline(
    anonymous: httpx.Client, inventory: Inventory, baseline: Baseline
) -> None:
    """Every protected operation with every kind of bogus credential answers 401, as in the
    baseline.

    Guards against: a route that accepts unknown keys, other schemes or garbage tokens, and a
    protected route added or dropped without review (`auth_bypass`).
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication)
    """
    table = {
        op.name: {
            kind: anonymous.request(op.method, op.url(), headers=headers).status_code
            for kind, headers in BOGUS_CREDENTIALS.items()
        }
        for op in inventory.protected()
    }
    not_refused = [
        f"{route} with {kind}: {status}"
        for route, statuses in table.items()
        for kind, status in statuses.items()
        if status != 401
    ]
    assert not not_refused, "bogus credentials not answered 401: " + "; ".join(not_refused)
    baseline.exact("unauthenticated statuses", table)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_or_invalid_jwt_is_refused(
    anonymous: httpx.Client, tokens: TokenFactory, forgery: str
) -> None:
    """A forged or invalid admin JWT answers 401, while a valid one passes on the same request.

    Guards against: JWT validation that trusts the token's own `alg` (none), skips the
    signature, `exp`, `nbf`, audience or issuer, or accepts a token without `exp`.
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication)
    """
    path = f"/documents/{random_id()}"
    valid = anonymous.get(path, headers={"Authorization": f"Bearer {tokens.valid('admin')}"})
    if valid.status_code == 401:
        pytest.fail(
            f"control: a valid admin JWT (aud {tokens.audience!r}, iss {tokens.issuer!r}, "
            f"tenant {tokens.tenant!r}) was refused with 401 - params.jwt_secret/jwt_audience "
            "do not match the target, so forgeries prove nothing"
        )
    forged = anonymous.get(path, headers={"Authorization": f"Bearer {tokens.forged(forgery)}"})
    assert forged.status_code == 401, (
        f"a {forgery} JWT was accepted: GET {path} answered {forged.status_code} "
        f"(valid token: {valid.status_code}), expected 401: {forged.text[:200]}"
    )


def test_a_signed_jwt_naming_a_tenant_that_does_not_exist_is_refused(
    anonymous: httpx.Client, tokens: TokenFactory
) -> None:
    """A correctly signed, unexpired JWT naming a tenant that does not exist answers 401.

    The same token naming the configured tenant passes on the same request (the control). The
    unknown tenant is a fresh random name; the request reads a random document id, so
    nothing exists to be served either way (an accepted token answers 404, not 401).

    Guards against: a JWT's tenant taken on trust (`jwt-tenant-unchecked`): anyone holding
    the signing key, or a token minted for a tenant since removed, gets a session in a tenant
    the platform does not know.
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication)
    """
    path = f"/documents/{random_id()}"
    unknown = f"prodval-no-such-tenant-{uuid.uuid4().hex[:12]}"
    valid = anonymous.get(path, headers={"Authorization": f"Bearer {tokens.valid('admin')}"})
    if valid.status_code == 401:
        pytest.fail(
            f"control: a valid admin JWT for tenant {tokens.tenant!r} was refused with 401 - "
            "params.jwt_secret/jwt_audience/jwt_tenant do not match the target, so a refused "
            "unknown tenant proves nothing"
        )
    token = tokens.signed(tokens.claims("admin", tenant=unknown))
    answer = anonymous.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, (
        f"a signed admin JWT naming the unknown tenant {unknown!r} was accepted: GET {path} "
        f"answered {answer.status_code} (same token for tenant {tokens.tenant!r}: "
        f"{valid.status_code}), expected 401: {answer.text[:200]}"
    )


@pytest.mark.synthetic
def test_a_valid_viewer_jwt_reads_a_document_and_a_forged_admin_jwt_does_not(
    synthetic: SyntheticDocuments, tokens: TokenFactory, anonymous: httpx.Client, baseline: Baseline
) -> None:
    """A valid viewer JWT reads a real document (200); forged admin JWTs get 401 on it.

    The forgeries are alg-none and a flipped signature byte, on the same document.

    Guards against: JWT checks so strict that real tokens fail, or so loose that a forged
    token reads a real document.
    Evidences: HIPAA 45 CFR 164.312(d) (person or entity authentication)
    """
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    path = f"/documents/{created.json()['id']}"
    statuses = {
        "valid viewer": anonymous.get(
            path, headers={"Authorization": f"Bearer {tokens.valid('viewer')}"}
        ).status_code,
        **{
            forgery: anonymous.get(
                path, headers={"Authorization": f"Bearer {tokens.forged(forgery)}"}
            ).status_code
            for forgery in ("alg-none", "flipped-signature-byte")
        },
    }
    assert statuses["valid viewer"] == 200, (
        f"a valid viewer JWT for tenant {tokens.tenant!r} could not read a document of that "
        f"tenant: GET {path} answered {statuses['valid viewer']}"
    )
    assert statuses["alg-none"] == 401 and statuses["flipped-signature-byte"] == 401, (
        f"a forged admin JWT read a real document: {statuses}"
    )
    baseline.exact("statuses", statuses)
