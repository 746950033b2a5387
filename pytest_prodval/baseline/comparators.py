"""Every comparator by its ``kind``: the name stored in each baseline entry."""

from __future__ import annotations

from .distribution import DistributionComparator
from .exact import ExactComparator
from .number import NumberComparator
from .shape import ShapeComparator
from .verdict import Comparator

__all__ = ["COMPARATORS", "comparator_for"]

COMPARATORS: dict[str, Comparator] = {
    comparator.kind: comparator
    for comparator in (
        ExactComparator(),
        NumberComparator(),
        ShapeComparator(),
        DistributionComparator(),
    )
}


def comparator_for(kind: str) -> Comparator:
    try:
        return COMPARATORS[kind]
    except KeyError:
        known = ", ".join(sorted(COMPARATORS))
        raise ValueError(f"unknown baseline kind {kind!r}; known kinds: {known}") from None
