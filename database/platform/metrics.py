"""The facts of the system of record that ``/metrics`` exports, read-only: one statement (one snapshot)
for all but the ledger's reconciliation, which has a statement of its own.

Every figure is read from the database, never kept in a process: two processes on one database export
the same values and a restart resets nothing. The ones that count or sum history (applications, money,
failed jobs and payments, webhook deliveries) are running totals that triggers keep in the transaction
of each write (migration 0029, whose ``recount_metric_totals()`` is their definition from the rows), so
a scrape reads a few dozen rows, not the book; the rest are over live rows only. Each row is
``(metric, a, b, value)``:

- ``applications``: (to_status, currency, transitions into that state), from the application timeline
  (append-only, so the count never goes down);
- ``providers_active``: (currency, -, active providers), a currency whose providers are all suspended
  reads 0;
- ``disbursed_minor``: (currency, -, principal paid out), the ``disbursement`` journals' debits to the
  loans' ``principal_receivable`` (posted when the payout succeeded), net of reversals;
- ``revenue_minor``: (currency, kind, platform income) with kind ``commission`` (the ``commission``
  journals), ``interest_share`` (the share of collected interest, posted by ``repayment`` journals) and
  ``fee``; a reversal counts against the kind of the journal it reverses;
- ``outbox_lag``: (consumer, -, seconds) since the oldest event a consumer has not finished happened:
  ``relay`` for events not yet copied into the queues, else a queue (jobs failed for good excluded);
- ``queue_lag``: (queue, -, seconds) since the oldest unfinished job of a queue was queued (a job a
  worker runs right now is unfinished: its event has not been handled yet);
- ``jobs_running``: (queue, -, jobs leased to a worker whose lease has not run out), neither pending nor
  failed; a job whose lease ran out is pending again (a dead worker's, to be reclaimed);
- ``jobs_failed``: (queue, -, jobs that failed for good);
- ``payments_failed``: (kind, currency, failed payments with no later payment of the same kind for
  the same loan, i.e. not retried);
- ``webhook_deliveries``: (status, -, deliveries to providers), status as the delivery listing shows it.

``reconcile_minor`` (currency, -, absolute difference) is a statement of its own (``reconciliation``):
it reads every posting, so the exporter reads it less often.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from tools.platform.transactions import transaction

__all__ = ["Fact", "PgMetricsReader"]

# The running totals (migration 0029) summed over their slots, then the live figures: the unfinished
# jobs and events, each through a partial index on them. Counts that are 0 are left out as counting
# rows left them out (the exporter shows 0 for them); a money total that nets to 0 stays, as a sum
# over rows that exist did, and so do a currency's active lenders while it has any lender.
_FACTS = """
SELECT metric, a, nullif(b, '') AS b, sum(n) AS value
FROM caas_core.metric_totals
WHERE metric NOT IN ('providers', 'providers_active')
GROUP BY metric, a, b
HAVING sum(n) <> 0 OR metric IN ('disbursed_minor', 'revenue_minor')
UNION ALL
SELECT 'providers_active', a, NULL, coalesce(sum(n) FILTER (WHERE metric = 'providers_active'), 0)
FROM caas_core.metric_totals WHERE metric IN ('providers', 'providers_active')
GROUP BY a HAVING sum(n) FILTER (WHERE metric = 'providers') > 0
UNION ALL
SELECT 'outbox_lag', 'relay', NULL, extract(epoch FROM now() - min(occurred_at))
FROM caas_core.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'outbox_lag', j.queue, NULL, extract(epoch FROM now() - min(o.occurred_at))
FROM caas_core.jobs j JOIN caas_core.outbox o ON o.event_id = j.event_id
WHERE j.done_at IS NULL AND j.failed_at IS NULL
GROUP BY j.queue
UNION ALL
SELECT 'queue_lag', queue, NULL, extract(epoch FROM now() - min(created_at))
FROM caas_core.jobs WHERE done_at IS NULL AND failed_at IS NULL GROUP BY queue
UNION ALL
SELECT 'jobs_running', queue, NULL, count(*) FROM caas_core.jobs
WHERE done_at IS NULL AND failed_at IS NULL AND lease_until > now() GROUP BY queue
"""

# Apart, and less often (mcp_servers/platform/metrics.py): it reads every posting.
_LEDGER = """
SELECT 'reconcile_minor' AS metric, a.currency::text AS a, NULL::text AS b,
       sum(abs(coalesce(b.balance_minor, 0) - coalesce(s.total, 0))) AS value
FROM caas_ledger.accounts a
LEFT JOIN caas_ledger.account_balances b ON b.account_id = a.id
LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM caas_ledger.postings GROUP BY account_id) s
    ON s.account_id = a.id
GROUP BY a.currency
UNION ALL
SELECT 'reconcile_minor', currency::text, NULL, sum(abs(total))
FROM (SELECT currency, sum(amount_minor) AS total FROM caas_ledger.postings GROUP BY journal_id, currency) x
GROUP BY currency
"""

_LAST_HORIZON = "SELECT horizon::text FROM caas_ledger.reconciliations ORDER BY id DESC LIMIT 1"

# From the latest reconciliation's checkpoint (migration 0026): each cached balance against the verified
# sum plus the postings of the journals since its horizon, and only those journals for balance (the
# ones below were checked when a run moved the checkpoint past them). So a scrape costs the accounts and
# what was posted since the last run, not every posting: 47 s at 10M postings (bench_scale.py).
_LEDGER_SINCE = """
WITH since AS (
    SELECT p.account_id, p.journal_id, p.currency, p.amount_minor
    FROM caas_ledger.journals j JOIN caas_ledger.postings p ON p.journal_id = j.id
    WHERE j.xid >= $1::text::xid8
), sums AS (
    SELECT account_id, sum(cached) AS cached, sum(computed) AS computed
    FROM (
        SELECT account_id, balance_minor AS cached, 0::bigint AS computed FROM caas_ledger.account_balances
        UNION ALL
        SELECT account_id, 0, verified_minor FROM caas_ledger.reconciled_balances
        UNION ALL
        SELECT account_id, 0, amount_minor FROM since
    ) every_figure
    GROUP BY account_id
)
SELECT 'reconcile_minor' AS metric, a.currency::text AS a, NULL::text AS b,
       sum(abs(coalesce(s.cached, 0) - coalesce(s.computed, 0))) AS value
FROM caas_ledger.accounts a LEFT JOIN sums s ON s.account_id = a.id
GROUP BY a.currency
UNION ALL
SELECT 'reconcile_minor', currency::text, NULL, sum(abs(total))
FROM (SELECT currency, sum(amount_minor) AS total FROM since GROUP BY journal_id, currency) x
GROUP BY currency
"""


@dataclass(frozen=True, slots=True)
class Fact:
    metric: str
    a: str
    b: str | None
    value: Decimal


class PgMetricsReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def facts(self, within_s: float) -> list[Fact]:
        """Every fact but the reconciliation, at one instant; raises when the database does not
        answer within ``within_s``."""
        return await self._read(_FACTS, within_s)

    async def reconciliation(self, within_s: float) -> list[Fact]:
        """``reconcile_minor`` per currency: from the latest reconciliation's checkpoint when there is
        one (the hourly run keeps one), else from every posting."""
        return await self._read(_LEDGER, within_s, since_checkpoint=True)

    async def _read(self, sql: str, within_s: float, *, since_checkpoint: bool = False) -> list[Fact]:
        async with self._pool.acquire(timeout=within_s) as conn, transaction(conn, "BEGIN READ ONLY"):
            # The statement's cost estimate crosses jit_above_cost as history grows, and compiling it
            # takes seconds (measured: 6.9 s with JIT, 1.5 s without, at 160k postings; bench_metrics.py).
            await conn.execute("SET LOCAL jit = off")
            horizon = await conn.fetchval(_LAST_HORIZON) if since_checkpoint else None
            if horizon is not None:
                rows = await conn.fetch(_LEDGER_SINCE, horizon, timeout=within_s)
            else:
                rows = await conn.fetch(sql, timeout=within_s)
        return [Fact(r["metric"], r["a"], r["b"], Decimal(r["value"] or 0)) for r in rows]
