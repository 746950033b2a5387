"""The watch's pytest plugin: only read-only checks run (``-p pytest_prodval.watch.selection``).

Checks marked ``destructive`` are always deselected, checks marked ``synthetic`` unless
``--prodval-watch-synthetic`` (the watch's ``--allow-synthetic``). Deselecting here, rather
than adding ``-m``, keeps whatever ``-m`` the user passed after ``--`` intact (pytest keeps only
the last ``-m``). Loaded on xdist workers too (xdist loads every ``-p`` plugin there).
"""

from __future__ import annotations

import pytest

__all__ = ["SYNTHETIC_FLAG"]

SYNTHETIC_FLAG = "--prodval-watch-synthetic"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("prodval").addoption(
        SYNTHETIC_FLAG,
        dest="prodval_watch_synthetic",
        action="store_true",
        default=False,
        help="prodval-watch: also run checks marked synthetic (destructive ones never run).",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    synthetic = config.getoption("prodval_watch_synthetic")
    refused = ("destructive",) if synthetic else ("destructive", "synthetic")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        writes = any(item.get_closest_marker(name) is not None for name in refused)
        (dropped if writes else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
