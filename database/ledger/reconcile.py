"""Reconciliation of the ledger: every cached balance against its postings, in one snapshot.

An incremental run reads the latest run's horizon H (a transaction id: every transaction below it had
finished when that run looked) and its per-account verified sums (the postings of journals below H),
sums only the journals at or above H (the journals_xid_idx range), and compares each cached balance
with verified + that delta. It then moves the checkpoint to its own snapshot's horizon. A full run sums
every posting. Why a checkpoint stays true: migration 0026.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from database.locks import AdvisoryLock
from database.platform.audit import Connection
from tools.ledger.domain.ledger import BalanceDifference, Reconciliation
from tools.platform.errors import Conflict
from tools.platform.transactions import transaction

__all__ = ["reconcile"]


_START = """
SELECT pg_try_advisory_xact_lock($1) AS locked, -- AdvisoryLock.LEDGER_RECONCILIATION
       now() AS checked_at,
       pg_snapshot_xmin(pg_current_snapshot())::text AS horizon,
       (SELECT count(*) FROM caas_ledger.accounts) AS accounts
"""

_LAST = (
    "SELECT horizon::text AS horizon, checked_at FROM caas_ledger.reconciliations ORDER BY id DESC LIMIT 1"
)

# The postings of the journals at or above $1, per account; "below" those under the new horizon $2.
_DELTA = """
delta AS (
    SELECT p.account_id, sum(p.amount_minor) AS total,
           sum(p.amount_minor) FILTER (WHERE j.xid < $2::text::xid8) AS below
    FROM caas_ledger.journals j
    JOIN caas_ledger.postings p ON p.journal_id = j.id
    WHERE j.xid >= $1::text::xid8
    GROUP BY p.account_id
)"""

_DELTA_COUNTS = """
SELECT count(DISTINCT j.id) AS journals, count(p.id) AS postings
FROM caas_ledger.journals j LEFT JOIN caas_ledger.postings p ON p.journal_id = j.id
WHERE j.xid >= $1::text::xid8
"""

_FULL_COUNTS = """
SELECT (SELECT count(*) FROM caas_ledger.journals) AS journals,
       (SELECT count(*) FROM caas_ledger.postings) AS postings
"""

# One hash aggregation over the cached balances, the checkpoint and the delta, rather than a join of
# the accounts with a delta the planner expects to be tiny: a misjudged nested loop there re-ran the
# delta for every account (still running after 20 s at 100k accounts, 2M postings, 20k since). The
# accounts are joined only to what differs.
_INCREMENTAL_DIFFERENCES = """
WITH sums AS (
    SELECT account_id, sum(cached) AS cached, sum(computed) AS computed
    FROM (
        SELECT account_id, balance_minor AS cached, 0::bigint AS computed FROM caas_ledger.account_balances
        UNION ALL
        SELECT account_id, 0, verified_minor FROM caas_ledger.reconciled_balances
        UNION ALL
        SELECT p.account_id, 0, p.amount_minor
        FROM caas_ledger.journals j JOIN caas_ledger.postings p ON p.journal_id = j.id
        WHERE j.xid >= $1::text::xid8
    ) every_figure
    GROUP BY account_id
    HAVING sum(cached) <> sum(computed)
)
SELECT a.id AS account_id, a.code, a.currency, s.cached::bigint AS cached_minor,
       s.computed::bigint AS computed_minor, count(*) OVER () AS total
FROM sums s JOIN caas_ledger.accounts a ON a.id = s.account_id
ORDER BY a.code
LIMIT $2
"""

_FULL_DIFFERENCES = """
SELECT a.id AS account_id, a.code, a.currency, coalesce(b.balance_minor, 0) AS cached_minor,
       coalesce(s.total, 0)::bigint AS computed_minor, count(*) OVER () AS total
FROM caas_ledger.accounts a
LEFT JOIN caas_ledger.account_balances b ON b.account_id = a.id
LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM caas_ledger.postings GROUP BY account_id) s
    ON s.account_id = a.id
WHERE coalesce(b.balance_minor, 0) <> coalesce(s.total, 0)
ORDER BY a.code
LIMIT $1
"""

# Journals that do not balance among those checked. Two texts rather than "$1 IS NULL OR ...", so the
# incremental one keeps its index range in a generic plan.
_UNBALANCED = """
WITH checked AS ({checked}),
per_currency AS (
    SELECT p.journal_id, sum(p.amount_minor) AS total, count(*) AS lines
    FROM caas_ledger.postings p JOIN checked c ON c.id = p.journal_id
    GROUP BY p.journal_id, p.currency
)
SELECT c.id
FROM checked c
LEFT JOIN per_currency t ON t.journal_id = c.id
GROUP BY c.id
HAVING coalesce(sum(t.lines), 0) < 2 OR coalesce(bool_or(t.total <> 0), false)
ORDER BY c.id
LIMIT $1
"""
_UNBALANCED_FULL = _UNBALANCED.format(checked="SELECT id FROM caas_ledger.journals")
_UNBALANCED_SINCE = _UNBALANCED.format(
    checked="SELECT id FROM caas_ledger.journals WHERE xid >= $2::text::xid8"
)

# The new checkpoint: the last one plus the delta below the new horizon (only the accounts it moved).
_SAVE_INCREMENTAL = f"""
WITH {_DELTA}
INSERT INTO caas_ledger.reconciled_balances AS r (account_id, verified_minor)
SELECT d.account_id, coalesce(old.verified_minor, 0) + d.below
FROM delta d LEFT JOIN caas_ledger.reconciled_balances old ON old.account_id = d.account_id
WHERE d.below IS NOT NULL
ORDER BY d.account_id
ON CONFLICT (account_id) DO UPDATE SET verified_minor = EXCLUDED.verified_minor, updated_at = now()
"""

# Every account: all its postings but those of journals at or above the new horizon (still unsettled).
_SAVE_FULL = """
INSERT INTO caas_ledger.reconciled_balances AS r (account_id, verified_minor)
SELECT account_id, sum(amount_minor)::bigint
FROM (
    SELECT id AS account_id, 0::bigint AS amount_minor FROM caas_ledger.accounts
    UNION ALL
    SELECT account_id, amount_minor FROM caas_ledger.postings
    UNION ALL
    SELECT p.account_id, -p.amount_minor
    FROM caas_ledger.journals j JOIN caas_ledger.postings p ON p.journal_id = j.id
    WHERE j.xid >= $1::text::xid8
) below_the_horizon
GROUP BY account_id
ORDER BY account_id
ON CONFLICT (account_id) DO UPDATE SET verified_minor = EXCLUDED.verified_minor, updated_at = now()
"""

_RECORD = """
INSERT INTO caas_ledger.reconciliations (mode, horizon, checked_at, consistent)
VALUES ($1, $2::text::xid8, $3, $4)
"""


def _busy() -> Conflict:
    return Conflict("another reconciliation is running; read its report, or try again when it ends")


async def reconcile(pool: asyncpg.Pool, full: bool, limit: int = 500) -> Reconciliation:
    try:
        # One snapshot for every query, so postings committed meanwhile cannot look like differences.
        async with pool.acquire() as conn, transaction(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ"):
            return await _run(conn, full, limit)
    except asyncpg.SerializationError:  # a run committed between this one's snapshot and its lock
        raise _busy() from None


async def _run(conn: Connection, full: bool, limit: int) -> Reconciliation:
    start = await conn.fetchrow(_START, AdvisoryLock.LEDGER_RECONCILIATION)
    assert start is not None
    if not start["locked"]:
        raise _busy()
    horizon: str = start["horizon"]
    last = None if full else await conn.fetchrow(_LAST)
    since: datetime | None = None
    if last is None:
        counts = await conn.fetchrow(_FULL_COUNTS)
        differences = await conn.fetch(_FULL_DIFFERENCES, limit)
        unbalanced = await conn.fetch(_UNBALANCED_FULL, limit)
        save: tuple[str, ...] = (_SAVE_FULL, horizon)
    else:
        since = last["checked_at"]
        counts = await conn.fetchrow(_DELTA_COUNTS, last["horizon"])
        differences = await conn.fetch(_INCREMENTAL_DIFFERENCES, last["horizon"], limit)
        unbalanced = await conn.fetch(_UNBALANCED_SINCE, limit, last["horizon"])
        save = (_SAVE_INCREMENTAL, last["horizon"], horizon)
    assert counts is not None
    found = Reconciliation(
        checked_at=start["checked_at"],
        accounts_checked=start["accounts"],
        journals_checked=counts["journals"],
        postings_checked=counts["postings"],
        differences=tuple(
            BalanceDifference(
                r["account_id"], r["code"], r["currency"], r["cached_minor"], r["computed_minor"]
            )
            for r in differences
        ),
        differences_total=differences[0]["total"] if differences else 0,
        unbalanced_journals=tuple(r["id"] for r in unbalanced),
        mode="full" if last is None else "incremental",
        since=since,
    )
    # A journal that does not balance would fall below the next horizon and out of incremental runs:
    # the checkpoint stays where it was, so every run reports it until it is corrected. A balance
    # that differs needs no such care: every run compares every cached balance.
    if not unbalanced:
        await conn.execute(*save)
        await conn.execute(_RECORD, found.mode, horizon, found.checked_at, found.consistent)
    return found
