"""Liveness, readiness and version: the first questions a deploy check asks of the API.

Params: ``expected_release`` (required; compared as a string with /version's ``release``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

if TYPE_CHECKING:
    from .conftest import ReadyReport

pytestmark = [pytest.mark.application]

READY_OPTIONAL = [f"$.components.{name}.error" for name in ("database", "storage", "workers")]
READY_OPTIONAL += [f"$.components.{name}.error" for name in ("parser", "embedder")]


def test_health_answers_200_with_the_baseline_body(api: httpx.Client, baseline: Baseline) -> None:
    """GET /health answers 200 with the same body as the baseline.

    Guards against: a process that is up but unhealthy, or a liveness contract that changed.
    """
    response = api.get("/health")
    assert response.status_code == 200, (
        f"GET /health answered {response.status_code} (expected 200): {response.text[:200]}"
    )
    baseline.exact("body", response.json())


def test_ready_reports_every_component_ok(ready_report: ReadyReport, baseline: Baseline) -> None:
    """GET /ready answers 200 with every component (database, storage, workers, ...) ok.

    Guards against: a deploy whose dependencies are down or unreachable (`worker_stalled` once
    heartbeats are stale); a component that disappeared from the readiness report.
    """
    components = ready_report.components
    failing = {
        name: component.get("error", "ok is false")
        for name, component in components.items()
        if not (isinstance(component, dict) and component.get("ok") is True)
    }
    status_code = ready_report.status_code
    assert status_code == 200 and not failing, (
        f"GET /ready answered {status_code} "
        f"(status {ready_report.body.get('status')!r}); failing components: "
        + (", ".join(f"{name} ({error})" for name, error in failing.items()) or "none listed")
    )
    baseline.exact("components", sorted(components))
    baseline.shape("body", ready_report.body, optional=READY_OPTIONAL)


def test_version_reports_the_expected_release(
    api: httpx.Client, params: dict[str, Any], target: TargetEnv, baseline: Baseline
) -> None:
    """GET /version reports the expected release, the baseline's shape and a matching schema.

    Guards against: the old release still serving after a deploy, a half-applied migration
    (`migration_behind`), a changed /version contract.
    """
    if "expected_release" not in params:
        pytest.fail(
            f"params.expected_release is not set (prodval.yaml: "
            f"environments.{target.name}.params.expected_release); it names the release "
            "this deployment must run"
        )
    response = api.get("/version")
    assert response.status_code == 200, (
        f"GET /version answered {response.status_code} (expected 200): {response.text[:200]}"
    )
    body = response.json()
    expected = str(params["expected_release"])
    assert str(body.get("release")) == expected, (
        f"/version reports release {body.get('release')!r}; expected {expected!r} "
        "(params.expected_release)"
    )
    baseline.shape("body", body)
    schema, expected_schema = body.get("schema_version"), body.get("expected_schema_version")
    assert schema == expected_schema, (
        f"/version: database schema version {schema} differs from the version release "
        f"{expected} expects ({expected_schema})"
    )
