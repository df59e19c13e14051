"""Commission and platform revenue, read from the ledger (``caas_ledger``) by period.

Nothing here is stored twice: a provider's commission is the postings to its
``provider:<id>:commission_expense:<CUR>`` account (each one mirrors a posting to the platform's
``commission_income``), and the platform's revenue is the postings to ``platform:commission_income``
and ``platform:fee_income``. A posting's period is its ``created_at`` (the transaction's time).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from tools.ledger.domain.chart import account
from tools.loans.ports import CommissionPosting, RevenueLine

__all__ = ["PgCommissionReader"]

# A page in the period, after a (time, posting id) position when one is given: the keyset of
# list_account_postings, oldest first, read through postings' (account_id, created_at, id) index.
_POSTINGS = """
SELECT p.id AS posting_id, p.journal_id, j.kind AS journal_kind, j.source_id, p.amount_minor,
       p.created_at AS posted_at, coalesce(l.id, r.loan_id) AS loan_id
FROM caas_ledger.postings p
JOIN caas_ledger.journals j ON j.id = p.journal_id
-- A reversal's loan is the reversed journal's.
LEFT JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
LEFT JOIN caas_core.loans l ON coalesce(o.kind, j.kind) = 'commission'
    AND l.id::text = coalesce(o.source_id, j.source_id)
LEFT JOIN caas_core.loan_repayments r ON coalesce(o.kind, j.kind) = 'repayment'
    AND r.id::text = coalesce(o.source_id, j.source_id)
WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
  AND ($5::timestamptz IS NULL OR (p.created_at, p.id) > ($5, $6::bigint))
ORDER BY p.created_at, p.id
LIMIT $4
"""

_TOTALS = """
SELECT j.kind, sum(p.amount_minor)::bigint AS amount, count(*) AS postings
FROM caas_ledger.postings p
JOIN caas_ledger.journals j ON j.id = p.journal_id
WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
GROUP BY j.kind
"""

# Every currency of the provider's commission accounts with a posting in the period (a lender that
# changed currency has one account per currency): its few accounts, each probed by the postings' index.
_CHARGED_IN = """
SELECT a.currency::text AS currency FROM caas_ledger.accounts a
WHERE a.owner_type = 'provider' AND a.owner_id = $7 AND split_part(a.code, ':', 3) = 'commission_expense'
  AND EXISTS (SELECT 1 FROM caas_ledger.postings p
              WHERE p.account_id = a.id AND p.created_at >= $2 AND p.created_at < $3)
"""

# The page, the period's totals and its currencies in one statement, so one snapshot (and one round
# trip) serves them: the page's lines in order, one row per journal kind, one per currency.
_STATEMENT = f"""
WITH page AS ({_POSTINGS}), totals AS ({_TOTALS}), charged_in AS ({_CHARGED_IN})
SELECT 0 AS part, posting_id, journal_id, journal_kind, source_id, amount_minor, posted_at, loan_id,
       NULL::text AS kind, NULL::bigint AS amount, NULL::bigint AS postings
FROM page
UNION ALL
SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, kind, amount, postings FROM totals
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, currency, NULL, NULL FROM charged_in
ORDER BY part, posted_at, posting_id, kind
"""

# Income accounts are credit-normal: income is the negated sum (debits minus credits).
_INCOME = """
SELECT a.code, j.kind, (-sum(p.amount_minor))::bigint AS amount, count(DISTINCT j.id) AS journals
FROM caas_ledger.postings p
JOIN caas_ledger.journals j ON j.id = p.journal_id
JOIN caas_ledger.accounts a ON a.id = p.account_id
WHERE p.account_id = ANY($1::uuid[]) AND p.created_at >= $2 AND p.created_at < $3
GROUP BY a.code, j.kind
ORDER BY a.code, j.kind
"""

_BY_PROVIDER = """
SELECT a.owner_id, sum(p.amount_minor)::bigint AS amount
FROM caas_ledger.accounts a
JOIN caas_ledger.postings p ON p.account_id = a.id
WHERE a.owner_type = 'provider' AND split_part(a.code, ':', 3) = 'commission_expense' AND a.currency = $1
  AND p.created_at >= $2 AND p.created_at < $3
GROUP BY a.owner_id
ORDER BY a.owner_id
"""


# A page of the providers, largest commission first, after an (amount, provider) position when one is
# given; and how many providers the period has in all (a row of NULLs carries it past the last page).
_PROVIDER_PAGE = f"""
WITH agg AS ({_BY_PROVIDER}), page AS (
    SELECT owner_id, amount FROM agg
    WHERE $4::bigint IS NULL OR (amount, owner_id) < ($4, $5::text)
    ORDER BY amount DESC, owner_id DESC
    LIMIT $6
)
SELECT (SELECT count(*) FROM agg) AS providers, p.owner_id, p.amount
FROM (SELECT 1) AS one LEFT JOIN page p ON true
ORDER BY p.amount DESC, p.owner_id DESC
"""


class PgCommissionReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def provider_postings(
        self,
        provider_id: UUID,
        currency: str,
        period: tuple[datetime, datetime],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> tuple[list[CommissionPosting], int, dict[str, int], list[str]]:
        expense = account("provider", "commission_expense", currency, str(provider_id)).id
        at, posting = after if after is not None else (None, None)
        rows = await self._pool.fetch(_STATEMENT, expense, *period, limit, at, posting, str(provider_id))
        lines = (
            "posting_id",
            "journal_id",
            "journal_kind",
            "source_id",
            "amount_minor",
            "posted_at",
            "loan_id",
        )
        postings = [CommissionPosting(**{k: r[k] for k in lines}) for r in rows if r["part"] == 0]
        totals = [r for r in rows if r["part"] == 1]
        charged_in = [r["kind"] for r in rows if r["part"] == 2]
        count = sum(r["postings"] for r in totals)
        return postings, count, {r["kind"]: r["amount"] for r in totals}, charged_in

    async def platform_income(self, currency: str, start: datetime, end: datetime) -> list[RevenueLine]:
        accounts = {
            account("platform", purpose, currency).id for purpose in ("commission_income", "fee_income")
        }
        rows = await self._pool.fetch(_INCOME, list(accounts), start, end)
        return [
            RevenueLine(
                account_purpose=r["code"].split(":")[1],
                journal_kind=r["kind"],
                amount_minor=r["amount"],
                journals=r["journals"],
            )
            for r in rows
        ]

    async def commission_by_provider(
        self, currency: str, period: tuple[datetime, datetime], after: tuple[int, str] | None, limit: int
    ) -> tuple[list[tuple[str, int]], int]:
        amount, owner = after if after is not None else (None, None)
        rows = await self._pool.fetch(_PROVIDER_PAGE, currency, *period, amount, owner, limit)
        page = [(r["owner_id"], r["amount"]) for r in rows if r["owner_id"] is not None]
        return page, rows[0]["providers"]
