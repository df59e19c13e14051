"""The facts of the system of record that ``/metrics`` exports, read in one statement (one round trip,
one snapshot), read-only.

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
- ``queue_lag``: (queue, -, seconds) since the oldest unfinished job of a queue was queued;
- ``jobs_failed``: (queue, -, jobs that failed for good);
- ``payments_failed``: (kind, currency, failed payments with no later payment of the same kind for
  the same loan, i.e. not retried), 0 for every kind and currency that has payments;
- ``reconcile_minor``: (currency, -, absolute difference) between the cached balances and the sums of
  the postings, plus every journal's imbalance: what ``reconcile_ledger`` reports, 0 when consistent;
- ``webhook_deliveries``: (status, -, deliveries to providers), status as the delivery listing shows it.

The reconciliation part reads every posting; the rest is served by indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

__all__ = ["Fact", "PgMetricsReader"]

_FACTS = """
SELECT 'applications' AS metric, t.to_status AS a, a.currency::text AS b, count(*)::numeric AS value
FROM caas_core.application_transitions t
JOIN caas_core.applications a ON a.id = t.application_id
GROUP BY t.to_status, a.currency
UNION ALL
SELECT 'providers_active', currency::text, NULL, count(*) FILTER (WHERE status = 'active')
FROM caas_core.providers GROUP BY currency
UNION ALL
SELECT 'disbursed_minor', p.currency::text, NULL, sum(p.amount_minor)
FROM caas_ledger.postings p
JOIN caas_ledger.accounts a ON a.id = p.account_id
JOIN caas_ledger.journals j ON j.id = p.journal_id
LEFT JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
WHERE a.owner_type = 'loan' AND split_part(a.code, ':', 3) = 'principal_receivable'
  AND coalesce(o.kind, j.kind) = 'disbursement'
GROUP BY p.currency
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
SELECT 'payments_failed', p.kind, p.currency::text,
       count(*) FILTER (WHERE p.status = 'failed' AND NOT EXISTS (
           SELECT 1 FROM caas_core.payments r
           WHERE r.loan_id = p.loan_id AND r.kind = p.kind AND r.created_at > p.created_at))
FROM caas_core.payments p
GROUP BY p.kind, p.currency
UNION ALL
SELECT 'reconcile_minor', a.currency::text, NULL,
       sum(abs(coalesce(b.balance_minor, 0) - coalesce(s.total, 0)))
FROM caas_ledger.accounts a
LEFT JOIN caas_ledger.account_balances b ON b.account_id = a.id
LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM caas_ledger.postings GROUP BY account_id) s
    ON s.account_id = a.id
GROUP BY a.currency
UNION ALL
SELECT 'reconcile_minor', currency::text, NULL, sum(abs(total))
FROM (SELECT currency, sum(amount_minor) AS total FROM caas_ledger.postings GROUP BY journal_id, currency) x
GROUP BY currency
UNION ALL
SELECT 'webhook_deliveries',
       CASE WHEN j.failed_at IS NOT NULL THEN 'failed' WHEN d.status IS NOT NULL THEN d.status
            ELSE 'pending' END,
       NULL, count(*)
FROM caas_core.jobs j LEFT JOIN caas_core.webhook_deliveries d ON d.job_id = j.id
WHERE j.queue = 'provider_webhooks'
GROUP BY 2
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
        """Every fact at one instant; raises when the database does not answer within ``within_s``."""
        rows = await self._pool.fetch(_FACTS, timeout=within_s)
        return [Fact(r["metric"], r["a"], r["b"], Decimal(r["value"] or 0)) for r in rows]
