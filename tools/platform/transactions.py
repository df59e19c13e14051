"""What a call has done that a replay would repeat.

When the database aborts a transaction to break a deadlock (SQLSTATE 40P01) or a serialization
conflict (40001), nothing that transaction wrote was kept, and the call that ran it can be run again
from the start (``database.unit_of_work.retry_transient`` does, a bounded number of times). That is
safe only while everything the call did so far went with the rolled-back transaction: a replay must not
repeat a transaction that already committed, nor a request already sent to a system we do not own (a
charge or a transfer at a payment vendor). The unit of work reports its commits here, and adapters
report their outbound writes; a call that did either is not replayed, and its caller retries it with
the same idempotency key instead.

The order in which use cases take row locks, which keeps deadlocks from happening in the first place,
is written down in ``tools.platform.locking``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

__all__ = [
    "ROLLBACK_S",
    "Attempt",
    "current_attempt",
    "note_commit",
    "note_outside_effect",
    "roll_back",
    "transaction",
]

ROLLBACK_S = 1.0  # the longest a cancelled or failed transaction waits for its ROLLBACK


@dataclass(slots=True)
class Attempt:
    """One run of a call: whether a transaction of it committed or it wrote outside the database."""

    committed: bool = False
    outside_effect: bool = False

    @property
    def replayable(self) -> bool:
        return not (self.committed or self.outside_effect)


_attempt: ContextVar[Attempt | None] = ContextVar("caas_attempt", default=None)


def current_attempt() -> ContextVar[Attempt | None]:
    """The variable holding the current run's record (set by the runner that may replay it)."""
    return _attempt


def note_commit() -> None:
    """A transaction of the current call committed."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.committed = True


def note_outside_effect() -> None:
    """The current call is about to write to a system outside the database (it may act on it)."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.outside_effect = True


class Session(Protocol):
    """What ``roll_back`` needs of a database connection (an asyncpg connection or pool proxy)."""

    def is_closed(self) -> bool: ...
    def is_in_transaction(self) -> bool: ...
    async def execute(self, query: str, *args: Any) -> str: ...
    def terminate(self) -> None: ...


async def roll_back(conn: Session) -> None:
    """Ends the open transaction of a call that did not finish: shielded, so that a cancelled call still
    ends it, and bounded by ``ROLLBACK_S``, so that on a database that stopped answering a shutdown does
    not wait for it (asyncpg's own ``conn.transaction()`` would). A connection that did not roll back in
    time is closed, and its pool replaces it. Every transaction the product opens ends here when it does
    not commit."""
    with anyio.CancelScope(shield=True):
        if conn.is_closed() or not conn.is_in_transaction():
            return  # a COMMIT that failed has ended the transaction already
        with anyio.move_on_after(ROLLBACK_S) as waited, suppress(Exception):
            await conn.execute("ROLLBACK")
        if waited.cancelled_caught:
            conn.terminate()


@asynccontextmanager
async def transaction(conn: Session, begin: str = "BEGIN") -> AsyncIterator[None]:
    """``begin``, the body, COMMIT; a body that fails or is cancelled is rolled back by ``roll_back``.
    ``begin`` is one simple query: BEGIN with its options (``BEGIN READ ONLY``), or with what the
    transaction starts with (``BEGIN; SET LOCAL ROLE service_role``), in one round trip."""
    try:
        await conn.execute(begin)
        yield
    except BaseException:
        await roll_back(conn)
        raise
    await conn.execute("COMMIT")
