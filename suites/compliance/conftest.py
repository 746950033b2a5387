"""Fixtures of the compliance suite: the document storage below the API."""

from __future__ import annotations

from typing import Any

import pytest

from ._layers import NO_STORAGE, StoredFiles, declared_storage


@pytest.fixture(scope="session")
def storage(params: dict[str, Any], pytestconfig: pytest.Config) -> StoredFiles:
    """The platform's document storage (``params.storage_dir``); the check skips without it."""
    found = declared_storage(params, pytestconfig.rootpath)
    if found is None:
        pytest.skip(NO_STORAGE)
    return found
