"""The facts of the system of record that ``/metrics`` exports, read-only: one statement (one snapshot)
for all but the ledger's reconciliation, which has a statement of its own.

Every figure is recomputed from the rows that define it, never kept in a process: two processes on one
database export the same values and a restart resets nothing. Each row is ``(metric, a, b, value)``:

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

__all__ = ["Fact", "PgMetricsReader"]

# The disbursement journals (and reversals of one) first, then only their postings: driven from the
# accounts, the planner misjudged how many loan accounts there are and probed every posting of each
# (2.5 times slower at 10k loans, bench/bench_metrics.py).
_FACTS = """
WITH disbursements AS MATERIALIZED (
    SELECT j.id FROM caas_ledger.journals j WHERE j.kind = 'disbursement'
    UNION ALL
    SELECT j.id FROM caas_ledger.journals j JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
    WHERE j.kind = 'reversal' AND o.kind = 'disbursement'
), disbursement_postings AS MATERIALIZED (
    SELECT p.account_id, p.currency, p.amount_minor
    FROM disbursements d JOIN caas_ledger.postings p ON p.journal_id = d.id
)
SELECT 'applications' AS metric, t.to_status AS a, a.currency::text AS b, count(*)::numeric AS value
FROM caas_core.application_transitions t
JOIN caas_core.applications a ON a.id = t.application_id
GROUP BY t.to_status, a.currency
UNION ALL
SELECT 'providers_active', currency::text, NULL, count(*) FILTER (WHERE status = 'active')
FROM caas_core.providers GROUP BY currency
UNION ALL
SELECT 'disbursed_minor', dp.currency::text, NULL, sum(dp.amount_minor)
FROM disbursement_postings dp
JOIN caas_ledger.accounts a ON a.id = dp.account_id
WHERE a.owner_type = 'loan' AND split_part(a.code, ':', 3) = 'principal_receivable'
GROUP BY dp.currency
UNION ALL
SELECT 'revenue_minor', p.currency::text,
       CASE WHEN split_part(a.code, ':', 2) = 'fee_income' THEN 'fee'
            WHEN coalesce(o.kind, j.kind) = 'repayment' THEN 'interest_share'
            ELSE coalesce(o.kind, j.kind) END,
       -sum(p.amount_minor)
FROM caas_ledger.accounts a
JOIN caas_ledger.postings p ON p.account_id = a.id
JOIN caas_ledger.journals j ON j.id = p.journal_id
LEFT JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
WHERE a.owner_type = 'platform' AND split_part(a.code, ':', 2) IN ('commission_income', 'fee_income')
GROUP BY 2, 3
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
SELECT 'jobs_failed', queue, NULL, count(*) FROM caas_core.jobs WHERE failed_at IS NOT NULL GROUP BY queue
UNION ALL
SELECT 'jobs_running', queue, NULL, count(*) FROM caas_core.jobs
WHERE done_at IS NULL AND failed_at IS NULL AND lease_until > now() GROUP BY queue
UNION ALL
SELECT 'payments_failed', p.kind, p.currency::text, count(*)
FROM caas_core.payments p
WHERE p.status = 'failed' AND NOT EXISTS (
    SELECT 1 FROM caas_core.payments r
    WHERE r.loan_id = p.loan_id AND r.kind = p.kind AND r.created_at > p.created_at)
GROUP BY p.kind, p.currency
UNION ALL
SELECT 'webhook_deliveries',
       CASE WHEN j.failed_at IS NOT NULL THEN 'failed' WHEN d.status IS NOT NULL THEN d.status
            ELSE 'pending' END,
       NULL, count(*)
FROM caas_core.jobs j LEFT JOIN caas_core.webhook_deliveries d ON d.job_id = j.id
WHERE j.queue = 'provider_webhooks'
GROUP BY 2
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
        async with self._pool.acquire(timeout=within_s) as conn, conn.transaction(readonly=True):
            # The statement's cost estimate crosses jit_above_cost as history grows, and compiling it
            # takes seconds (measured: 6.9 s with JIT, 1.5 s without, at 160k postings; bench_metrics.py).
            await conn.execute("SET LOCAL jit = off")
            horizon = await conn.fetchval(_LAST_HORIZON) if since_checkpoint else None
            if horizon is not None:
                rows = await conn.fetch(_LEDGER_SINCE, horizon, timeout=within_s)
            else:
                rows = await conn.fetch(sql, timeout=within_s)
        return [Fact(r["metric"], r["a"], r["b"], Decimal(r["value"] or 0)) for r in rows]
