"""Folding lenders' decisions into their provider rows (migration 0046): a bid, a declined or an
expired invitation is a row of ``caas_core.provider_decision_tallies``, written beside the decision
without touching the lender's row; the workers fold the rows into ``decided_count`` and
``approved_count`` every minute (``fold_provider_decisions``).

One fold at a time (a transaction advisory lock; another process's run finds it taken and leaves the
rows to it), each batch one statement after the turn: the lenders' rows locked in id order, the rows of those
lenders taken and deleted, the lenders' rows updated, so a decision is counted exactly once whether
the fold commits or rolls back. A lender whose row is held (its bids share it until they commit) is
skipped, its rows left for the next fold: waiting for it would let a lender bidding without pause
starve the fold, and the fold, holding the lenders it had locked, hold up their bids (a probe's find).
"""

from __future__ import annotations

import asyncpg

from database.locks import AdvisoryLock
from database.platform.audit import Connection
from tools.platform.transactions import transaction

__all__ = ["BATCH", "fold_batch", "fold_provider_decisions"]

BATCH = 10_000
_FOLD = """
WITH batch AS MATERIALIZED (
    SELECT id, provider_id FROM caas_core.provider_decision_tallies ORDER BY id LIMIT $1
), locked AS MATERIALIZED (
    SELECT p.id FROM caas_core.providers p WHERE p.id IN (SELECT provider_id FROM batch)
    ORDER BY p.id FOR NO KEY UPDATE OF p SKIP LOCKED
), taken AS (
    DELETE FROM caas_core.provider_decision_tallies
    WHERE id IN (SELECT id FROM batch WHERE provider_id IN (SELECT id FROM locked))
    RETURNING provider_id, approved
), sums AS (
    SELECT provider_id, count(*)::int AS decided, (count(*) FILTER (WHERE approved))::int AS approved
    FROM taken GROUP BY provider_id
), folded AS (
    UPDATE caas_core.providers p
    SET decided_count = p.decided_count + s.decided, approved_count = p.approved_count + s.approved
    FROM sums s WHERE p.id = s.provider_id
    RETURNING s.decided
)
SELECT (SELECT count(*) FROM batch) AS seen,
    coalesce((SELECT sum(decided) FROM folded), 0)::bigint AS folded
"""
_TURN = f"SELECT pg_try_advisory_xact_lock({AdvisoryLock.DECISION_FOLD.value})"


async def fold_batch(conn: Connection, batch: int = BATCH) -> tuple[bool, int, int]:
    """One batch, in the caller's transaction: whether this fold had the turn, the rows it read, and
    the decisions it folded (fewer when it skipped a held lender)."""
    # The turn first, in a statement of its own: the batch's snapshot then follows the commit of the
    # fold that had it, so it never reads rows that fold took (it would count them as skipped).
    if not await conn.fetchval(_TURN):
        return False, 0, 0
    row = await conn.fetchrow(_FOLD, batch)
    assert row is not None
    return True, int(row["seen"]), int(row["folded"])


async def fold_provider_decisions(pool: asyncpg.Pool, batch: int = BATCH) -> int:
    """Fold every tallied decision into its lender's counts, a batch per transaction; how many were
    folded (0 when another process is folding)."""
    total = 0
    while True:
        async with pool.acquire() as conn, transaction(conn):
            ours, seen, folded = await fold_batch(conn, batch)
        total += folded
        if not ours or seen < batch or folded == 0:  # done, or only held lenders' rows are left
            return total
