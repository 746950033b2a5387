"""The route inventory itself: the routes the target serves, and what each declares, are the
baseline's. A route added or removed, or one whose role, personal-data or tenant declaration
changed, is a release nobody reviewed against the known-good one."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_prodval import Baseline

from .._inventory import Inventory, recorded

pytestmark = [pytest.mark.application]


def _differences(recorded_routes: dict[str, Any], live: dict[str, Any]) -> list[str]:
    problems = [
        f"route not in baseline: {route}" for route in sorted(live.keys() - recorded_routes)
    ]
    problems += [f"route gone: {route}" for route in sorted(recorded_routes.keys() - live)]
    for route in sorted(live.keys() & recorded_routes.keys()):
        was, now = recorded_routes[route], live[route]
        problems += [
            f"{route}: {fact} {was.get(fact)!r} -> {value!r}"
            for fact, value in now.items()
            if isinstance(was, dict) and was.get(fact) != value
        ]
    return problems


def test_the_route_inventory_matches_the_baseline(inventory: Inventory, baseline: Baseline) -> None:
    """Every route and method the target's inventory lists, with its lowest role and its
    personal-data, tenant and audit declarations, is the baseline's; the role ladder too.

    Guards against: a route added without review (`unlisted_route`, a debug endpoint left in
    the release), a route removed, a role requirement lowered, personal data no longer
    declared (and so no longer audited or checked for tenant isolation).
    Evidences: HIPAA 45 CFR 164.308(a)(8) (evaluation), 164.312(a)(1) (access control)
    """
    live = {op.name: op.facts() for op in inventory.operations}
    before = recorded(baseline, "routes")
    if isinstance(before, dict):
        problems = _differences(before, live)
        assert not problems, "; ".join(problems)
    baseline.exact("routes", live)
    baseline.exact("role ladder", inventory.roles)
