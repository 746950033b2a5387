"""Every comparison kind by its name: the ``kind`` of each verdict (and baseline entry).

Comparators judge a value against a stored baseline entry (and record one); judges, such as
``limit``, need no entry and judge alike in every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from ..verdict import Comparator
from .exact import ExactComparator
from .limit import Judge, LimitJudge
from .number import NumberComparator
from .shape import ShapeComparator

__all__ = ["COMPARATORS", "JUDGES", "comparator_for", "judge_for"]

T = TypeVar("T")


def _distribution() -> Comparator:
    # numpy and scipy load when a distribution is first judged, not at start-up (+0.1 s).
    from .distribution import DistributionComparator

    return DistributionComparator()


class _Registry(Mapping[str, T]):
    """Comparators (or judges) by kind, each built on first use."""

    def __init__(self, factories: dict[str, Callable[[], T]]) -> None:
        self._factories = factories
        self._built: dict[str, T] = {}

    def __getitem__(self, kind: str) -> T:
        if kind not in self._built:
            self._built[kind] = self._factories[kind]()
        return self._built[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


COMPARATORS: Mapping[str, Comparator] = _Registry(
    {
        "exact": ExactComparator,
        "number": NumberComparator,
        "shape": ShapeComparator,
        "distribution": _distribution,
    }
)


def _paired() -> Judge:
    from .paired import PairedJudge  # numpy and scipy, as for distribution

    return PairedJudge()


JUDGES: Mapping[str, Judge] = _Registry({"limit": LimitJudge, "paired": _paired})


def comparator_for(kind: str) -> Comparator:
    try:
        return COMPARATORS[kind]
    except KeyError:
        known = ", ".join(sorted([*COMPARATORS, *JUDGES]))
        raise ValueError(f"unknown baseline kind {kind!r}; known kinds: {known}") from None


def judge_for(kind: str) -> Judge | None:
    """The judge of ``kind`` if it is judged without a baseline entry, else None."""
    return JUDGES.get(kind)
