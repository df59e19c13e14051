"""The figures ``/metrics`` reads from running totals (migration 0029), counted from the history that
defines them: the statement the scrape ran before the totals existed (database/platform/metrics.py at
migration 0028), kept here as the tests' oracle. Both are read in one snapshot."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from database.platform.metrics import _FACTS

__all__ = ["HISTORY", "TOTALLED", "Figures", "from_history_and_totals"]

TOTALLED = (
    "applications",
    "disbursed_minor",
    "revenue_minor",
    "jobs_failed",
    "payments_failed",
    "webhook_deliveries",
    "providers_active",
)

HISTORY = """
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
SELECT 'jobs_failed', queue, NULL, count(*) FROM caas_core.jobs WHERE failed_at IS NOT NULL GROUP BY queue
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
UNION ALL
SELECT 'providers_active', currency::text, NULL, count(*) FILTER (WHERE status = 'active')
FROM caas_core.providers GROUP BY currency
"""

Figures = dict[tuple[str, str, str | None], Decimal]


def _figures(rows: list[asyncpg.Record]) -> Figures:
    return {(r["metric"], r["a"], r["b"]): Decimal(r["value"]) for r in rows if r["metric"] in TOTALLED}


async def from_history_and_totals(db: asyncpg.Connection) -> tuple[Figures, Figures]:
    """(counted from history, read by the scrape's statement), in one snapshot."""
    async with db.transaction(isolation="repeatable_read", readonly=True):
        history = _figures(await db.fetch(HISTORY))
        totals = _figures(await db.fetch(_FACTS))
    return history, totals
