"""The route inventory catches routes nobody reviewed: a real docpipe with ``unlisted_route``
fails the inventory check against the committed baseline, naming the route, and a baseline
recorded with that route fails it on a clean docpipe as a route gone. The suites run as an
operator runs them (pytest in a subprocess), failures read from JUnit XML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docpipe.control import run_docpipe

from .mutated_docpipe import failures
from .suite_runner import deploy, run_suites

pytestmark = pytest.mark.xdist_group("route-inventory")  # one deployment for the module

CHECK = "suites/application/test_inventory.py::test_the_route_inventory_matches_the_baseline"
# The read-only checks the inventory drives, beside the inventory check itself.
DRIVEN = [
    "suites/security/test_authentication.py::test_a_protected_route_answers_401_without_"
    "credentials",
    "suites/security/test_authorization.py::test_a_lower_role_is_refused_every_route_above_"
    "its_rank",
    "suites/security/test_route_headers.py",
]
ROUTE = "GET /debug/routes"
SUITE_TIMEOUT_S = 180


class Platform:
    def __init__(self, home: Path, config: Path) -> None:
        self.home, self.config = home, config

    def run(self, reports: Path, *selection: str, baseline: Path | str) -> dict[str, str]:
        """Run ``selection``; failure text of each failed check (``module::function``)."""
        junit = reports / "junit.xml"
        result = run_suites(
            *selection,
            config=self.config,
            baseline=baseline,
            summary=reports / "summary.json",
            extra=[f"--junitxml={junit}"],
            timeout=SUITE_TIMEOUT_S,
        )
        assert junit.exists(), result.stdout[-3000:] + result.stderr[-3000:]
        return failures(junit)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    base = tmp_path_factory.mktemp("route-inventory")
    home = base / "home"
    result = run_docpipe(home, "up", "--ports", "auto", "--workers", "1")
    assert result.returncode == 0, result.stderr
    try:
        generated = run_docpipe(home, "prodval-config")
        assert generated.returncode == 0, generated.stderr
        config = base / "prodval.yaml"
        config.write_text(generated.stdout)
        yield Platform(home, config)
    finally:
        run_docpipe(home, "down")


def test_a_route_not_in_the_baseline_fails_the_inventory_check_naming_it(
    platform: Platform, tmp_path: Path
) -> None:
    deploy(platform.home)
    clean = platform.run(tmp_path, CHECK, *DRIVEN, baseline="baselines/local.json")
    assert clean == {}, clean
    deploy(platform.home, "unlisted_route")
    (tmp_path / "fault").mkdir()
    failed = platform.run(tmp_path / "fault", CHECK, *DRIVEN, baseline="baselines/local.json")
    # A public debug route asks for no credentials, so only the inventory knows it is new.
    assert set(failed) == {CHECK}, failed
    assert failed[CHECK].splitlines()[0] == f"AssertionError: route not in baseline: {ROUTE}"


def test_a_route_gone_from_the_target_fails_the_inventory_check_naming_it(
    platform: Platform, tmp_path: Path
) -> None:
    recorded = tmp_path / "with-debug-route.json"
    deploy(platform.home, "unlisted_route")
    (tmp_path / "record").mkdir()
    assert platform.run(tmp_path / "record", CHECK, "--record-baseline", baseline=recorded) == {}
    deploy(platform.home)
    failed = platform.run(tmp_path, CHECK, baseline=recorded)
    assert failed[CHECK].splitlines()[0] == f"AssertionError: route gone: {ROUTE}"
