"""Response headers every docpipe API answer carries, and what ``weak_headers`` removes.

The API serves JSON and raw uploaded documents, never pages: the policy forbids everything a
browser could do with a response (scripts, framing, sniffing), and nothing is cached because
responses carry protected health information.
"""

from __future__ import annotations

import platform

from .. import __version__

__all__ = ["LEAKY_SERVER_BANNER", "security_headers"]

# What ``leaky_errors`` gives away: exactly the fingerprint an attacker wants.
LEAKY_SERVER_BANNER = f"docpipe/{__version__} Python/{platform.python_version()}"

_ALWAYS = (
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    # Every response may carry document data or reveal it exists; caching none is simplest.
    ("cache-control", "no-store"),
)
_HSTS = ("strict-transport-security", "max-age=31536000; includeSubDomains")


def security_headers(*, tls: bool, weak: bool) -> list[tuple[str, str]]:
    if weak:
        return []
    return [*_ALWAYS, _HSTS] if tls else list(_ALWAYS)
