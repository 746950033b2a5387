"""Transport security: protocol versions, the certificate, and HSTS.

Each check opens its own connection with the stdlib ``ssl`` module, bounded by the API
timeout. Expectations come from ``tls:`` in prodval.yaml (``min_version``, ``cert_min_days``,
``hsts``); the CA is ``api.ca_file`` or the system's trust store.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from typing import Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from ._support import endpoint, reaching, tls_context

pytestmark = [pytest.mark.security]

VERSION_ORDER = {"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}
# OpenSSL reasons meaning the client never sent a ClientHello it was asked for.
CLIENT_CANNOT_OFFER = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE")


def _https(target: TargetEnv) -> tuple[str, int]:
    scheme, host, port = endpoint(target.api.base_url)
    if scheme != "https":
        if target.tls.required:
            pytest.fail(
                f"tls.required is true but api.base_url is {scheme}:// - the API is not "
                "served over TLS"
            )
        pytest.skip(f"api.base_url is {scheme}://; no TLS to inspect")
    return host, port


def _handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float
) -> tuple[str | None, dict[str, Any]]:
    """(negotiated version, verified peer certificate) of one TLS handshake."""
    with (
        reaching(f"https://{host}:{port}", timeout),
        socket.create_connection((host, port), timeout=timeout) as plain,
        context.wrap_socket(plain, server_hostname=host) as tls,
    ):
        return tls.version(), tls.getpeercert() or {}


@pytest.fixture(scope="module")
def verified_handshake(target: TargetEnv) -> tuple[str | None, dict[str, Any]]:
    """One handshake with default client settings, verifying chain and host name."""
    host, port = _https(target)
    if not target.api.verify_tls:
        pytest.skip("api.verify_tls is false: the certificate cannot be judged")
    try:
        return _handshake(host, port, tls_context(target.api.ca_file), target.api.timeout)
    except ssl.SSLCertVerificationError as exc:
        pytest.fail(
            f"the certificate of {host}:{port} does not verify against "
            f"{target.api.ca_file or 'the system trust store'}: {exc.verify_message}"
        )


@pytest.mark.parametrize("legacy", ["TLSv1", "TLSv1.1"])
def test_a_legacy_tls_handshake_is_refused(target: TargetEnv, legacy: str) -> None:
    """A client that offers only TLS 1.0 or 1.1 cannot complete a handshake.

    Guards against: a server or load balancer re-enabling protocols with known weaknesses
    (BEAST, POODLE-era downgrades).
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security); NIST SP 800-52r2
    """
    host, port = _https(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the point is to use them
        version = ssl.TLSVersion.TLSv1 if legacy == "TLSv1" else ssl.TLSVersion.TLSv1_1
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only the protocol is on trial here
        try:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = version
            context.maximum_version = version
        except (ssl.SSLError, ValueError) as exc:
            pytest.skip(f"this machine's OpenSSL cannot be set to offer {legacy}: {exc}")
    try:
        negotiated, _ = _handshake(host, port, context, target.api.timeout)
    except ssl.SSLError as exc:
        if any(reason in str(exc.reason or exc) for reason in CLIENT_CANNOT_OFFER):
            pytest.skip(f"this machine's OpenSSL refuses to offer {legacy} ({exc.reason})")
        return  # the server refused: as it should
    except (ConnectionResetError, BrokenPipeError):
        return  # dropped mid-handshake: refused
    pytest.fail(f"{host}:{port} completed a {negotiated} handshake offered only {legacy}")


def test_the_negotiated_tls_version_meets_the_minimum(
    target: TargetEnv, verified_handshake: tuple[str | None, dict[str, Any]], baseline: Baseline
) -> None:
    """A default client negotiates at least ``tls.min_version``.

    Guards against: a server capped at an old protocol version (a downgraded TLS terminator).
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    negotiated, _ = verified_handshake
    minimum = target.tls.min_version
    assert negotiated in VERSION_ORDER, f"negotiated {negotiated}, not a known TLS version"
    # As numbers (TLSv1.2 is 1.2), so that the minimum is a limit.
    baseline.limit(
        "tls version",
        VERSION_ORDER[negotiated] / 10,
        at_least=VERSION_ORDER[minimum] / 10,
        source=f"tls.min_version {minimum} in prodval.yaml",
        note=f"negotiated {negotiated}",
    )


def test_the_certificate_verifies_and_is_far_from_expiry(
    target: TargetEnv, verified_handshake: tuple[str | None, dict[str, Any]], baseline: Baseline
) -> None:
    """The server certificate verifies and expires more than ``tls.cert_min_days`` from now.

    Verified: the chain against the configured CA (or system store) and the host name.

    Guards against: a certificate about to expire without renewal (`cert_expiring`), and an
    untrusted or mismatched certificate.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    _, certificate = verified_handshake
    not_after = certificate.get("notAfter")
    assert not_after, "the verified peer certificate has no notAfter"
    days_left = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
    baseline.limit(
        "certificate validity",
        round(days_left, 1),
        at_least=target.tls.cert_min_days,  # as the infrastructure suite's expiry check
        unit="days",
        source="tls.cert_min_days in prodval.yaml",
        note=f"the API certificate expires {not_after}",
    )


def test_hsts_is_sent_over_https(
    target: TargetEnv, anonymous: httpx.Client, baseline: Baseline
) -> None:
    """HTTPS answers carry Strict-Transport-Security with a max-age of at least 180 days.

    Guards against: HSTS dropped by a proxy or config change (`weak_headers`), which lets a
    first plain-HTTP request be intercepted.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    _https(target)
    if not target.tls.hsts:
        pytest.skip("tls.hsts is false for this environment")
    response = anonymous.get("/health")
    value = response.headers.get("strict-transport-security")
    assert value, (
        f"GET /health over HTTPS (answered {response.status_code}) has no "
        "Strict-Transport-Security header"
    )
    directives = {
        part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2]
        for part in value.split(";")
        if part.strip()
    }
    max_age = directives.get("max-age", "")
    assert max_age.isdigit(), f"Strict-Transport-Security {value!r}: no numeric max-age"
    baseline.limit(
        "hsts max-age",
        int(max_age),
        at_least=180 * 86400,
        unit="s",
        source="180 days, the HSTS preload minimum",
        note=f"Strict-Transport-Security {value!r}",
    )
