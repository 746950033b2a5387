"""Security and cache headers on the answer of every route of the target's route inventory.

Each operation is called without credentials (a public answer, or a 401), and each GET also
as its lowest role with random ids (a 200, or a 404): the same policy must be on all of them,
byte for byte as in the baseline. Writes are sent without credentials only: nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from pytest_prodval import Baseline

from .._inventory import Inventory
from .test_headers import compare_header_values

pytestmark = [pytest.mark.security]


def _floor_problems(response: httpx.Response) -> list[str]:
    headers = response.headers
    directives = {d.strip().lower() for d in headers.get("cache-control", "").split(",")}
    problems = []
    if "no-store" not in directives:
        problems.append(f"Cache-Control {headers.get('cache-control')!r}, expected no-store")
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        problems.append(f"X-Content-Type-Options {headers.get('x-content-type-options')!r}")
    return problems


def test_every_route_answers_with_the_security_and_cache_headers(
    anonymous: httpx.Client,
    api_as: Callable[[str], httpx.Client],
    inventory: Inventory,
    baseline: Baseline,
) -> None:
    """Every operation's answers carry Cache-Control: no-store and nosniff, and each security
    header is the baseline's byte for byte on all of them.

    Guards against: security or cache headers missing on some routes only (`weak_headers`, a
    route served outside the middleware, a proxy rule for some paths), PHI cached.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control), 164.312(e)(1)
    """
    answers = {}
    for op in inventory.operations:
        answers[f"{op.name} anonymous"] = anonymous.request(op.method, op.url())
        if op.method == "GET" and op.min_role is not None:
            answers[f"{op.name} as {op.min_role}"] = api_as(op.min_role).get(op.url())
    problems = [
        f"{name} ({response.status_code}): {problem}"
        for name, response in answers.items()
        for problem in _floor_problems(response)
    ]
    assert not problems, "security or cache headers missing: " + "; ".join(problems)
    compare_header_values(baseline, answers)
