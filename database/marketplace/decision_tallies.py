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

from typing import NamedTuple

import asyncpg

from database.locks import AdvisoryLock
from database.platform.audit import Connection
from tools.platform.transactions import transaction

__all__ = ["BATCH", "Batch", "fold_batch", "fold_provider_decisions"]

BATCH = 10_000
_FOLD = """
WITH batch AS MATERIALIZED (
    SELECT id, provider_id FROM caas_core.provider_decision_tallies WHERE id > $2 ORDER BY id LIMIT $1
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
SELECT (SELECT count(*) FROM batch) AS seen, (SELECT max(id) FROM batch) AS last,
    coalesce((SELECT sum(decided) FROM folded), 0)::bigint AS folded
"""
_TURN = f"SELECT pg_try_advisory_xact_lock({AdvisoryLock.DECISION_FOLD.value})"


class Batch(NamedTuple):
    ours: bool  # whether this fold had the turn
    seen: int  # tally rows read
    folded: int  # decisions folded: fewer than seen when a held lender's rows were skipped
    last: int  # the last row's id read: the next batch reads past it


async def fold_batch(conn: Connection, batch: int = BATCH, after: int = 0) -> Batch:
    """One batch of the rows after id ``after``, in the caller's transaction."""
    # The turn first, in a statement of its own: the batch's snapshot then follows the commit of the
    # fold that had it, so it never reads rows that fold took (it would count them as skipped).
    if not await conn.fetchval(_TURN):
        return Batch(False, 0, 0, after)
    row = await conn.fetchrow(_FOLD, batch, after)
    assert row is not None
    return Batch(True, int(row["seen"]), int(row["folded"]), int(row["last"] or after))


async def fold_provider_decisions(pool: asyncpg.Pool, batch: int = BATCH) -> int:
    """Fold every tallied decision into its lender's counts, a batch per transaction; how many were
    folded (0 when another process is folding)."""
    total, after = 0, 0
    while True:
        async with pool.acquire() as conn, transaction(conn):
            done = await fold_batch(conn, batch, after)
        # Past the rows read, skipped ones included: a held lender's rows, however many, never fill
        # every batch and stop the fold before the other lenders' (a probe's find).
        total, after = total + done.folded, done.last
        if not done.ours or done.seen < batch:
            return total
