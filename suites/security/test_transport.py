"""Transport security: protocol versions, ciphers, the certificate, and HSTS.

Each check opens its own connections with the stdlib ``ssl`` module, bounded by the API
timeout. The floors come from ``tls:`` in prodval.yaml (``min_version``, ``cert_min_days``,
``hsts``); the CA is ``api.ca_file`` or the system's trust store. Besides the floors, the TLS
parameters a deployment's policy sets are compared with the baseline: the versions and TLS 1.2
ciphers it accepts, what a default client negotiates, the certificate's key and signature
algorithm and the length of the chain the server sends (not expiry dates or serials, which
change with every renewal). Accepted ciphers are those this machine's OpenSSL can offer, so a
baseline is compared from the machine that recorded it (or one with the same OpenSSL).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import time
import warnings
from typing import Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from ._support import endpoint, reaching, tls_context
from ._x509 import certificate_policy

pytestmark = [pytest.mark.security]

VERSION_ORDER = {"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}
TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# OpenSSL reasons meaning the client never sent a ClientHello it was asked for.
CLIENT_CANNOT_OFFER = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE")
# Every cipher this OpenSSL has, weak ones included: what a server accepts is on trial.
EVERY_CIPHER = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
# Key exchanges that need a pre-shared key or password the check does not have.
_NEEDS_SECRET = ("psk", "srp")


@dataclasses.dataclass(frozen=True)
class Handshake:
    """What one completed TLS handshake showed of the server."""

    version: str | None
    cipher: str | None
    certificate: dict[str, Any]  # decoded by ssl; empty unless the chain was verified
    der: bytes | None  # the server certificate as sent
    chain_length: int | None  # certificates the server sent; None where ssl cannot tell


class ClientCannotOffer(Exception):
    """This machine's OpenSSL cannot send the ClientHello asked for (a local limit)."""


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


def _sent_chain_length(tls: ssl.SSLSocket) -> int | None:
    # Public from Python 3.13; the same method on the private object before that.
    chain = getattr(tls, "get_unverified_chain", None) or getattr(
        getattr(tls, "_sslobj", None), "get_unverified_chain", None
    )
    return None if chain is None else len(chain() or [])


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> Handshake:
    """One TLS handshake with ``context``: what it negotiated and the server's certificate."""
    with (
        reaching(f"https://{host}:{port}", timeout),
        socket.create_connection((host, port), timeout=timeout) as plain,
        context.wrap_socket(plain, server_hostname=host) as tls,
    ):
        cipher = tls.cipher()
        return Handshake(
            version=tls.version(),
            cipher=cipher[0] if cipher else None,
            certificate=tls.getpeercert() or {},
            der=tls.getpeercert(binary_form=True),
            chain_length=_sent_chain_length(tls),
        )


def _probe_context(version: str, ciphers: str = EVERY_CIPHER) -> ssl.SSLContext:
    """A client offering only ``version`` (and ``ciphers`` below TLS 1.3), verifying nothing:
    only what the server accepts is on trial. Raises ClientCannotOffer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the point is to use old ones
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            context.set_ciphers(ciphers)
            context.minimum_version = TLS_VERSIONS[version]
            context.maximum_version = TLS_VERSIONS[version]
        except (ssl.SSLError, ValueError) as exc:
            raise ClientCannotOffer(f"cannot be set to offer {version}: {exc}") from None
    return context


def _offer(host: str, port: int, context: ssl.SSLContext, timeout: float) -> Handshake | None:
    """The handshake, or None when the server refused it. Raises ClientCannotOffer."""
    try:
        return _handshake(host, port, context, timeout)
    except ssl.SSLError as exc:
        if any(reason in str(exc.reason or exc) for reason in CLIENT_CANNOT_OFFER):
            raise ClientCannotOffer(f"refuses to offer it ({exc.reason})") from None
        return None  # the server refused
    except (ConnectionResetError, BrokenPipeError):
        return None  # dropped mid-handshake: refused


@pytest.fixture(scope="module")
def verified_handshake(target: TargetEnv) -> Handshake:
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
    try:
        answered = _offer(host, port, _probe_context(legacy), target.api.timeout)
    except ClientCannotOffer as exc:
        pytest.skip(f"this machine's OpenSSL {exc}")
    if answered is not None:
        pytest.fail(f"{host}:{port} completed a {answered.version} handshake offered only {legacy}")


def test_the_negotiated_tls_version_meets_the_minimum(
    target: TargetEnv, verified_handshake: Handshake, baseline: Baseline
) -> None:
    """A default client negotiates at least ``tls.min_version``.

    Guards against: a server capped at an old protocol version (a downgraded TLS terminator).
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    negotiated = verified_handshake.version
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
    target: TargetEnv, verified_handshake: Handshake, baseline: Baseline
) -> None:
    """The server certificate verifies and expires more than ``tls.cert_min_days`` from now.

    Verified: the chain against the configured CA (or system store) and the host name.

    Guards against: a certificate about to expire without renewal (`cert_expiring`), and an
    untrusted or mismatched certificate.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    certificate = verified_handshake.certificate
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


def test_the_negotiated_tls_parameters_and_the_certificate_key_match_the_baseline(
    verified_handshake: Handshake, baseline: Baseline
) -> None:
    """A default client negotiates the baseline's version and cipher; the certificate has the
    baseline's key type, key size and signature algorithm, and comes in a chain as long.

    Guards against: a TLS terminator or certificate replaced by a weaker one that the floors
    allow (an RSA key for an EC one, a SHA-1 signature, a cipher without forward secrecy), a
    chain sent without its intermediates.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security); NIST SP 800-52r2
    """
    handshake = verified_handshake
    assert handshake.der, "the verified handshake returned no server certificate"
    try:
        policy = certificate_policy(handshake.der)
    except ValueError as exc:
        pytest.fail(f"the server certificate cannot be read: {exc}")
    baseline.exact(
        "tls parameters",
        {
            "version": handshake.version,
            "cipher": handshake.cipher,
            "chain_length": handshake.chain_length,
            **policy.to_json(),
        },
    )


def _accepted_versions(host: str, port: int, timeout: float) -> dict[str, str]:
    """Each TLS version offered alone: accepted, refused, or not offered (a local limit)."""
    outcomes = {}
    for version in TLS_VERSIONS:
        try:
            answered = _offer(host, port, _probe_context(version), timeout)
        except ClientCannotOffer:
            outcomes[version] = "not offered by this client"
            continue
        outcomes[version] = "refused" if answered is None else "accepted"
    return outcomes


def _accepted_tls12_ciphers(host: str, port: int, timeout: float) -> dict[str, str]:
    """Every TLS 1.2 cipher the server accepts of those this client can offer.

    Offered all at once, the server picks one; it is dropped from the offer and the server
    asked again, until it refuses: as many handshakes as it accepts ciphers, plus one.
    """
    candidates = [
        c["name"]
        for c in _probe_context("TLSv1.2").get_ciphers()
        if c["protocol"] != "TLSv1.3" and not any(s in c["kea"] for s in _NEEDS_SECRET)
    ]
    accepted: dict[str, str] = {}
    while candidates:
        try:
            answered = _offer(host, port, _probe_context("TLSv1.2", ":".join(candidates)), timeout)
        except ClientCannotOffer:
            break
        if answered is None or answered.cipher not in candidates:
            break
        accepted[answered.cipher] = "accepted"
        candidates.remove(answered.cipher)
    return accepted


def test_the_accepted_tls_versions_and_ciphers_match_the_baseline(
    target: TargetEnv, baseline: Baseline
) -> None:
    """The TLS versions the server accepts, each offered alone, and the TLS 1.2 ciphers it
    accepts are the baseline's.

    Guards against: a cipher list or protocol range opened up within the floors (CBC or SHA-1
    suites, no forward secrecy, anonymous or NULL ciphers), TLS 1.2 switched off for clients
    that need it.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security); NIST SP 800-52r2
    """
    host, port = _https(target)
    timeout = float(target.api.timeout)
    versions = _accepted_versions(host, port, timeout)
    baseline.exact("accepted versions", versions)
    ciphers = (
        _accepted_tls12_ciphers(host, port, timeout) if versions["TLSv1.2"] == "accepted" else {}
    )
    baseline.exact("accepted TLS 1.2 ciphers", ciphers)
