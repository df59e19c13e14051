"""The dashboard's reads, one statement each (one round trip, one snapshot), all read-only.

Ages are measured against the caller's clock (``$1``), not the database's, so a test that moves its
clock sees applications age. Indexes: ``applications_state_age_idx`` (migration 0022) for the states,
``provider_invitations_provider_idx``, ``bids_provider_idx`` and ``loans_provider_idx`` for a page of
providers, ``accounts_owner_idx`` and ``postings_account_idx`` for revenue, ``jobs_due_idx`` and
``jobs_failed_idx`` for the sync queue, ``jobs_done_idx`` (migration 0025) for what it applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from tools.monitoring.ports import ProviderRow, RevenueRow, StateRow, StuckRow, SyncRow

__all__ = ["PgMonitoringReader"]

# Every application is counted, but only those still waiting in a state ($6: not the ends, which only
# ever grow) are aged and sorted, through the index on (status, status_changed_at).
_PIPELINE = """
WITH expected AS (
    SELECT * FROM unnest($2::text[], $3::float8[]) AS e(status, seconds)
), counted AS (
    -- Kept by a trigger as applications change (migration 0028): a few dozen rows, not the whole book.
    SELECT status, currency::text AS currency, sum(n)::bigint AS n FROM caas_core.application_state_counts
    WHERE $4::text IS NULL OR currency = $4::text
    GROUP BY status, currency
    HAVING sum(n) <> 0
), waiting AS (
    SELECT a.status, a.currency::text AS currency, a.reference, a.status_changed_at,
           extract(epoch FROM $1::timestamptz - a.status_changed_at)::float8 AS age_s, e.seconds
    FROM caas_core.applications a
    LEFT JOIN expected e ON e.status = a.status
    WHERE a.status = ANY($6::text[]) AND ($4::text IS NULL OR a.currency = $4::text)
), aged AS (
    SELECT status, currency, max(age_s) AS oldest_s,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY age_s) AS p50_s,
           count(*) FILTER (WHERE age_s > seconds) AS stuck
    FROM waiting GROUP BY status, currency
), states AS (
    SELECT 'state' AS kind, c.status, c.currency, c.n, g.oldest_s, g.p50_s, coalesce(g.stuck, 0) AS stuck,
           NULL::text AS reference, NULL::timestamptz AS since
    FROM counted c LEFT JOIN aged g USING (status, currency)
), stuck AS (
    SELECT 'stuck' AS kind, status, currency, 0::bigint, age_s, 0::float8, 0::bigint, reference,
           status_changed_at
    FROM waiting WHERE age_s > seconds
    ORDER BY age_s DESC, reference LIMIT $5
)
SELECT * FROM states UNION ALL SELECT * FROM stuck
"""

_PROVIDERS = """
WITH page AS (
    SELECT p.id, p.name, p.currency::text AS currency, p.status FROM caas_core.providers p
    WHERE ($1::text IS NULL OR p.currency = $1::text) AND ($2::uuid IS NULL OR p.id > $2::uuid)
    ORDER BY p.id LIMIT $3
), invited AS (
    SELECT i.provider_id, count(*) AS invitations
    FROM caas_core.provider_invitations i JOIN page ON page.id = i.provider_id GROUP BY i.provider_id
), bid_on AS (
    SELECT b.provider_id, b.application_id, min(b.created_at) AS first_bid_at,
           bool_or(b.status = 'accepted') AS accepted
    FROM caas_core.bids b JOIN page ON page.id = b.provider_id GROUP BY b.provider_id, b.application_id
), bids AS (
    SELECT f.provider_id, count(*) AS bid_on, count(*) FILTER (WHERE f.accepted) AS accepted,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM f.first_bid_at - i.invited_at)::float8
           ) FILTER (WHERE i.invited_at IS NOT NULL) AS median_bid_s
    FROM bid_on f
    LEFT JOIN caas_core.provider_invitations i
        ON i.provider_id = f.provider_id AND i.application_id = f.application_id
    GROUP BY f.provider_id
), lent AS (
    SELECT l.provider_id, count(*) AS loans,
           count(*) FILTER (
               WHERE l.defaulted_at IS NOT NULL OR l.status IN ('written_off', 'defaulted')
                   OR l.days_past_due > $4
           ) AS defaulted,
           -- In the currency the row is labelled with: a lender that changed currency lent in others.
           sum(l.principal_minor) FILTER (WHERE l.currency = page.currency)::bigint AS volume_minor
    FROM caas_core.loans l JOIN page ON page.id = l.provider_id
    WHERE l.disbursed_at IS NOT NULL
    GROUP BY l.provider_id
)
SELECT page.id, page.name, page.currency, page.status, coalesce(invited.invitations, 0) AS invitations,
       coalesce(bids.bid_on, 0) AS bid_on, coalesce(bids.accepted, 0) AS accepted, bids.median_bid_s,
       coalesce(lent.loans, 0) AS loans, coalesce(lent.defaulted, 0) AS defaulted,
       coalesce(lent.volume_minor, 0) AS volume_minor
FROM page
LEFT JOIN invited ON invited.provider_id = page.id
LEFT JOIN bids ON bids.provider_id = page.id
LEFT JOIN lent ON lent.provider_id = page.id
ORDER BY page.id
"""

# Income accounts are credit-normal: income is the negated sum (debits minus credits).
_REVENUE = """
SELECT a.currency::text AS currency, date_trunc('month', p.created_at AT TIME ZONE 'UTC')::date AS month,
       split_part(a.code, ':', 2) AS purpose, j.kind, (-sum(p.amount_minor))::bigint AS amount,
       count(DISTINCT j.id) AS journals
FROM caas_ledger.accounts a
JOIN caas_ledger.postings p ON p.account_id = a.id AND p.created_at >= $1 AND p.created_at < $2
JOIN caas_ledger.journals j ON j.id = p.journal_id
WHERE a.owner_type = 'platform' AND a.owner_id IS NULL
  AND split_part(a.code, ':', 2) IN ('commission_income', 'fee_income')
  AND ($3::text IS NULL OR a.currency = $3::text)
GROUP BY 1, 2, 3, 4
"""

_SYNC = """
WITH pending AS (
    SELECT count(*) AS n, min(coalesce(o.occurred_at, j.created_at)) AS oldest
    FROM caas_core.jobs j LEFT JOIN caas_core.outbox o ON o.event_id = j.event_id
    WHERE j.queue = $2 AND j.done_at IS NULL AND j.failed_at IS NULL
), unrelayed AS (
    SELECT min(occurred_at) AS oldest FROM caas_core.outbox WHERE published_at IS NULL
), failed AS (
    SELECT count(*) AS n, max(failed_at) AS last_at,
           (array_agg(event_type ORDER BY failed_at DESC))[1] AS last_event
    FROM caas_core.jobs WHERE queue = $2 AND failed_at IS NOT NULL
), applied AS (
    SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_s) AS p50, max(lag_s) AS worst
    FROM (
        SELECT extract(epoch FROM j.done_at - o.occurred_at)::float8 AS lag_s
        FROM caas_core.jobs j JOIN caas_core.outbox o ON o.event_id = j.event_id
        WHERE j.queue = $2 AND j.done_at >= $1::timestamptz - interval '1 hour'
    ) recent
), latest AS (
    SELECT max(done_at) AS at FROM caas_core.jobs WHERE queue = $2 AND done_at IS NOT NULL
)
SELECT pending.n AS pending, least(pending.oldest, unrelayed.oldest) AS oldest_pending_at,
       failed.n AS failed, failed.last_at, failed.last_event, applied.n AS applied, applied.p50,
       applied.worst, latest.at AS last_applied_at
FROM pending, unrelayed, failed, applied, latest
"""


class PgMonitoringReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def pipeline(
        self,
        now: datetime,
        expected: Mapping[str, timedelta],
        waiting: Sequence[str],
        currency: str | None,
        stuck_limit: int,
    ) -> tuple[list[StateRow], list[StuckRow]]:
        statuses = list(expected)
        seconds = [expected[s].total_seconds() for s in statuses]
        rows = await self._pool.fetch(_PIPELINE, now, statuses, seconds, currency, stuck_limit, list(waiting))
        states = [
            StateRow(r["status"], r["currency"], r["n"], r["oldest_s"], r["p50_s"], r["stuck"])
            for r in rows
            if r["kind"] == "state"
        ]
        stuck = [
            StuckRow(r["reference"], r["status"], r["currency"], r["since"])
            for r in rows
            if r["kind"] == "stuck"
        ]
        return states, stuck

    async def providers(
        self, currency: str | None, after: UUID | None, limit: int, default_dpd: int
    ) -> list[ProviderRow]:
        rows = await self._pool.fetch(_PROVIDERS, currency, after, limit, default_dpd)
        return [
            ProviderRow(
                provider_id=r["id"],
                name=r["name"],
                currency=r["currency"],
                status=r["status"],
                invitations=r["invitations"],
                bid_on=r["bid_on"],
                accepted=r["accepted"],
                median_bid_s=r["median_bid_s"],
                loans=r["loans"],
                defaulted=r["defaulted"],
                volume_minor=r["volume_minor"],
            )
            for r in rows
        ]

    async def revenue(self, start: datetime, end: datetime, currency: str | None) -> list[RevenueRow]:
        rows = await self._pool.fetch(_REVENUE, start, end, currency)
        return [
            RevenueRow(r["currency"], r["month"], r["purpose"], r["kind"], r["amount"], r["journals"])
            for r in rows
        ]

    async def sync(self, now: datetime, queue: str) -> SyncRow:
        r = await self._pool.fetchrow(_SYNC, now, queue)
        assert r is not None  # aggregates always answer one row
        return SyncRow(
            pending=r["pending"],
            oldest_pending_at=r["oldest_pending_at"],
            failed=r["failed"],
            last_failed_at=r["last_at"],
            last_failed_event=r["last_event"],
            applied_last_hour=r["applied"],
            lag_p50_s=r["p50"],
            lag_max_s=r["worst"],
            last_applied_at=r["last_applied_at"],
        )
