"""The public API: ``pytest_prodval`` exports what checks annotate, loads it lazily, and the
fixtures hand out exactly those types."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_prodval
from pytest_prodval import errors

# What the pytest entry point must not pull into every pytest run of the venv.
HEAVY = ("numpy", "scipy", "pydantic", "yaml", "httpx", "matplotlib", "locust", "gevent")


def test_every_name_in_all_resolves_and_dir_lists_it() -> None:
    for name in pytest_prodval.__all__:
        assert getattr(pytest_prodval, name) is not None, name
    assert set(pytest_prodval.__all__) <= set(dir(pytest_prodval))


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        pytest_prodval.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_every_error_is_exported_and_derives_from_prodval_error() -> None:
    for name in errors.__all__:
        cls = getattr(pytest_prodval, name)
        assert cls is getattr(errors, name)
        assert issubclass(cls, pytest_prodval.ProdvalError)


def test_the_exported_names_are_the_implementations_not_copies() -> None:
    from pytest_prodval.baseline.assertions import Baseline
    from pytest_prodval.config import TargetEnv
    from pytest_prodval.load.fixture import LoadRunner

    assert pytest_prodval.Baseline is Baseline
    assert pytest_prodval.TargetEnv is TargetEnv
    assert pytest_prodval.LoadRunner is LoadRunner


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, json, pytest_prodval; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_fixtures_hand_out_the_public_types(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_types="""
        import pytest_prodval as pv

        def test_types(target, baseline, prodval_load):
            assert isinstance(target, pv.TargetEnv)
            assert isinstance(target.slo, pv.SloConfig)
            assert isinstance(baseline, pv.Baseline)
            assert isinstance(prodval_load, pv.LoadRunner)
            assert isinstance(prodval_load.profile, pv.EffectiveProfile)
            verdict = baseline.exact("answer", 42)
            assert isinstance(verdict, pv.Verdict)
            assert verdict.status in (pv.Status.RECORDED, pv.Status.PASSED)
            print("provenance:", baseline.provenance)
        """
    )
    first = project.runpytest("--target-env=local", "--record-baseline", "-s")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*provenance: None*"])
    second = project.runpytest("--target-env=local", "-s")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*provenance: Provenance(environment='local'*"])


def test_a_distribution_comparison_draws_its_chart_and_names_its_attachments(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_latency="""
        from pathlib import Path

        def test_latency(baseline):
            report = Path("locust.html")
            report.write_text("<html></html>")
            samples = [10.0 + (i % 7) for i in range(60)]
            baseline.distribution(
                "latency of GET /x", samples, unit="ms", attachments={"locust_report": report}
            )
        """
    )
    summary = project.path / "out" / "summary.json"
    project.runpytest(
        "--target-env=local", "--record-baseline", f"--prodval-summary={summary}"
    ).assert_outcomes(passed=1)
    project.runpytest("--target-env=local", f"--prodval-summary={summary}").assert_outcomes(
        passed=1
    )
    (comparison,) = json.loads(summary.read_text())["comparisons"]
    chart = Path(comparison["evidence"]["chart"])
    assert chart.parent == project.path / "out" / "charts"
    assert chart.name.startswith("latency-of-get-x-") and chart.suffix == ".svg"
    assert "baseline (n=60)" in chart.read_text() and "target (n=60)" in chart.read_text()
    assert comparison["evidence"]["locust_report"] == "locust.html"
