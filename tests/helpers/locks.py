"""A test holding a row lock so a call waits behind it, and knowing when the call does."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

__all__ = ["hold_loan", "lock_waiters"]


async def lock_waiters(db: asyncpg.Connection, n: int = 1) -> None:
    """Until ``n`` of this database's backends wait for a lock (a test's transaction holds one)."""
    for _ in range(600):
        await db.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        if waiting >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} backends never waited for a lock")


async def hold_loan(db: asyncpg.Connection, loan_id: str) -> Any:
    """A transaction on ``db`` holding loan ``loan_id`` as a repayment's would: what locks the loan
    waits until the caller rolls it back."""
    holding = db.transaction()
    await holding.start()
    await db.execute("SELECT 1 FROM caas_core.loans WHERE id = $1 FOR NO KEY UPDATE", loan_id)
    return holding
