"""Who is calling, and may they: API keys and HS256 JWTs, tenants, and the role ladder.

Credentials come as ``X-API-Key`` (looked up by its SHA-256 in ``api_keys``) or
``Authorization: Bearer <jwt>``. A JWT must be HS256, for our audience, from our issuer,
already valid (``nbf``, ``iat``), not expired, and short-lived: ``exp - iat`` at most
``DOCPIPE_JWT_MAX_LIFETIME_S`` (HIPAA automatic logoff, 45 CFR 164.312(a)(2)(iii)).
Every refusal is audited with its reason, never with the credential itself. Roles are
ordered: admin can do all an operator can, who can do all a viewer can.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import jwt
from starlette.requests import Request

from ..audit import write_audit
from ..schema import hash_key
from ..settings import ComponentSettings
from .db import Conn
from .errors import ApiError
from .routes import audit_action, declared

__all__ = [
    "ROLES",
    "Principal",
    "audit_request",
    "authenticate",
    "has_credentials",
    "remote_addr",
]

ROLES = {"viewer": 0, "operator": 1, "admin": 2}
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "tenant", "role"]


@dataclasses.dataclass(frozen=True)
class Principal:
    actor: str
    tenant_id: str
    role: str


class _Refused(Exception):
    def __init__(self, reason: str, scheme: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scheme = scheme


def remote_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


async def audit_request(
    request: Request,
    conn: Conn,
    principal: Principal,
    *,
    outcome: str,
    resource_type: str,
    resource_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """The audit row of what ``principal`` did in this request: who, the route's declared
    action (``routes.audit_action``), from where. One place, so that every handler's row names
    the caller the same way; pass the connection of the change, so both commit together."""
    await write_audit(
        conn,
        actor=principal.actor,
        tenant_id=principal.tenant_id,
        role=principal.role,
        action=audit_action(request),
        outcome=outcome,
        resource_type=resource_type,
        resource_id=resource_id,
        remote_addr=remote_addr(request),
        detail=detail,
    )


def has_credentials(request: Request) -> bool:
    return "x-api-key" in request.headers or "authorization" in request.headers


async def _from_api_key(conn: Conn, key: str) -> Principal:
    row = await conn.fetchrow(
        "select tenant_id, role, label from api_keys where key_hash = $1", hash_key(key)
    )
    if row is None:
        raise _Refused("unknown api key", "api_key")
    return Principal(actor=f"api_key:{row['label']}", tenant_id=row["tenant_id"], role=row["role"])


def _jwt_claims(token: str, settings: ComponentSettings) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],  # never taken from the token: no "none", no key confusion
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # Explicit, so that a PyJWT upgrade cannot quietly stop checking any of them.
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_aud": True,
                "verify_iss": True,
            },
        )
    except jwt.ExpiredSignatureError:
        raise _Refused("token expired", "bearer") from None
    except jwt.ImmatureSignatureError:
        raise _Refused("token not yet valid", "bearer") from None
    except jwt.InvalidAudienceError:
        raise _Refused("wrong audience", "bearer") from None
    except jwt.InvalidIssuerError:
        raise _Refused("wrong issuer", "bearer") from None
    except jwt.InvalidSignatureError:
        raise _Refused("bad signature", "bearer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _Refused(f"missing claim {exc.claim}", "bearer") from None
    except jwt.InvalidAlgorithmError:
        raise _Refused("algorithm not allowed", "bearer") from None
    except jwt.InvalidTokenError as exc:
        raise _Refused(f"invalid token ({type(exc).__name__})", "bearer") from None
    _check_lifetime(claims, settings.jwt_max_lifetime_s)
    return claims


def _check_lifetime(claims: dict[str, Any], max_lifetime_s: float) -> None:
    """Refuse tokens issued for longer than the session limit, however recently issued.

    ``iat`` is required, so the lifetime is ``exp - iat``; without it (should the requirement
    ever be relaxed) the remaining lifetime ``exp - now`` is judged instead.
    """
    exp, iat = claims["exp"], claims.get("iat")
    start = time.time() if iat is None else iat
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, start)):
        raise _Refused("malformed claims", "bearer")
    if exp - start > max_lifetime_s:
        raise _Refused(f"lifetime over {max_lifetime_s:g} s", "bearer")


async def _from_jwt(conn: Conn, token: str, settings: ComponentSettings) -> Principal:
    claims = _jwt_claims(token, settings)
    sub, tenant, role = claims["sub"], claims["tenant"], claims["role"]
    if not all(isinstance(value, str) and value for value in (sub, tenant, role)):
        raise _Refused("malformed claims", "bearer")
    if role not in ROLES:
        raise _Refused("unknown role", "bearer")
    if await conn.fetchval("select 1 from tenants where id = $1", tenant) is None:
        raise _Refused("unknown tenant", "bearer")
    return Principal(actor=f"jwt:{sub}", tenant_id=tenant, role=role)


async def _identify(request: Request, conn: Conn, settings: ComponentSettings) -> Principal:
    api_key = request.headers.get("x-api-key")
    if api_key is not None:
        return await _from_api_key(conn, api_key)
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise _Refused("no credentials", "none")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused("unsupported authorization scheme", scheme.lower()[:20] or "none")
    return await _from_jwt(conn, token.strip(), settings)


async def authenticate(request: Request, conn: Conn, settings: ComponentSettings) -> Principal:
    """The caller's identity, or ApiError 401/403 after auditing the refusal.

    The lowest role allowed is the one the route table declares for the operation
    (``routes.declared``). Call outside any transaction: the audit row of a refusal must
    commit although the request fails.
    """
    minimum_role = declared(request).min_role
    if minimum_role is None:
        raise RuntimeError(f"{request.method} {request.url.path} is declared public")
    where = {"method": request.method, "path": request.url.path}
    try:
        principal = await _identify(request, conn, settings)
    except _Refused as refused:
        await write_audit(
            conn,
            actor="anonymous",
            action="auth.failure",
            outcome="denied",
            remote_addr=remote_addr(request),
            detail={"reason": refused.reason, "scheme": refused.scheme, **where},
        )
        raise ApiError(401, "unauthorized", headers={"www-authenticate": "Bearer"}) from None
    if ROLES[principal.role] < ROLES[minimum_role]:
        await write_audit(
            conn,
            actor=principal.actor,
            tenant_id=principal.tenant_id,
            role=principal.role,
            action="authz.denied",
            outcome="denied",
            remote_addr=remote_addr(request),
            detail={"required_role": minimum_role, **where},
        )
        raise ApiError(403, "forbidden")
    return principal
