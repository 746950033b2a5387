"""What a stored baseline entry must look like, per kind, checked when the file is loaded.

A checksum proves the file is what prodval wrote, not that what was written is usable: an entry
edited by hand and re-checksummed, or written by a buggy tool, would otherwise load fine and
fail at compare time with a ``KeyError`` — which a gate reads as a failing release and rolls
back. Checked here, it is one line naming the entry, before any check runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["KINDS", "entry_problem"]

_TYPE_NAMES = {"string", "integer", "number", "boolean", "null", "any"}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value: object, *, empty_ok: bool = False) -> bool:
    return isinstance(value, list) and (empty_ok or bool(value)) and all(_number(v) for v in value)


def _shape(value: object, depth: int = 0) -> bool:
    if depth > 200:
        return False
    if isinstance(value, str):
        return all(part in _TYPE_NAMES for part in value.split("|"))
    if isinstance(value, list):
        return len(value) <= 1 and all(_shape(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _shape(v, depth + 1) for k, v in value.items())
    return False


def _unit(entry: dict[str, Any]) -> str | None:
    if not isinstance(entry.get("unit", ""), str):
        return "'unit' must be a string"
    return None


def _exact(entry: dict[str, Any]) -> str | None:
    return None if "value" in entry else "missing 'value'"


def _number_entry(entry: dict[str, Any]) -> str | None:
    if not _number(entry.get("value")):
        return "'value' must be a finite number"
    return _unit(entry)


def _shape_entry(entry: dict[str, Any]) -> str | None:
    if "shape" not in entry or not _shape(entry["shape"]):
        return "'shape' must be a shape (objects, one-element lists and type names)"
    return None


def _distribution(entry: dict[str, Any]) -> str | None:
    if not _numbers(entry.get("samples")):
        return "'samples' must be a non-empty list of finite numbers"
    for name in ("windows", "control"):
        if name in entry and not _numbers(entry[name]):
            return f"'{name}' must be a non-empty list of finite numbers"
    if "control_name" in entry and not isinstance(entry["control_name"], str):
        return "'control_name' must be a string"
    return _unit(entry)


# The kinds a baseline file may hold (``limit`` is judged, never stored).
KINDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "exact": _exact,
    "number": _number_entry,
    "shape": _shape_entry,
    "distribution": _distribution,
}


def entry_problem(entry: object) -> str | None:
    """Why ``entry`` cannot be compared with, in a few words; None when it can."""
    if not isinstance(entry, dict):
        return "must be an object with a 'kind'"
    kind = entry.get("kind")
    if not isinstance(kind, str):
        return "must be an object with a 'kind'"
    check = KINDS.get(kind)
    if check is None:
        return f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
    for name in ("test", "environment"):
        if name in entry and not isinstance(entry[name], str):
            return f"'{name}' must be a string"
    return check(entry)
