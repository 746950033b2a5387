"""Hide secret values in anything prodval prints, logs or writes to a report."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]

REDACTED = "***"

# Shorter values (a port, "dev", "1") cannot be told apart from ordinary text, and replacing
# them everywhere would make every report unreadable, so they are never tracked as secrets.
MIN_SECRET_LENGTH = 4

# scheme://user:password@host: the password runs up to the *last* "@" before the path, like
# urllib.parse.urlsplit reads it, so a password containing an unencoded "@" is still hidden.
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@:]*:)(?P<password>[^/?#\s]+)(?=@)"
)


class Redactor:
    """Replaces every known secret in text with ``***``.

    Each secret is also matched in its URL-encoded form, because secrets end up inside URLs
    (DSNs, query strings) in that form. Values shorter than ``MIN_SECRET_LENGTH`` are ignored.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                forms.add(secret)
                forms.add(quote(secret, safe=""))
        self._count = len(forms)
        # Longest first, so a secret containing another secret is replaced as a whole.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern: re.Pattern[str] | None = (
            re.compile("|".join(map(re.escape, ordered))) if ordered else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __repr__(self) -> str:
        # Never the secrets themselves: a Redactor may end up in a traceback or a log line.
        return f"Redactor(<{self._count} patterns>)"

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of every secret replaced by ``***``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact_url(self, url: str) -> str:
        """Like :meth:`redact`, and also hides any ``user:password@`` password, known or not."""
        return self.redact(_URL_PASSWORD.sub(rf"\g<prefix>{REDACTED}", url))

    def redact_obj(self, obj: Any) -> Any:
        """A copy of ``obj`` with :meth:`redact` applied to every string in dicts, lists, tuples.

        Dict keys are redacted too; anything else is returned unchanged.
        """
        if self._pattern is None:
            return obj
        return self._redact_obj(obj)

    def _redact_obj(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self._redact_obj(key): self._redact_obj(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self._redact_obj(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._redact_obj(item) for item in obj)
        return obj
