"""What a problem with ``prodval.yaml`` says: the messages, :class:`ConfigError`, shown values.

Values are shown shortened, with URL passwords and known secrets hidden (:func:`_show`).
"""

from __future__ import annotations

from typing import Any

from ..safety.redaction import Redactor

SUPPORTED_VERSION = 1

# -- user-facing messages ---------------------------------------------------------------------
# "{file}: " is prepended to every one of them.
MSG_FILE_NOT_FOUND = "file not found (looked for {location})"
MSG_UNREADABLE = "cannot read the file: {reason}"
MSG_NOT_UTF8 = "cannot read the file: not valid UTF-8 ({reason})"
MSG_INVALID_YAML = "line {line}, column {column}: invalid YAML: {problem}"
MSG_EMPTY = "the file is empty; expected a mapping with an 'environments' key"
MSG_TOP_NOT_MAPPING = "expected a mapping with an 'environments' key at the top level, got {got}"
MSG_UNKNOWN_ENV = "unknown environment {name!r}; expected one of: {names}"
MSG_VAR_NOT_SET = "environment variable {var} is not set (use ${{{var}:-default}} for a default)"
MSG_BAD_INTERPOLATION = (
    "invalid interpolation {text!r}; write ${{NAME}} or ${{NAME:-default}}, or $$ for a literal $"
)
MSG_BAD_CA_FILE = "expected a readable file of PEM CA certificates, got {path!r}: {problem}"
MSG_MORE_PROBLEMS = " (and {count} more problem{s})"
MSG_TOO_DEEP = "invalid YAML: nested too deeply"
MSG_TOO_LARGE = "more than {limit} values once aliases are expanded; expected a config file"
MSG_RECURSIVE_ALIAS = "recursive alias *{anchor} (it points into the node that holds it)"
MSG_CANNOT_BUILD = "cannot read {value} as {kind}"

EXPECT_VERSION = f"{SUPPORTED_VERSION} (this prodval reads config version {SUPPORTED_VERSION})"
EXPECT_ENV_NAMES = "environment names made of letters, digits, '_', '.' and '-'"
EXPECT_HTTP_URL = "an http:// or https:// URL with a host"
EXPECT_DSN = "a postgresql:// or postgres:// DSN"
EXPECT_ABSOLUTE_PATH = "a path starting with '/'"
EXPECT_ONE_CREDENTIAL = (
    "expected exactly one of: api_key, bearer_token, or username + password; got {got}"
)

_MAX_SHOWN = 80


def _hide_url_password(url: str) -> str:
    return Redactor(()).redact_url(url)


def _show(value: Any, redactor: Redactor | None = None) -> str:
    # Redacted before shortening: a cut secret would not be recognised any more.
    shown = _hide_url_password(repr(value))
    if redactor is not None:
        shown = redactor.redact(shown)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."
