"""Stable baseline keys: they survive test reordering and renamed parametrize ids.

A test's key is its module path (relative to rootdir, POSIX), its class and function
names, and — for parametrized tests — the parameter *values* when they are plain JSON
scalars, so ``ids=`` can change freely. Values that are not plain (objects, fixtures
parametrized with objects) fall back to the id pytest gave them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

__all__ = ["entry_key", "test_key"]

_PLAIN = (str, int, float, bool, type(None))


def test_key(item: pytest.Item, rootdir: Path) -> str:
    path = Path(str(item.path))
    try:
        module = path.relative_to(rootdir).as_posix()
    except ValueError:
        module = path.as_posix()
    names = [n.name for n in item.listchain() if isinstance(n, pytest.Class)]
    function = getattr(item, "originalname", None) or item.name
    key = "::".join([module, *names, function])
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        params = callspec.params
        if all(_is_plain(v) for v in params.values()):
            key += (
                "["
                + ",".join(f"{n}={json.dumps(params[n], sort_keys=True)}" for n in sorted(params))
                + "]"
            )
        else:
            # A value with no plain form: the id pytest gave it is the only handle there is.
            key += f"[{callspec.id}]"
    return key


def _is_plain(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN)


def entry_key(test: str, name: str) -> str:
    return f"{test}::{name}"
