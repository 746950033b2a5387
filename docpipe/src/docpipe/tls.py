"""Local TLS material for docpipe: a persistent CA and a server certificate it signs.

The CA (``ca.pem`` + ``ca-key.pem``) is created once per directory and reused, so clients that
trust ``ca.pem`` keep trusting every server certificate re-issued later (e.g. the
``cert_expiring`` fault re-issues one valid for 3 days).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["TlsFiles", "make_tls"]

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca-key.pem"
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
# Clock skew between this host and a client should not make a fresh certificate "not yet valid".
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # the CA certificate clients verify against
    cert_file: Path  # the server certificate (leaf only; the CA is the trust anchor)
    key_file: Path  # the server's private key
    not_after: dt.datetime  # the server certificate's expiry, timezone-aware UTC


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable only by the owner, atomically.

    Atomic so a server loading it while it is re-issued never reads half a file; 0600 from
    creation (mkstemp) so a key is never briefly world-readable.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_or_create_ca(directory: Path) -> trustme.CA:
    cert_path, key_path = directory / CA_CERT_NAME, directory / CA_KEY_NAME
    if cert_path.exists() and key_path.exists():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="docpipe local CA")
    # Key first: a ca.pem without its key would be unusable for re-issuing.
    _write_private(key_path, ca.private_key_pem.bytes())
    _write_private(cert_path, ca.cert_pem.bytes())
    return ca


def make_tls(
    directory: Path,
    *,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    valid_days: float = 365,
) -> TlsFiles:
    """Issue a server certificate for ``hosts`` (IP SANs for IPs), valid for ``valid_days``.

    Reuses the CA in ``directory`` if there is one, else creates it. Overwrites any previous
    server certificate and key there.
    """
    if not hosts:
        raise ValueError("make_tls needs at least one host name or IP address")
    if valid_days <= 0:
        raise ValueError(f"valid_days must be positive, got {valid_days}")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = _load_or_create_ca(directory)
    # X.509 times have whole seconds: drop microseconds so not_after equals the cert's notAfter.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    not_after = (now + dt.timedelta(days=valid_days)).replace(microsecond=0)
    leaf = ca.issue_cert(
        *hosts,
        common_name=hosts[0],
        not_before=now - _BACKDATE,
        not_after=not_after,
    )
    files = TlsFiles(
        ca_file=directory / CA_CERT_NAME,
        cert_file=directory / CERT_NAME,
        key_file=directory / KEY_NAME,
        not_after=not_after,
    )
    _write_private(files.key_file, leaf.private_key_pem.bytes())
    _write_private(files.cert_file, leaf.cert_chain_pems[0].bytes())
    return files
