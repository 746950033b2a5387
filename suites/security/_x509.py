"""What a server certificate says about policy: its key and its signature algorithm.

Read from the DER bytes with a small DER reader of our own (the stdlib decodes a certificate
only partly, and the suites add no X.509 dependency). Only the fields a policy sets are read:
not the serial, the validity or the names, which change with every renewal.
"""

from __future__ import annotations

import dataclasses

__all__ = ["CertificatePolicy", "certificate_policy"]

_OIDS = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.10045.2.1": "ec",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
}
# Named curves and their size in bits.
_CURVES = {
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
}
_SIZES = {"ed25519": 256, "ed448": 456}
_SEQUENCE, _INTEGER, _BIT_STRING, _OID, _CONTEXT_0 = 0x30, 0x02, 0x03, 0x06, 0xA0


@dataclasses.dataclass(frozen=True)
class CertificatePolicy:
    key_type: str  # rsa, ec, ed25519, … or the algorithm's dotted OID
    key_size: int | None  # bits: the RSA modulus, the curve
    curve: str | None  # ec only
    signature_algorithm: str  # the issuer's signature, e.g. ecdsa-with-SHA256

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _element(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, content, offset after it) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise ValueError("DER: truncated element")
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or at + count > len(data):
            raise ValueError("DER: bad length")
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    if at + length > len(data):
        raise ValueError("DER: element runs past the end")
    return tag, data[at : at + length], at + length


def _children(content: bytes) -> list[tuple[int, bytes]]:
    children, at = [], 0
    while at < len(content):
        tag, child, at = _element(content, at)
        children.append((tag, child))
    return children


def _expect(tag: int, wanted: int, what: str) -> None:
    if tag != wanted:
        raise ValueError(f"DER: {what} has tag {tag:#x}, expected {wanted:#x}")


def _oid(content: bytes) -> str:
    if not content:
        raise ValueError("DER: empty OID")
    parts = [min(content[0] // 40, 2), content[0] - 40 * min(content[0] // 40, 2)]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _algorithm(content: bytes) -> tuple[str, list[tuple[int, bytes]]]:
    """(OID, parameters) of an AlgorithmIdentifier's content."""
    children = _children(content)
    if not children:
        raise ValueError("DER: empty AlgorithmIdentifier")
    _expect(children[0][0], _OID, "algorithm")
    return _oid(children[0][1]), children[1:]


def certificate_policy(der: bytes) -> CertificatePolicy:
    """The key type, key size, curve and signature algorithm of a DER X.509 certificate.

    Raises ValueError naming what is malformed.
    """
    tag, certificate, _ = _element(der, 0)
    _expect(tag, _SEQUENCE, "Certificate")
    parts = _children(certificate)
    if len(parts) != 3:
        raise ValueError(f"DER: Certificate has {len(parts)} parts, expected 3")
    _expect(parts[0][0], _SEQUENCE, "tbsCertificate")
    _expect(parts[1][0], _SEQUENCE, "signatureAlgorithm")
    signature_oid, _ = _algorithm(parts[1][1])
    tbs = _children(parts[0][1])
    if tbs and tbs[0][0] == _CONTEXT_0:  # an explicit version; absent means v1
        tbs = tbs[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    if len(tbs) < 6:
        raise ValueError("DER: tbsCertificate too short")
    _expect(tbs[5][0], _SEQUENCE, "subjectPublicKeyInfo")
    spki = _children(tbs[5][1])
    if len(spki) != 2:
        raise ValueError("DER: subjectPublicKeyInfo has the wrong number of parts")
    key_oid, parameters = _algorithm(spki[0][1])
    key_type = _OIDS.get(key_oid, key_oid)
    curve, size = None, _SIZES.get(key_type)
    if key_type == "ec" and parameters and parameters[0][0] == _OID:
        curve_oid = _oid(parameters[0][1])
        curve, size = _CURVES.get(curve_oid, (curve_oid, None))
    elif key_type == "rsa":
        _expect(spki[1][0], _BIT_STRING, "subjectPublicKey")
        tag, rsa_key, _ = _element(spki[1][1][1:], 0)  # skip the unused-bits byte
        _expect(tag, _SEQUENCE, "RSAPublicKey")
        modulus_tag, modulus = _children(rsa_key)[0]
        _expect(modulus_tag, _INTEGER, "modulus")
        size = int.from_bytes(modulus, "big").bit_length()
    return CertificatePolicy(key_type, size, curve, _OIDS.get(signature_oid, signature_oid))
