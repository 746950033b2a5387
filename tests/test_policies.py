"""Policies compared with the baseline: security header values byte for byte, TLS parameters.

A real docpipe records the baseline of the header and transport checks; the same checks then
judge the `weak_headers` fault and a docpipe built from changed source whose weakening every
floor allows (HSTS max-age at the 180-day minimum, one more CSP frame ancestor, X-Frame-Options
SAMEORIGIN, the OpenSSL default cipher list with its SHA-1 suites). The certificate reader is
tested on certificates of both key types.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from docpipe.control import run_docpipe

from suites.security._x509 import CertificatePolicy, certificate_policy

from .mutated_docpipe import Mutation, docpipe_from, failures, mutated_source, outcomes, runs_from
from .suite_runner import deploy, run_suites

pytestmark = pytest.mark.xdist_group("policies")  # one deployment for the module

CHECKS = ("suites/security/test_headers.py", "suites/security/test_transport.py")
SUITE_TIMEOUT_S = 180
HEADERS = "suites/security/test_headers.py::"
TRANSPORT = "suites/security/test_transport.py::"
EVERY_ANSWER = HEADERS + "test_every_kind_of_answer_carries_the_security_headers"
DOCUMENT_DATA = HEADERS + "test_document_data_is_never_cached"
HSTS_FLOOR = TRANSPORT + "test_hsts_is_sent_over_https"
NEGOTIATED = (
    TRANSPORT + "test_the_negotiated_tls_parameters_and_the_certificate_key_match_the_baseline"
)
ACCEPTED = TRANSPORT + "test_the_accepted_tls_versions_and_ciphers_match_the_baseline"

HSTS = "max-age=31536000; includeSubDomains"
WEAK_HSTS = "max-age=15552000; includeSubDomains"
CSP = "default-src 'none'; frame-ancestors 'none'"
WEAK_CSP = "default-src 'none'; frame-ancestors 'self' https://portal.example"
# Each weakening passes the floors: HSTS >= 180 days, CSP with frame-ancestors, DENY or
# SAMEORIGIN, TLS >= 1.2 and legacy versions still refused.
WITHIN_THE_FLOORS: Mutation = {
    "docpipe/api/security.py": [
        (f'"{HSTS}"', f'"{WEAK_HSTS}"'),
        (f'"{CSP}"', f'"{WEAK_CSP}"'),
        ('("x-frame-options", "DENY")', '("x-frame-options", "SAMEORIGIN")'),
    ],
    "docpipe/api/__main__.py": [
        (
            "        ssl_keyfile=keyfile,\n",
            '        ssl_keyfile=keyfile,\n        ssl_ciphers="DEFAULT",\n',
        )
    ],
}


# --- the certificate reader --------------------------------------------------------------


def _leaf_der(key_type: trustme.KeyType) -> bytes:
    ca = trustme.CA(key_type=key_type)
    pem = ca.issue_cert("127.0.0.1", key_type=key_type).cert_chain_pems[0].bytes().decode()
    return ssl.PEM_cert_to_DER_cert(pem)


def test_the_certificate_reader_names_the_key_and_signature_of_an_ec_certificate() -> None:
    assert certificate_policy(_leaf_der(trustme.KeyType.ECDSA)) == CertificatePolicy(
        "ec", 256, "secp256r1", "ecdsa-with-SHA256"
    )


def test_the_certificate_reader_names_the_key_size_and_signature_of_an_rsa_certificate() -> None:
    assert certificate_policy(_leaf_der(trustme.KeyType.RSA)) == CertificatePolicy(
        "rsa", 2048, None, "sha256WithRSAEncryption"
    )


@pytest.mark.parametrize("cut", [0, 1, 10, 200])
def test_the_certificate_reader_refuses_a_truncated_certificate_in_one_line(cut: int) -> None:
    der = _leaf_der(trustme.KeyType.ECDSA)
    with pytest.raises(ValueError, match=r"^DER: "):
        certificate_policy(der[:cut])


# --- against docpipe ---------------------------------------------------------------------


class Deployment:
    def __init__(self, home: Path, config: Path, reports: Path) -> None:
        self.home, self.config, self.reports = home, config, reports

    def run(self, label: str, baseline: Path, *extra: str) -> tuple[dict[str, str], str]:
        """The header and transport checks: (outcome of each, pytest's output)."""
        junit = self.reports / f"{label}.xml"
        result = run_suites(
            *CHECKS,
            config=self.config,
            baseline=baseline,
            summary=self.reports / f"{label}-summary.json",
            extra=[f"--junitxml={junit}", *extra],
            timeout=SUITE_TIMEOUT_S,
        )
        assert junit.exists(), result.stdout[-3000:] + result.stderr[-3000:]
        return outcomes(junit), result.stdout


def _configured(home: Path, reports: Path, source: Path | None = None) -> Deployment:
    generated = (
        run_docpipe(home, "prodval-config")
        if source is None
        else docpipe_from(source, home, "prodval-config")
    )
    assert generated.returncode == 0, generated.stderr
    config = reports / f"{home.name}.yaml"
    config.write_text(generated.stdout)
    return Deployment(home, config, reports)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Path]]:
    """docpipe as released, and the baseline of the checks recorded on it."""
    base = tmp_path_factory.mktemp("policies")
    home = base / "clean"
    started = run_docpipe(home, "up", "--ports", "auto", "--workers", "1")
    assert started.returncode == 0, started.stderr
    try:
        deployment = _configured(home, base)
        baseline = base / "baseline.json"
        recorded, output = deployment.run("record", baseline, "--record-baseline")
        assert set(recorded.values()) == {"passed"}, output[-4000:]
        yield deployment, baseline
    finally:
        run_docpipe(home, "down")


def test_the_policy_checks_pass_against_the_deployment_they_were_recorded_on(
    clean: tuple[Deployment, Path],
) -> None:
    deployment, baseline = clean
    results, output = deployment.run("compare", baseline)
    assert set(results.values()) == {"passed"}, output[-4000:]
    assert any(name.startswith(ACCEPTED) for name in results), sorted(results)


def test_missing_security_headers_fail_the_floors_and_the_baseline(
    clean: tuple[Deployment, Path],
) -> None:
    deployment, baseline = clean
    deploy(deployment.home, "weak_headers")
    try:
        results, output = deployment.run("weak-headers", baseline)
    finally:
        deploy(deployment.home)
    failed = {name for name, outcome in results.items() if outcome == "failed"}
    assert {EVERY_ANSWER, DOCUMENT_DATA, HSTS_FLOOR} <= failed, output[-4000:]


def test_policies_weakened_within_the_floors_fail_naming_the_header_and_both_values(
    clean: tuple[Deployment, Path], tmp_path: Path
) -> None:
    _, baseline = clean
    source = mutated_source(tmp_path, WITHIN_THE_FLOORS)
    home = tmp_path / "mutant"
    started = docpipe_from(source, home, "up", "--ports", "auto", "--workers", "1")
    assert started.returncode == 0, started.stderr
    try:
        deployment = _configured(home, tmp_path, source)
        api_pid = json.loads((home / "state.json").read_text())["components"]["api"]["pid"]
        assert runs_from(source, api_pid), "the mutant's API does not run the changed source"
        results, output = deployment.run("within-the-floors", baseline, "-rA")
        junit = tmp_path / "within-the-floors.xml"
        failed = failures(junit)
    finally:
        docpipe_from(source, home, "down")
    # The floors pass: only the baseline sees the weakening.
    assert results[HSTS_FLOOR] == "passed", output[-4000:]
    assert results[NEGOTIATED] == "passed", output[-4000:]
    assert {EVERY_ANSWER, DOCUMENT_DATA, ACCEPTED} <= set(failed), output[-4000:]
    for check in (EVERY_ANSWER, DOCUMENT_DATA):
        text = failed[check]
        for header, before, after in (
            ("strict-transport-security", HSTS, WEAK_HSTS),
            ("content-security-policy", CSP, WEAK_CSP),
            ("x-frame-options", "DENY", "SAMEORIGIN"),
        ):
            # A short first difference leads the headline; a long one stays below it.
            assert re.search(rf"{header}: (.* — )?differs from baseline", text), text[-3000:]
            assert f"key: {check}::{header}" in text, text[-3000:]
            assert f'baseline: "{before}"' in text and f'target:   "{after}"' in text, text[-3000:]
    # The OpenSSL default list adds CBC suites with SHA-1 MACs to what TLS 1.2 accepts.
    assert '$["ECDHE-ECDSA-AES128-SHA"]: unexpected' in failed[ACCEPTED], failed[ACCEPTED][-3000:]
