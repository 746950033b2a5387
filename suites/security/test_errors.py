"""Error answers: provoked safely, each must be a 4xx that gives nothing away.

No stack traces, source paths, framework names or versions in bodies or headers, and no
``Server`` header with a version on any answer. The probes only read, or send requests that
are refused before anything is stored; the two that go to the upload route are synthetic
(should one be accepted after all, the synthetic fixture erases what it created).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from ._support import ClientFor, authority, grouped, leaks, random_id, raw_exchange

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.security]

_BAD_JSON_TOKEN = (
    base64.urlsafe_b64encode(b'{"alg":"HS256"').decode().rstrip("=")
    + "."
    + base64.urlsafe_b64encode(b"{not json").decode().rstrip("=")
    + ".c2ln"
)
# name -> (method, path, which client, extra headers): requests that must fail with a 4xx.
PROBES: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "unknown route": ("GET", "/prodval-no-such-route", "anonymous", {}),
    "method not allowed": ("PUT", "/health", "anonymous", {}),
    "malformed document id": ("GET", "/documents/not-a-uuid", "viewer", {}),
    "overlong document id": ("GET", "/documents/" + "9" * 4000, "viewer", {}),
    "encoded junk in path": ("GET", "/documents/%00%ff%2e%2e%2fetc", "viewer", {}),
    "bad query parameter": ("GET", "/audit?limit=not-a-number", "admin", {}),
    "bad timestamp": ("GET", "/audit?since=yesterday-ish", "admin", {}),
    "token with broken JSON": (
        "GET",
        "/documents/{id}",
        "anonymous",
        {"Authorization": f"Bearer {_BAD_JSON_TOKEN}"},
    ),
    "oversized api key": ("GET", "/documents/{id}", "anonymous", {"X-API-Key": "k" * 6000}),
    "odd content type on a read": (
        "GET",
        "/documents/{id}",
        "viewer",
        {"Content-Type": "multipart/form-data; boundary=; charset=x-unknown"},
    ),
}


def _summary(name: str, status: int, found: list[str]) -> list[tuple[str, str]]:
    problems = [(name, finding) for finding in found]
    if not 400 <= status < 500:
        problems.append((name, f"answered {status}, expected a 4xx"))
    return problems


def _clients(anonymous: httpx.Client, client_for: ClientFor) -> dict[str, httpx.Client]:
    return {"anonymous": anonymous, "viewer": client_for("viewer"), "admin": client_for("admin")}


def test_provoked_errors_are_4xx_without_traces_or_versions(
    anonymous: httpx.Client, client_for: ClientFor, baseline: Baseline
) -> None:
    """Provoked errors (bad routes, methods, ids, parameters, credentials) are clean 4xx.

    No stack trace, source path, framework name or version in body or headers.

    Guards against: verbose error pages and version banners that hand an attacker the stack
    (`leaky_errors` sends `Server: docpipe/<version> Python/<version>` on every answer).
    Evidences: OWASP ASVS 7.4.1 (generic error messages)
    """
    clients = _clients(anonymous, client_for)
    statuses: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for name, (method, path, who, headers) in PROBES.items():
        response = clients[who].request(method, path.format(id=random_id()), headers=headers)
        statuses[name] = response.status_code
        problems += _summary(name, response.status_code, leaks(response.text, response.headers))
    assert not problems, "error answers leak or are not 4xx:\n  " + grouped(problems)
    baseline.exact("statuses", statuses)


def test_no_answer_names_the_server_software_or_its_version(anonymous: httpx.Client) -> None:
    """Successful answers (health, version) carry no versioned Server header, no X-Powered-By.

    Guards against: a version banner on every response (`leaky_errors`), the first thing a
    scanner looks up in vulnerability databases.
    Evidences: OWASP ASVS 14.3.3 (no detailed version information in headers)
    """
    problems = []
    for path in ("/health", "/version"):
        response = anonymous.get(path)
        problems += [(f"GET {path}", finding) for finding in leaks("", response.headers)]
    assert not problems, "answers fingerprint the server:\n  " + grouped(problems)


def test_a_broken_request_line_is_refused_without_details(
    target: TargetEnv, baseline: Baseline
) -> None:
    """A request line that is not HTTP answers 400 from the server, with nothing given away.

    Guards against: the HTTP server's own error page exposing its name or version.
    Evidences: OWASP ASVS 14.3.3 (no detailed version information)
    """
    host, prefix = authority(target.api.base_url)
    answer = raw_exchange(
        target.api.base_url,
        f"GET {prefix}/health HTTP/1.1 EXTRA\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(),
        timeout=target.api.timeout,
        ca_file=target.api.ca_file,
        verify=target.api.verify_tls,
    )
    problems = _summary("broken request line", answer.status, leaks(answer.body, answer.headers))
    assert not problems, grouped(problems)
    baseline.exact("status", answer.status)


@pytest.mark.synthetic
def test_refused_uploads_answer_4xx_without_details(
    synthetic: SyntheticDocuments, target: TargetEnv, client_for: ClientFor, baseline: Baseline
) -> None:
    """Uploads with a broken multipart body or a declared 2 GB body get a 4xx giving nothing away.

    The 2 GB one is refused on its headers, before a byte of body is sent.

    Guards against: parser exceptions surfacing as 500s with traces (`leaky_errors`), and an
    upload size limit that is gone.
    Evidences: OWASP ASVS 7.4.1 (generic error messages), 12.1.1 (upload size limits)
    """
    broken = synthetic.upload(b"--nope\r\n\r\n", content_type="multipart/form-data; boundary=zz")
    operator = client_for("operator")
    auth = "".join(
        f"{name}: {value}\r\n"
        for name, value in operator.headers.items()
        if name.lower() in ("x-api-key", "authorization", target.api.api_key_header.lower())
    )
    host, prefix = authority(target.api.base_url)
    large = raw_exchange(
        target.api.base_url,
        (
            f"POST {prefix}/documents HTTP/1.1\r\nHost: {host}\r\n{auth}"
            "Content-Type: text/plain\r\nX-Subject-Id: prodval-security-oversize\r\n"
            "Content-Length: 2000000000\r\nConnection: close\r\n\r\n"
        ).encode(),
        timeout=target.api.timeout,
        ca_file=target.api.ca_file,
        verify=target.api.verify_tls,
    )
    problems = _summary("broken multipart", broken.status_code, leaks(broken.text, broken.headers))
    problems += _summary("declared 2 GB", large.status, leaks(large.body, large.headers))
    assert not problems, "refused uploads:\n  " + grouped(problems)
    baseline.exact("statuses", {"broken multipart": broken.status_code, "2 GB": large.status})
