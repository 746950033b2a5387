"""Hooks prodval adds to pytest (registered with ``pytest_addhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from .baseline.verdict import Verdict


def pytest_prodval_comparison(item: pytest.Item, verdict: Verdict) -> None:
    """Called in the process running ``item`` for every baseline comparison it makes.

    The verdict is already redacted. Report writers attach evidence here, e.g.::

        def pytest_prodval_comparison(item, verdict):
            if verdict.failed:
                item.add_report_section("call", "prodval", verdict.message)
    """
