"""Capital coming back to lenders, written in the same round trip as COMMIT (issue 14).

A lender's row is the busiest row a transaction locks: every offer, bid, settlement and withheld fee
of that lender waits for it. Capital coming back to a lender (a repayment's settlement, a fee withheld
from a payout, a released reservation) is never refused. So the write is not made where the use case
asks for it. It is collected here and sent with COMMIT as one simple query, and the row is locked
only while the transaction commits.

Before, a repayment's webhook held the row through six more round trips (the schedule, the loan, the
repayment, the audit row, the payment, COMMIT). Under load each round trip waits its turn in the
server's event loop, and the lender's other bids, offers and settlements waited behind it.

The query inlines its values. They are a ``UUID`` and an ``int``, turned back into text by
``UUID``/``int``, so nothing a caller wrote reaches the SQL. The simple protocol has no parameters,
and with them COMMIT would be one more round trip. One statement per lender, in id order, like every
other lock on lenders (``tools.platform.locking``).
"""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from database.platform.audit import Connection

__all__ = ["CapitalAtCommit", "add_at_once"]

_ADD = (
    "UPDATE caas_core.providers SET capital_available_minor = capital_available_minor + {amount}, "
    "updated_at = now(), version = version + 1 WHERE id = {provider_id}"
)


class CapitalAtCommit:
    """What a transaction gives back to lenders, until it commits. ``enabled=False`` (a unit of work
    without a transaction) refuses to collect: nothing would write it."""

    __slots__ = ("_added", "_enabled")

    def __init__(self, *, enabled: bool = True) -> None:
        self._added: list[tuple[UUID, int]] = []
        self._enabled = enabled

    def add(self, provider_id: UUID, amount_minor: int) -> None:
        if not self._enabled:
            raise AssertionError("capital is given back inside a transaction, not a single statement")
        self._added.append((UUID(str(provider_id)), int(amount_minor)))

    def mark(self) -> int:
        """Where a savepoint starts: ``roll_back_to`` drops what was added after it."""
        return len(self._added)

    def roll_back_to(self, mark: int) -> None:
        del self._added[mark:]

    def commit_sql(self) -> str:
        """The capital writes, lender by lender in id order, then COMMIT: one simple query."""
        totals: defaultdict[UUID, int] = defaultdict(int)
        for provider_id, amount in self._added:
            totals[provider_id] += amount
        writes = [
            _ADD.format(amount=int(amount), provider_id=f"'{UUID(str(provider_id))}'")
            for provider_id, amount in sorted(totals.items())
            if amount
        ]
        return "; ".join([*writes, "COMMIT"])


async def add_at_once(conn: Connection, provider_id: UUID, amount_minor: int) -> None:
    """The same write for a writer on a bare connection, outside any unit of work's COMMIT."""
    await conn.execute(_ADD.format(amount="$2", provider_id="$1"), provider_id, amount_minor)
