"""Response headers: the browser-facing security policy, no caching of document data, no CORS.

The API serves JSON and raw documents, never pages: every answer forbids sniffing and framing.
Besides those floors, each security header is compared with the baseline byte for byte, as
sent: a header dropped, added or weakened within the floor (a shorter HSTS max-age, one more
CSP source, SAMEORIGIN for DENY) by a deployment or a proxy in front of it is a diff that
names the header and both values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline, BaselineMismatch

from ._support import grouped, random_id

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.security]

# Headers that make up the security policy; their presence is compared with the baseline.
SECURITY_HEADERS = (
    "x-content-type-options",
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "cache-control",
    "strict-transport-security",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
)  # Server / X-Powered-By are judged by value in test_errors (a proxy may add a bare Server).
ATTACKER_ORIGIN = "https://attacker.example"


def _policy_problems(response: httpx.Response) -> list[str]:
    headers = response.headers
    problems = []
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        problems.append(f"X-Content-Type-Options {headers.get('x-content-type-options')!r}")
    csp = headers.get("content-security-policy", "")
    if "frame-ancestors" not in csp:
        problems.append(f"Content-Security-Policy without frame-ancestors: {csp!r}")
    if headers.get("x-frame-options", "").upper() not in ("DENY", "SAMEORIGIN"):
        problems.append(f"X-Frame-Options {headers.get('x-frame-options')!r}")
    return problems


def compare_header_values(baseline: Baseline, answers: dict[str, httpx.Response]) -> None:
    """Each security header's value on ``answers`` against the baseline's, byte for byte.

    One comparison per header (its name is the header's), so that a failure names the header
    and shows both values whole; the value is the one every answer sent (None: absent), or
    ``{answer: value}`` when they differ. Every header is judged before the check fails.
    """
    __tracebackhide__ = True
    mismatches = []
    for header in SECURITY_HEADERS:
        sent = {name: response.headers.get(header) for name, response in answers.items()}
        distinct = set(sent.values())
        value = distinct.pop() if len(distinct) == 1 else sent
        try:
            baseline.exact(header, value)
        except BaselineMismatch as exc:
            mismatches.append(str(exc))
    if mismatches:
        raise BaselineMismatch(
            f"{len(mismatches)} security header(s) differ from the baseline:\n"
            + "\n".join(mismatches)
        )


def _no_store(response: httpx.Response) -> bool:
    directives = {d.strip().lower() for d in response.headers.get("cache-control", "").split(",")}
    return "no-store" in directives


def test_every_kind_of_answer_carries_the_security_headers(
    anonymous: httpx.Client, api: httpx.Client, baseline: Baseline
) -> None:
    """200, 401, 404 and 405 answers carry nosniff, CSP frame-ancestors and X-Frame-Options.

    Each security header's value matches the baseline's byte for byte.

    Guards against: security headers missing or removed by a deployment or proxy
    (`weak_headers`), on some answers only; a policy weakened within the floor (HSTS max-age
    or includeSubDomains, CSP sources, X-Frame-Options SAMEORIGIN, Referrer-Policy).
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    answers = {
        "GET /health": anonymous.get("/health"),
        "GET /version": anonymous.get("/version"),
        "GET /documents/{id} anonymous (401)": anonymous.get(f"/documents/{random_id()}"),
        "GET /documents/{id} unknown (404)": api.get(f"/documents/{random_id()}"),
        "PUT /health (405)": anonymous.put("/health"),
    }
    problems = [
        (f"{name} answered {response.status_code}", problem)
        for name, response in answers.items()
        for problem in _policy_problems(response)
    ]
    assert not problems, "security headers missing or weak:\n  " + grouped(problems)
    compare_header_values(baseline, answers)


@pytest.mark.synthetic
def test_document_data_is_never_cached(synthetic: SyntheticDocuments, baseline: Baseline) -> None:
    """Answers carrying document data (upload, document, content) say Cache-Control: no-store.

    The content is also served as an attachment, with nosniff and a framing policy; each
    security header (Cache-Control among them) matches the baseline's byte for byte.

    Guards against: PHI kept in browser or proxy caches (`weak_headers`), and uploaded HTML
    rendered in the API's origin; a weaker policy on the personal-data routes than on the
    known-good deployment.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control), 164.312(e)(1)
    """
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    document_id = created.json()["id"]
    answers = {
        "POST /documents": created,
        "GET /documents/{id}": synthetic.uploader.get(f"/documents/{document_id}"),
        "GET /documents/{id}/content": synthetic.uploader.get(f"/documents/{document_id}/content"),
    }
    problems = [
        (name, f"Cache-Control {response.headers.get('cache-control')!r}, expected no-store")
        for name, response in answers.items()
        if not _no_store(response)
    ]
    content_route = "GET /documents/{id}/content"
    content = answers[content_route]
    disposition = content.headers.get("content-disposition", "")
    if not disposition.lower().startswith("attachment"):
        problems.append((content_route, f"Content-Disposition {disposition!r}, not attachment"))
    problems += [(content_route, problem) for problem in _policy_problems(content)]
    assert not problems, "document data may be cached or rendered:\n  " + grouped(problems)
    compare_header_values(baseline, answers)


def _cors_problems(name: str, response: httpx.Response) -> list[str]:
    allow_origin = response.headers.get("access-control-allow-origin")
    credentials = response.headers.get("access-control-allow-credentials", "").lower()
    problems = []
    if allow_origin == ATTACKER_ORIGIN:
        problems.append(f"{name}: Access-Control-Allow-Origin reflects {ATTACKER_ORIGIN}")
    if allow_origin is not None and allow_origin.strip().lower() == "null":
        problems.append(f"{name}: Access-Control-Allow-Origin: null")
    if allow_origin == "*" and credentials == "true":
        problems.append(f"{name}: Access-Control-Allow-Origin * with credentials")
    return problems


def test_a_foreign_origin_is_not_granted_cors_access(
    api: httpx.Client, anonymous: httpx.Client, baseline: Baseline
) -> None:
    """Requests and preflights from a foreign origin get no CORS grant.

    https://attacker.example is not reflected, and no wildcard comes with credentials.

    Guards against: a reflected or wildcard CORS policy that lets any web page read PHI with
    the user's credentials.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control)
    """
    origin = {"Origin": ATTACKER_ORIGIN}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, x-api-key",
    }
    document = f"/documents/{random_id()}"
    answers = {
        "GET /health": anonymous.get("/health", headers=origin),
        "GET /documents/{id} authenticated": api.get(document, headers=origin),
        "OPTIONS /documents/{id} preflight": anonymous.options(document, headers=preflight),
        "OPTIONS /documents preflight": anonymous.options(
            "/documents", headers={**preflight, "Access-Control-Request-Method": "POST"}
        ),
    }
    problems = [p for name, response in answers.items() for p in _cors_problems(name, response)]
    assert not problems, "CORS grants a foreign origin:\n  " + "\n  ".join(problems)
    baseline.exact(
        "access-control-allow-origin",
        {
            name: response.headers.get("access-control-allow-origin")
            for name, response in answers.items()
        },
    )
