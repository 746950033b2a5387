"""Optional extras: whether one is installed, and the fixtures that stand in for missing ones.

plugin.py loads this module as a plugin when pytest-asyncio cannot be imported, and
``async_fixtures`` (the real ``async_api`` and ``db``) when it can.

The plugin's distribution requires only what every validation needs; the async fixtures need
the ``db`` extra (pytest-asyncio, asyncpg). Without it, ``async_api`` and ``db`` still exist, so
that a check asking for them fails with one line naming the extra instead of "fixture not
found", and pytest-asyncio is never imported (nor its warnings brought into the project).
"""

from __future__ import annotations

import importlib.util
from typing import NoReturn

import pytest

__all__ = ["async_api", "available", "db", "missing_extra"]

MISSING_EXTRA = (
    "the {fixture} fixture needs pytest-prodval[{extra}]: pip install 'pytest-prodval[{extra}]'"
)


def available(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (nothing is run)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a None in sys.modules
        return False


def missing_extra(fixture: str, extra: str = "db") -> str:
    return MISSING_EXTRA.format(fixture=fixture, extra=extra)


@pytest.fixture
def async_api() -> NoReturn:
    """Async httpx client for the target's API (needs ``pytest-prodval[db]``)."""
    pytest.fail(missing_extra("async_api"), pytrace=False)


@pytest.fixture(scope="session")
def db() -> NoReturn:
    """asyncpg pool to the target's database (needs ``pytest-prodval[db]``)."""
    pytest.fail(missing_extra("db"), pytrace=False)
