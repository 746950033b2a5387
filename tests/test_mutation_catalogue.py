"""The mutation catalogue of ``benchmarks/mutation_score.py`` still fits docpipe's source.

Cheap (no docpipe runs): every mutation applies exactly once to the current source and leaves
Python that compiles, so an edit of docpipe that moves a mutation's text fails here, not in
the middle of a 40-minute benchmark. Also: at least 30 mutations, spread over the areas, each
with a one-line description, none a fault switch.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from docpipe.faults import FAULTS

from .mutated_docpipe import DOCPIPE_SRC, mutated_texts
from .mutation_catalogue import AREAS, CATALOGUE, Mutant

MINIMUM = 30
PER_AREA = 2  # no area is a token entry
MOST_OF_ONE_AREA = 0.25


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_the_mutation_applies_exactly_once_and_compiles(mutant: Mutant) -> None:
    texts = mutated_texts(mutant.changes, DOCPIPE_SRC)
    assert texts, f"{mutant.name} changes nothing"
    for relative, text in texts.items():
        assert text != (DOCPIPE_SRC / relative).read_text(), f"{mutant.name}: {relative} unchanged"
        compile(text, relative, "exec")


def test_there_are_enough_mutations_with_unique_names_and_one_line_descriptions() -> None:
    assert len(CATALOGUE) >= MINIMUM
    names = [m.name for m in CATALOGUE]
    assert len(set(names)) == len(names), [n for n, c in Counter(names).items() if c > 1]
    for mutant in CATALOGUE:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", mutant.name), mutant.name
        text = mutant.description
        assert text.strip() == text and 10 <= len(text) <= 100 and "\n" not in text, mutant.name


def test_the_mutations_are_spread_over_every_area() -> None:
    counts = Counter(m.area for m in CATALOGUE)
    assert set(counts) <= set(AREAS), set(counts) - set(AREAS)
    thin = {area: counts[area] for area in AREAS if counts[area] < PER_AREA}
    assert not thin, f"areas with fewer than {PER_AREA} mutations: {thin}"
    assert max(counts.values()) <= MOST_OF_ONE_AREA * len(CATALOGUE), counts


def test_no_mutation_is_a_fault_switch() -> None:
    for mutant in CATALOGUE:
        assert mutant.name.replace("-", "_") not in FAULTS, mutant.name
        assert "docpipe/faults.py" not in mutant.changes, mutant.name
