"""docpipe.tls: a persistent local CA and the server certificates it issues."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from docpipe.net import wait_for_http
from docpipe.tls import TlsFiles, make_tls


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello over tls"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def https_port(tls: TlsFiles) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 presenting tls.cert_file, in a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_client_trusting_the_ca_completes_a_tls_handshake(
    tls: TlsFiles, https_port: int, host: str
) -> None:
    verify = ssl.create_default_context(cafile=str(tls.ca_file))
    response = httpx.get(f"https://{host}:{https_port}/", verify=verify, timeout=10)
    assert response.status_code == 200
    assert response.text == "hello over tls"


def test_a_client_that_does_not_trust_the_ca_is_refused(https_port: int) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://127.0.0.1:{https_port}/", timeout=10)


def test_wait_for_http_accepts_the_ca_file_as_verify(tls: TlsFiles, https_port: int) -> None:
    response = wait_for_http(f"https://127.0.0.1:{https_port}/", 10, verify=tls.ca_file)
    assert response.status_code == 200


def test_not_after_is_the_certificates_expiry(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    files = make_tls(tmp_path, valid_days=30)
    cert = _load(files.cert_file)
    assert cert.not_valid_after_utc == files.not_after
    expected = before + dt.timedelta(days=30)
    assert abs(files.not_after - expected) < dt.timedelta(minutes=1)
    # Valid already, despite small clock skew.
    assert cert.not_valid_before_utc < before


def test_an_expiring_certificate_has_fewer_than_7_days_left(tmp_path: Path) -> None:
    files = make_tls(tmp_path, valid_days=3)
    left = _load(files.cert_file).not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=2) < left < dt.timedelta(days=7)


def test_reissuing_keeps_the_same_ca(tmp_path: Path) -> None:
    first = make_tls(tmp_path)
    ca_pem, first_cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()

    second = make_tls(tmp_path, valid_days=3)

    assert second.ca_file.read_bytes() == ca_pem
    assert second.cert_file.read_bytes() != first_cert
    _load(second.cert_file).verify_directly_issued_by(_load(second.ca_file))


def test_the_certificate_names_ips_as_ip_sans_and_names_as_dns_sans(tmp_path: Path) -> None:
    files = make_tls(tmp_path, hosts=("127.0.0.1", "::1", "localhost", "docpipe.test"))
    sans = (
        _load(files.cert_file).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "docpipe.test"}


def test_the_files_are_readable_only_by_their_owner(tls: TlsFiles) -> None:
    for path in (tls.ca_file, tls.cert_file, tls.key_file, tls.ca_file.with_name("ca-key.pem")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(tls.ca_file.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in tls.ca_file.parent.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "cert.pem",
        "key.pem",
    ]


def test_nonsense_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one host"):
        make_tls(tmp_path, hosts=())
    with pytest.raises(ValueError, match="positive"):
        make_tls(tmp_path, valid_days=0)
