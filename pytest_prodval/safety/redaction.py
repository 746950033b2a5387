"""Hide secret values in anything prodval prints, logs or writes to a report."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "SECRET_KEY", "Redactor", "escaped_forms"]

REDACTED = "***"

# Shorter values (a port, "dev", "1") cannot be told apart from ordinary text, and replacing
# them everywhere would make every report unreadable, so they are never tracked as secrets.
MIN_SECRET_LENGTH = 4

# scheme://user:password@host: the password runs up to the *last* "@" before the path, like
# urllib.parse.urlsplit reads it, so a password containing an unencoded "@" is still hidden.
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@:]*:)(?P<password>[^/?#\s]+)(?=@)"
)

# Keys whose values are secret wherever they appear (params, api.headers; config errors never
# echo a value under such a key).
SECRET_KEY = re.compile(
    r"secret|password|passwd|token|api[_-]?key|private|authorization|cookie|credential",
    re.IGNORECASE,
)


def _repr_single(text: str) -> str:
    """``text`` as it appears inside a single-quoted ``repr()`` (``'`` escaped)."""
    # With both quote kinds in it, repr() always uses single quotes and escapes "'".
    return repr(text + "'\"")[1:-4]


def _repr_double(text: str) -> str:
    """``text`` inside a double-quoted ``repr()`` (used when a string holds ``'`` but no ``"``)."""
    if '"' in text:
        return _repr_single(text)  # repr() never double-quotes a string holding '"'
    return repr(text + "'")[1:-2]


# How text that holds a secret is printed escaped: repr() (--showlocals, assertion rewriting,
# config errors), pytest's ids, JSON, XML/HTML (JUnit, Allure), URLs.
ESCAPES: tuple[Callable[[str], str], ...] = (
    _repr_single,
    _repr_double,
    lambda text: text.encode("unicode_escape").decode("ascii"),  # pytest's test ids
    lambda text: json.dumps(text)[1:-1],
    lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    xml_escape,  # XML text
    lambda text: xml_escape(text, {'"': "&quot;", "'": "&apos;"}),
    # ElementTree's attributes (JUnit's message=): quotes and whitespace as character references
    lambda text: xml_escape(text, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}),
    html.escape,
    lambda text: quote(text, safe=""),
    quote,  # safe="/": paths
    quote_plus,
)


def escaped_forms(secret: str) -> set[str]:
    """``secret`` and every form it is printed in: each escape, and each escape of an escape
    (a repr() inside JUnit's XML, JSON inside a repr(), ...)."""
    once = {secret} | {escape(secret) for escape in ESCAPES}
    return once | {escape(form) for form in once for escape in ESCAPES}


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, the longest one at each position.

    Built as a prefix tree (``ab|ac`` → ``a(?:b|c)``): a secret's escaped forms share long
    prefixes, and a flat alternation of hundreds of them is tried one by one at every position
    of the text (ten times slower). An optional end is greedy, so a secret that contains
    another is still replaced as a whole.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def build(node: dict[str, Any]) -> str:
        branches = [chain(char, child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        ends = "" in node
        if len(branches) == 1 and not ends:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if ends else "")

    def chain(char: str, node: dict[str, Any]) -> str:
        # Runs without a branch in a loop: the recursion is as deep as the branches, not as
        # long as the secret (a PEM key has thousands of characters).
        run = [char]
        while len(node) == 1 and "" not in node:
            [(char, node)] = node.items()
            run.append(char)
        return re.escape("".join(run)) + build(node)

    return build(trie)


class Redactor:
    """Replaces every known secret in text with ``***``.

    Each secret is also matched in every escaped form it is printed in (:func:`escaped_forms`):
    repr(), JSON, XML/HTML and URL encoding, and one escape inside another, because a secret
    holding a backslash, a quote, a control or a non-ASCII character is printed escaped, not
    as written. Values shorter than ``MIN_SECRET_LENGTH`` are ignored.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                forms |= escaped_forms(secret)
        self._count = len(forms)
        self._pattern: re.Pattern[str] | None = re.compile(_trie_pattern(forms)) if forms else None

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
