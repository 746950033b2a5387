"""Changing a document's state: the one function that does it, and reading the history back.

Every change goes through ``transition``, which locks the document row, asks the state machine
(``docpipe.states``) whether the move is allowed, and records it in ``document_states`` in the
same transaction. The validation suites read that history to prove documents took the path
they should; a second writer of ``documents.state`` would make that proof worthless.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from .audit import Connection
from .faults import Faults
from .states import State, check_transition

__all__ = ["DocumentNotFound", "StateChange", "history", "resting_state", "transition"]

# Where a document goes back to when its job is released or retried: the state it was in
# before the step that was interrupted, so the next attempt starts that step again.
_RESTING = {State.PARSING: State.UPLOADED, State.EMBEDDING: State.PARSED}


class DocumentNotFound(LookupError):
    pass


@dataclasses.dataclass(frozen=True)
class StateChange:
    from_state: State | None
    to_state: State
    reason: str | None
    worker_id: str | None
    at: datetime.datetime


def resting_state(state: State | str) -> State:
    """The state a document is put back in when the work on it stops part-way."""
    state = State(state)
    return _RESTING.get(state, state)


async def transition(
    conn: Connection,
    document_id: uuid.UUID,
    new_state: State,
    *,
    faults: Faults | None = None,
    reason: str | None = None,
    worker_id: str | None = None,
) -> State:
    """Move the document to ``new_state``; returns the state it was in.

    Raises ``IllegalTransition`` (nothing written) when the state machine forbids the move,
    ``DocumentNotFound`` when there is no such document. Runs in its own transaction, or in a
    savepoint of the caller's, so the state and its history row are written together.
    ``failure_reason`` is set from ``reason`` on a move to failed and cleared otherwise.
    """
    async with conn.transaction():
        current = await conn.fetchval(
            "select state from documents where id = $1 for update", document_id
        )
        if current is None:
            raise DocumentNotFound(f"no document {document_id}")
        old = State(current)
        new = check_transition(old, new_state, faults)
        await conn.execute(
            """
            update documents
            set state = $2, updated_at = clock_timestamp(),
                failure_reason = case when $2 = 'failed' then $3 end
            where id = $1
            """,
            document_id,
            new.value,
            reason,
        )
        await conn.execute(
            """
            insert into document_states (document_id, from_state, to_state, reason, worker_id)
            values ($1, $2, $3, $4, $5)
            """,
            document_id,
            old.value,
            new.value,
            reason,
            worker_id,
        )
    return old


async def history(conn: Connection, document_id: uuid.UUID) -> list[StateChange]:
    """The document's state changes, oldest first (the upload itself included)."""
    rows = await conn.fetch(
        """
        select from_state, to_state, reason, worker_id, at from document_states
        where document_id = $1 order by id
        """,
        document_id,
    )
    return [
        StateChange(
            from_state=None if row["from_state"] is None else State(row["from_state"]),
            to_state=State(row["to_state"]),
            reason=row["reason"],
            worker_id=row["worker_id"],
            at=row["at"],
        )
        for row in rows
    ]
