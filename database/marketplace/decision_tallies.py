"""Folding lenders' decisions into their provider rows (migration 0046): a bid, a declined or an
expired invitation is a row of ``caas_core.provider_decision_tallies``, written beside the decision
without touching the lender's row; the workers fold the rows into ``decided_count`` and
``approved_count`` every minute (``fold_provider_decisions``).

One fold at a time (a transaction advisory lock; another process's run finds it taken and leaves the
rows to it), each batch in one statement: the rows taken and deleted, the lenders' rows locked in id
order and updated, so a decision is counted exactly once whether the fold commits or rolls back.
"""

from __future__ import annotations

import asyncpg

from database.locks import AdvisoryLock
from database.platform.audit import Connection
from tools.platform.transactions import transaction

__all__ = ["BATCH", "fold_batch", "fold_provider_decisions"]

BATCH = 10_000
_FOLD = f"""
WITH turn AS MATERIALIZED (SELECT pg_try_advisory_xact_lock({AdvisoryLock.DECISION_FOLD.value}) AS ours),
taken AS (
    DELETE FROM caas_core.provider_decision_tallies
    WHERE id IN (
        SELECT id FROM caas_core.provider_decision_tallies WHERE (SELECT ours FROM turn) ORDER BY id LIMIT $1
    )
    RETURNING provider_id, approved
), sums AS (
    SELECT provider_id, count(*)::int AS decided, (count(*) FILTER (WHERE approved))::int AS approved
    FROM taken GROUP BY provider_id
), locked AS (
    SELECT p.id FROM caas_core.providers p JOIN sums s ON s.provider_id = p.id
    ORDER BY p.id FOR NO KEY UPDATE OF p
), folded AS (
    UPDATE caas_core.providers p
    SET decided_count = p.decided_count + s.decided, approved_count = p.approved_count + s.approved
    FROM sums s WHERE p.id = s.provider_id AND p.id IN (SELECT id FROM locked)
    RETURNING s.decided
)
SELECT (SELECT ours FROM turn) AS ours, coalesce((SELECT sum(decided) FROM folded), 0)::bigint AS folded
"""


async def fold_batch(conn: Connection, batch: int = BATCH) -> tuple[bool, int]:
    """One batch, in the caller's transaction: (whether this fold had the turn, decisions folded)."""
    row = await conn.fetchrow(_FOLD, batch)
    assert row is not None
    return bool(row["ours"]), int(row["folded"])


async def fold_provider_decisions(pool: asyncpg.Pool, batch: int = BATCH) -> int:
    """Fold every tallied decision into its lender's counts, a batch per transaction; how many were
    folded (0 when another process is folding)."""
    total = 0
    while True:
        async with pool.acquire() as conn, transaction(conn):
            ours, folded = await fold_batch(conn, batch)
        total += folded
        if not ours or folded < batch:
            return total
