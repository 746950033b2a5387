"""An API that cannot be reached at all: said once, and its checks fail at once with why."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .fake_servers import http_server

CHECKS = """
def test_health(api):
    api.get("/health")


def test_ready(api_anonymous):
    api_anonymous.get("/ready")


def test_plain():
    assert True


def test_uses_the_target_only(target):
    assert target.name == "local"
"""


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port nothing listens on (bound, never listening, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def project_at(pytester: pytest.Pytester, port: int) -> None:
    pytester.makefile(
        ".yaml",
        prodval=f"environments:\n  local:\n    api:\n      base_url: http://127.0.0.1:{port}\n",
    )
    pytester.makepyfile(test_checks=CHECKS)


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_unreachable_api_is_said_once_and_its_checks_fail_at_once(
    pytester: pytest.Pytester, refused_port: int, extra: list[str]
) -> None:
    # Before: each check made its own attempt and printed the same "connection refused" line.
    project_at(pytester, refused_port)
    result = pytester.runpytest("--target-env=local", "-rE", *extra)
    result.assert_outcomes(passed=2, errors=2)
    out = result.stdout.str()
    header = (
        f"prodval: api UNREACHABLE: cannot connect to api (http://127.0.0.1:{refused_port}): "
        "connection refused; the checks that use the API fail at once with this line"
    )
    assert out.count(header) == 1, out
    reason = (
        f"cannot connect to api (http://127.0.0.1:{refused_port}): connection refused "
        "(at the session's start; not tried again)"
    )
    # The error sections of test_health and test_ready (the short summary repeats it, cut to
    # the width except on CI, where pytest does not cut it).
    said = f"pytest_prodval.TargetUnreachable: {reason}"
    assert result.outlines.count(said) == 2, out
    assert "Traceback" not in out


def test_an_api_that_answers_is_left_to_its_checks(pytester: pytest.Pytester) -> None:
    # Any answer, a 503 too, is the checks' to judge: only a connection never made is a stop.
    with http_server(lambda method, path: (503, b"down for maintenance")) as url:
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        project_at(pytester, port)
        result = pytester.runpytest("--target-env=local")
    result.assert_outcomes(passed=4)
    assert "UNREACHABLE" not in result.stdout.str()
