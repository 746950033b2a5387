"""The document state machine: the one place that says which transitions are allowed."""

from __future__ import annotations

import enum

from .faults import Faults

__all__ = ["TRANSITIONS", "IllegalTransition", "State", "allowed", "check_transition"]


class State(str, enum.Enum):
    UPLOADED = "uploaded"
    PARSING = "parsing"
    PARSED = "parsed"
    EMBEDDING = "embedding"
    COMPLETED = "completed"
    FAILED = "failed"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.UPLOADED: frozenset({State.PARSING, State.FAILED}),
    # A released job (worker stopped, or a retry) goes back to where it was claimed from.
    State.PARSING: frozenset({State.PARSED, State.UPLOADED, State.FAILED}),
    State.PARSED: frozenset({State.EMBEDDING, State.FAILED}),
    State.EMBEDDING: frozenset({State.COMPLETED, State.PARSED, State.FAILED}),
    State.COMPLETED: frozenset(),
    State.FAILED: frozenset(),
}

# The happy path a document takes, as the validation suites expect to see it.
HAPPY_PATH = (State.UPLOADED, State.PARSING, State.PARSED, State.EMBEDDING, State.COMPLETED)


class IllegalTransition(RuntimeError):
    pass


def allowed(current: State | str, faults: Faults | None = None) -> frozenset[State]:
    """The states reachable from ``current``; the one place a fault may widen the machine."""
    current = State(current)
    targets = TRANSITIONS[current]
    if faults is not None and "state_skip" in faults and current is State.PARSED:
        # The regression: a document may jump from parsed to completed, skipping embedding.
        targets = targets | {State.COMPLETED}
    return targets


def check_transition(current: State | str, new: State | str, faults: Faults | None = None) -> State:
    current, new = State(current), State(new)
    if new not in allowed(current, faults):
        raise IllegalTransition(f"illegal document transition {current.value} -> {new.value}")
    return new
