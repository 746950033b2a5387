"""Realistic source-level regressions of docpipe, for ``benchmarks/mutation_score.py``.

Each entry is the kind of change a bad release brings (a comparison off by one, a filter or an
audit call lost in a refactoring, a header "relaxed", a unit mixed up), written as exact text
replacements in docpipe's source (``mutated_docpipe.mutated_source``: each must match exactly
once). None is a fault switch of ``docpipe.faults``; where a fault covers the same property the
entry breaks it differently (part of the chunks left, not all; one read path unaudited, not
every one). ``tests/test_mutation_catalogue.py`` checks that every entry still applies to the
current source, so an edit of docpipe that moves a mutation's text is noticed in CI.
"""

from __future__ import annotations

import dataclasses

from .mutated_docpipe import Mutation

__all__ = ["AREAS", "CATALOGUE", "Mutant"]

# The areas a mutation belongs to: what a release can break, as the suites are organised.
AREAS = (
    "auth",
    "roles",
    "tenants",
    "audit",
    "gdpr-export",
    "gdpr-erasure",
    "retention",
    "headers",
    "tls",
    "pipeline",
    "contract",
    "readiness",
)


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    description: str  # one line: what the release got wrong
    changes: Mutation


def _m(name: str, area: str, description: str, changes: Mutation) -> Mutant:
    return Mutant(name, area, description, changes)


_HSTS = "max-age=31536000; includeSubDomains"
_AUTH = "docpipe/api/auth.py"
_DOCS = "docpipe/api/documents.py"
_ADMIN = "docpipe/api/admin.py"
_UPLOAD = "docpipe/api/upload.py"
_ERASURE = "docpipe/erasure.py"
_SECURITY = "docpipe/api/security.py"
_MIDDLEWARE = "docpipe/api/middleware.py"
_HEALTH = "docpipe/api/health.py"
_SERVICES = "docpipe/services.py"
_WORKER = "docpipe/worker.py"
_PURGE_WINDOW = "coalesce(retain_until, created_at + make_interval(secs => $1)) < now()"

CATALOGUE: tuple[Mutant, ...] = (
    # --- auth ----------------------------------------------------------------------------
    _m(
        "jwt-expiry-unchecked",
        "auth",
        "PyJWT's exp verification switched off: an expired token is accepted",
        {_AUTH: [('"verify_exp": True,', '"verify_exp": False,')]},
    ),
    _m(
        "jwt-audience-unchecked",
        "auth",
        "audience verification switched off: a token minted for another service is accepted",
        {_AUTH: [('"verify_aud": True,', '"verify_aud": False,')]},
    ),
    _m(
        "jwt-lifetime-in-hours",
        "auth",
        "the session lifetime limit read as hours: a 24-hour token is accepted",
        {_AUTH: [("if exp - start > max_lifetime_s:", "if exp - start > max_lifetime_s * 24:")]},
    ),
    _m(
        "jwt-tenant-unchecked",
        "auth",
        "the tenant lookup of a JWT dropped: a token naming an unknown tenant is accepted",
        {
            _AUTH: [
                (
                    'if await conn.fetchval("select 1 from tenants where id = $1", tenant)'
                    " is None:",
                    "if not tenant:",
                )
            ]
        },
    ),
    # --- roles ---------------------------------------------------------------------------
    _m(
        "role-rank-off-by-one",
        "roles",
        "the role comparison one rank lenient: a viewer may upload and erase, an operator export",
        {
            _AUTH: [
                (
                    "if ROLES[principal.role] < ROLES[minimum_role]:",
                    "if ROLES[principal.role] < ROLES[minimum_role] - 1:",
                )
            ]
        },
    ),
    _m(
        "operator-ranked-as-admin",
        "roles",
        "the role table gives operator the admin rank: operators export subjects, read the audit",
        {
            _AUTH: [
                (
                    'ROLES = {"viewer": 0, "operator": 1, "admin": 2}',
                    'ROLES = {"viewer": 0, "operator": 2, "admin": 2}',
                )
            ]
        },
    ),
    _m(
        "api-key-role-ignored",
        "roles",
        "an API key's role is not read from its row: every key acts as an operator",
        {
            _AUTH: [
                (
                    'tenant_id=row["tenant_id"], role=row["role"])',
                    'tenant_id=row["tenant_id"], role="operator")',
                )
            ]
        },
    ),
    # --- tenants -------------------------------------------------------------------------
    _m(
        "listing-not-tenant-scoped",
        "tenants",
        "the tenant filter dropped from GET /documents: the listing shows every tenant's documents",
        {
            _DOCS: [
                (
                    "where tenant_id = $1 and ($2::text is null or starts_with(subject_id, $2))",
                    "where $1::text is not null and ($2::text is null"
                    " or starts_with(subject_id, $2))",
                )
            ]
        },
    ),
    _m(
        "export-not-tenant-scoped",
        "tenants",
        "the subject export matches the subject id in every tenant",
        {
            _ADMIN: [
                (
                    "where d.tenant_id = $1 and d.subject_id = $2",
                    "where $1::text is not null and d.subject_id = $2",
                )
            ]
        },
    ),
    _m(
        "erase-not-tenant-scoped",
        "tenants",
        "DELETE /documents/{id} erases the document whatever its tenant",
        {
            _DOCS: [
                (
                    "conn, ctx.storage, doc_id, ctx.faults, tenant_id=principal.tenant_id",
                    "conn, ctx.storage, doc_id, ctx.faults, tenant_id=None",
                )
            ]
        },
    ),
    _m(
        "purge-not-tenant-scoped",
        "tenants",
        "an admin's POST /admin/retention/purge purges every tenant's expired documents",
        {
            _ADMIN: [
                (
                    "            tenant_id=principal.tenant_id,\n"
                    "            actor=principal.actor,",
                    "            tenant_id=None,\n            actor=principal.actor,",
                )
            ]
        },
    ),
    _m(
        "dedup-across-tenants",
        "tenants",
        "duplicate detection across tenants: re-uploading content answers another tenant's id",
        {
            _UPLOAD: [
                (
                    "from documents where tenant_id = $1 and sha256 = $2",
                    "from documents where $1::text is not null and sha256 = $2",
                )
            ]
        },
    ),
    # --- audit ---------------------------------------------------------------------------
    _m(
        "content-read-unaudited",
        "audit",
        "downloading a document's content (GET .../content) writes no audit row",
        {
            _DOCS: [
                (
                    'data = await asyncio.to_thread(ctx.storage.get, row["storage_key"])\n'
                    "        await _audit_read(",
                    'data = await asyncio.to_thread(ctx.storage.get, row["storage_key"])\n'
                    "        if not data:\n"
                    "            await _audit_read(",
                )
            ]
        },
    ),
    _m(
        "listing-audited-only-when-empty",
        "audit",
        "GET /documents writes its audit row only when the listing is empty",
        {
            _DOCS: [
                (
                    '"limit": limit,\n        }\n        await _audit_read(',
                    '"limit": limit,\n        }\n'
                    "        if not rows:\n            await _audit_read(",
                )
            ]
        },
    ),
    _m(
        "auth-failure-audited-for-jwt-only",
        "audit",
        "refused requests are audited only for bearer tokens, not missing or bad API keys",
        {
            _AUTH: [
                (
                    "except _Refused as refused:\n        await write_audit(",
                    "except _Refused as refused:\n"
                    '        if refused.scheme == "bearer":\n'
                    "            await write_audit(",
                )
            ]
        },
    ),
    _m(
        "audit-actor-is-tenant",
        "audit",
        "document reads are audited with the tenant as actor, not the caller",
        {
            _DOCS: [
                (
                    # _audit_read's call only (the handlers' own are indented deeper).
                    "    await audit_request(\n        request,\n        conn,\n        principal,",
                    "    await audit_request(\n        request,\n        conn,\n"
                    "        Principal(principal.tenant_id, principal.tenant_id, principal.role),",
                )
            ]
        },
    ),
    # --- GDPR export ---------------------------------------------------------------------
    _m(
        "export-without-history",
        "gdpr-export",
        "the subject export leaves out each document's state history",
        {
            _ADMIN: [
                (
                    'history = await fetch_history(conn, row["id"])\n',
                    "history: list[dict[str, Any]] = []\n",
                )
            ]
        },
    ),
    _m(
        "export-completed-only",
        "gdpr-export",
        "the export joins results instead of left-joining: documents without a result are left out",
        {
            _ADMIN: [
                (
                    "from documents d left join results r on r.document_id = d.id",
                    "from documents d join results r on r.document_id = d.id",
                )
            ]
        },
    ),
    _m(
        "export-result-text-dropped",
        "gdpr-export",
        "the export's result has no text, only the chunk count and dimensions",
        {_ADMIN: [('"text": row["result_text"],', '"text": None,')]},
    ),
    # --- GDPR erasure --------------------------------------------------------------------
    _m(
        "erasure-wrong-storage-key",
        "gdpr-erasure",
        "erasure deletes the file under the document id, not its storage key: the file stays",
        {
            _ERASURE: [
                (
                    "await asyncio.to_thread(storage.delete, str(storage_key))",
                    "await asyncio.to_thread(storage.delete, str(doc_id))",
                )
            ]
        },
    ),
    _m(
        "erasure-leaves-first-chunk",
        "gdpr-erasure",
        "erasure deletes chunks from seq 1: the first chunk (with its text) stays",
        {
            _ERASURE: [
                (
                    '"delete from chunks where document_id = $1", doc_id',
                    '"delete from chunks where document_id = $1 and seq > 0", doc_id',
                )
            ]
        },
    ),
    # --- retention -----------------------------------------------------------------------
    _m(
        "retention-in-hours",
        "retention",
        "retention_days converted with 3600 s a day: documents are purged 24 times too early",
        {_ERASURE: [("return retention_days * 86400.0", "return retention_days * 3600.0")]},
    ),
    _m(
        "retention-doubled",
        "retention",
        "the retention window doubled: documents are kept twice as long as the policy says",
        {_ERASURE: [("return retention_days * 86400.0", "return retention_days * 2 * 86400.0")]},
    ),
    _m(
        "retention-comparison-inverted",
        "retention",
        "the purge's comparison inverted: it erases unexpired documents and keeps expired ones",
        {_ERASURE: [(_PURGE_WINDOW, _PURGE_WINDOW.replace(" < now()", " > now()"))]},
    ),
    _m(
        "retention-override-ignored",
        "retention",
        "the per-document retain_until override is ignored by the purge",
        {
            _ERASURE: [
                (
                    _PURGE_WINDOW,
                    "created_at + make_interval(secs => $1) < now()",
                )
            ]
        },
    ),
    _m(
        "retention-default-90-days",
        "retention",
        "the default retention raised from 30 to 90 days",
        {
            "docpipe/settings.py": [
                (
                    'env.get("DOCPIPE_RETENTION_DAYS", "30")',
                    'env.get("DOCPIPE_RETENTION_DAYS", "90")',
                )
            ]
        },
    ),
    # --- headers -------------------------------------------------------------------------
    _m(
        "hsts-max-age-180-days",
        "headers",
        "HSTS max-age lowered from a year to 180 days (the floor)",
        {_SECURITY: [(_HSTS, "max-age=15552000; includeSubDomains")]},
    ),
    _m(
        "hsts-without-subdomains",
        "headers",
        "HSTS includeSubDomains dropped",
        {_SECURITY: [(_HSTS, "max-age=31536000")]},
    ),
    _m(
        "csp-frame-ancestors-self",
        "headers",
        "CSP frame-ancestors loosened from 'none' to 'self' and a portal",
        {_SECURITY: [("frame-ancestors 'none'", "frame-ancestors 'self' https://portal.example")]},
    ),
    _m(
        "x-frame-options-sameorigin",
        "headers",
        "X-Frame-Options SAMEORIGIN instead of DENY",
        {_SECURITY: [('("x-frame-options", "DENY")', '("x-frame-options", "SAMEORIGIN")')]},
    ),
    _m(
        "referrer-policy-weakened",
        "headers",
        "Referrer-Policy strict-origin-when-cross-origin instead of no-referrer",
        {
            _SECURITY: [
                (
                    '("referrer-policy", "no-referrer")',
                    '("referrer-policy", "strict-origin-when-cross-origin")',
                )
            ]
        },
    ),
    _m(
        "content-cacheable",
        "headers",
        "handlers may set their own caching, and a document's content is cacheable privately",
        {
            _MIDDLEWARE: [("headers[name] = value", "headers.setdefault(name, value)")],
            _DOCS: [
                (
                    '"content-disposition": "attachment",',
                    '"content-disposition": "attachment",\n'
                    '            "cache-control": "private, max-age=300",',
                )
            ],
        },
    ),
    _m(
        "content-inline",
        "headers",
        "a document's content is served inline, not as an attachment",
        {_DOCS: [('"content-disposition": "attachment",', '"content-disposition": "inline",')]},
    ),
    _m(
        "cors-any-origin",
        "headers",
        "every answer allows any origin (Access-Control-Allow-Origin: *)",
        {
            _MIDDLEWARE: [
                (
                    'headers["x-request-id"] = request_id',
                    'headers["x-request-id"] = request_id\n'
                    '                headers["access-control-allow-origin"] = "*"',
                )
            ]
        },
    ),
    # --- TLS -----------------------------------------------------------------------------
    _m(
        "tls-default-ciphers",
        "tls",
        "uvicorn given OpenSSL's DEFAULT cipher list: CBC suites with SHA-1 MACs accepted",
        {
            "docpipe/api/__main__.py": [
                (
                    "        ssl_keyfile=keyfile,\n",
                    '        ssl_keyfile=keyfile,\n        ssl_ciphers="DEFAULT",\n',
                )
            ]
        },
    ),
    _m(
        "tls-rsa-key",
        "tls",
        "the server certificate issued with an RSA-2048 key instead of EC P-256",
        {
            "docpipe/tls.py": [
                (
                    "        common_name=hosts[0],\n",
                    "        common_name=hosts[0],\n        key_type=trustme.KeyType.RSA,\n",
                )
            ]
        },
    ),
    # --- pipeline and results ------------------------------------------------------------
    _m(
        "chunk-size-400",
        "pipeline",
        "the chunk size lowered from 500 to 400 characters",
        {_SERVICES: [("CHUNK_CHARS = 500", "CHUNK_CHARS = 400")]},
    ),
    _m(
        "chunk-boundary-off-by-one",
        "pipeline",
        "a chunk is closed one character early (>= instead of >)",
        {
            _SERVICES: [
                (
                    "if len(current) + len(piece.rstrip()) > size and current.strip():",
                    "if len(current) + len(piece.rstrip()) >= size and current.strip():",
                )
            ]
        },
    ),
    _m(
        "embedding-rounded",
        "pipeline",
        "embedding components rounded to 4 decimals before they are stored",
        {
            _SERVICES: [
                (
                    'vectors.extend([float(v) for v in item["embedding"]] for item in data)',
                    "vectors.extend([round(float(v), 4)"
                    ' for v in item["embedding"]] for item in data)',
                )
            ]
        },
    ),
    # (It replaces "result-text-stripped", an equivalent mutant: the parser service already
    # strips each page, so .strip() in the worker changed nothing a check could see.)
    _m(
        "result-text-whitespace-collapsed",
        "pipeline",
        "the result text is stored with its whitespace collapsed: line and page breaks lost",
        {_WORKER: [("            parsed.text,\n", '            " ".join(parsed.text.split()),\n')]},
    ),
    _m(
        "dimensions-is-chunk-count",
        "pipeline",
        "the result's embedding_dimensions stores the number of vectors",
        {_WORKER: [("len(vectors[0]) if vectors else 0,", "len(vectors),")]},
    ),
    _m(
        "parsing-state-skipped",
        "pipeline",
        "the worker goes from uploaded straight to parsed (the machine allows it): no parsing",
        {
            _WORKER: [
                (
                    "                await step.move(State.PARSING)\n",
                    "                pass\n",
                )
            ],
            "docpipe/states.py": [
                (
                    "State.UPLOADED: frozenset({State.PARSING, State.FAILED}),",
                    "State.UPLOADED: frozenset({State.PARSING, State.PARSED, State.FAILED}),",
                )
            ],
        },
    ),
    _m(
        "failure-reason-generic",
        "pipeline",
        "a permanently failed document's reason is a generic 'failed', not the parser's message",
        {
            "docpipe/runner.py": [
                ('settle(job, str(exc), outcome="fail")', 'settle(job, "failed", outcome="fail")')
            ]
        },
    ),
    # --- API contract --------------------------------------------------------------------
    _m(
        "result-field-renamed",
        "contract",
        "the result's embedding_dimensions field renamed to dimensions",
        {
            _DOCS: [
                (
                    '"embedding_dimensions": result["embedding_dimensions"],',
                    '"dimensions": result["embedding_dimensions"],',
                )
            ]
        },
    ),
    _m(
        "listing-field-renamed",
        "contract",
        "the listing's created_at field renamed to created",
        {
            _DOCS: [
                (
                    '"created_at": row["created_at"].isoformat(),\n                }',
                    '"created": row["created_at"].isoformat(),\n                }',
                )
            ]
        },
    ),
    _m(
        "upload-answers-200",
        "contract",
        "a new upload answers 200 instead of 201 Created",
        {_UPLOAD: [("status_code=200 if duplicate else 201", "status_code=200")]},
    ),
    _m(
        "erase-answers-200-with-body",
        "contract",
        "DELETE answers 200 with a JSON body instead of 204 No Content",
        {
            _DOCS: [
                (
                    "return Response(status_code=204)",
                    'return JSONResponse({"erased": str(doc_id)})',
                )
            ]
        },
    ),
    _m(
        "not-ready-answers-404",
        "contract",
        "the result of an unfinished document answers 404 instead of 409 not_ready",
        {_DOCS: [('raise ApiError(409, "not_ready"', 'raise ApiError(404, "not_ready"')]},
    ),
    _m(
        "error-answer-leaks-trace",
        "contract",
        "a 500 or 503 answer carries the exception's traceback in 'detail'",
        {
            _MIDDLEWARE: [
                (
                    'body: dict[str, Any] = {"error": error, "request_id": request_id}',
                    'body: dict[str, Any] = {"error": error, "request_id": request_id,'
                    ' "detail": "".join(traceback.format_exception(exc))}',
                )
            ]
        },
    ),
    # --- readiness with a dependency down ------------------------------------------------
    _m(
        "ready-ignores-services",
        "readiness",
        "/ready's verdict ignores the parser and embedder probes",
        {
            _HEALTH: [
                (
                    'ok = all(component["ok"] for component in components.values())',
                    'ok = all(components[n]["ok"] for n in ("database", "storage", "workers"))',
                )
            ]
        },
    ),
    _m(
        "ready-storage-probe-shallow",
        "readiness",
        "the storage probe only checks that the path exists, not that it is writable",
        {
            _HEALTH: [
                (
                    "await asyncio.to_thread(ctx.storage.check)",
                    "await asyncio.to_thread(ctx.storage.root.exists)",
                )
            ]
        },
    ),
    _m(
        "ready-always-200",
        "readiness",
        "/ready answers HTTP 200 also when not ready (the body still says not_ready)",
        {_HEALTH: [("status_code=200 if ok else 503,", "status_code=200,")]},
    ),
    _m(
        "db-refused-is-500",
        "readiness",
        "a refused database connection is no longer an outage (503) but an internal error (500)",
        {
            _MIDDLEWARE: [
                (
                    "    ConnectionError,  # refused or reset while connecting\n",
                    "",
                )
            ]
        },
    ),
    _m(
        "unreachable-service-is-permanent",
        "readiness",
        "an unreachable parser or embedder fails the document instead of retrying it",
        {
            _SERVICES: [
                (
                    'raise RetryableError(f"{service} unreachable:',
                    'raise PermanentError(f"{service} unreachable:',
                )
            ]
        },
    ),
)
