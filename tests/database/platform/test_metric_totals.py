"""The running totals behind ``/metrics`` (migration 0029) equal a count of the history that defines
them: after the migration's recount of rows written before the triggers existed (an upgraded
database), and after a mix of writes the triggers follow (a draft's currency edited, a disbursement
reversed, a payment failed and retried, a job failed and requeued through the delivery repository,
deliveries recorded through it, a job deleted). The scrape's statement reads none of the history."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from database import migrate
from database.marketplace.webhook_deliveries import PgWebhookDeliveries
from database.platform.jobs import PgJobStore
from database.platform.metrics import _FACTS
from database.pool import create_pool
from tests.helpers.metrics_history import from_history_and_totals
from tools.marketplace.domain.provider_webhooks import DeliveryStatus
from tools.marketplace.ports import AttemptResult

L1, L2, L3, L4 = (uuid.UUID(int=n) for n in range(1, 5))
WEBHOOKS = "provider_webhooks"

# Rows as a release without the totals wrote them: triggers off, as before migration 0029 (its
# recount is what an upgrade runs). NGN: a disbursement, a commission reversed, a repayment's interest
# share, a fee; GHS: a disbursement reversed. Payments: L1's payout failed then retried (not counted)
# and its collection failed last (counted); L2's collection failed (counted). Jobs: a failed
# notification, and provider webhooks in every bucket.
_OLD_HISTORY = """
INSERT INTO caas_core.applications (id, reference, borrower_id, created_by, created_by_role, status,
    applicant_name, applicant_email, applicant_country, currency)
VALUES (md5('a1')::uuid, 'CAAS-T-1', 'b-1', 't', 'borrower', 'withdrawn', 'T', 't@example.com', 'NG', 'NGN'),
       (md5('a2')::uuid, 'CAAS-T-2', 'b-2', 't', 'borrower', 'withdrawn', 'T', 't@example.com', 'GH', 'GHS');
INSERT INTO caas_core.application_transitions
    (application_id, from_status, to_status, actor_id, actor_role, reason)
SELECT md5(a)::uuid, NULL, s, 't', 'operator', 'test'
FROM (VALUES ('a1', ARRAY['submitted', 'under_review', 'open_for_bids', 'offer_accepted', 'approved',
                          'disbursed']),
             ('a2', ARRAY['submitted', 'under_review', 'declined'])) AS p (a, path), unnest(path) s;
INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id)
SELECT md5(code)::uuid, code, kind, right(code, 3), split_part(code, ':', 1),
       CASE WHEN code LIKE 'platform:%' THEN NULL ELSE split_part(code, ':', 2) END
FROM (VALUES ('loan:l1:principal_receivable:NGN', 'asset'), ('loan:l2:principal_receivable:GHS', 'asset'),
             ('loan:l3:principal_receivable:KES', 'asset'), ('provider:p1:capital_reserved:NGN', 'asset'),
             ('provider:p1:capital_reserved:GHS', 'asset'), ('provider:p1:capital_reserved:KES', 'asset'),
             ('provider:p1:commission_expense:NGN', 'expense'), ('platform:commission_income:NGN', 'income'),
             ('platform:fee_income:NGN', 'income'), ('platform:cash_clearing:onasis:NGN', 'asset'))
     AS c (code, kind);
INSERT INTO caas_ledger.journals (id, kind, source_id, reverses_journal_id, memo, created_by)
SELECT md5(k)::uuid, kind, coalesce(md5(r)::uuid::text, k), md5(r)::uuid, 'm', 't'
FROM (VALUES ('d1', 'disbursement', NULL), ('d2', 'disbursement', NULL), ('c1', 'commission', NULL),
             ('f1', 'fee', NULL), ('r1', 'repayment', NULL), ('x1', 'reversal', 'd2'),
             ('x2', 'reversal', 'c1')) AS j (k, kind, r);
INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor)
SELECT md5(j)::uuid, md5(a)::uuid, right(a, 3), n
FROM (VALUES ('d1', 'loan:l1:principal_receivable:NGN', 100000),
             ('d1', 'provider:p1:capital_reserved:NGN', -100000),
             ('d2', 'loan:l2:principal_receivable:GHS', 5000),
             ('d2', 'provider:p1:capital_reserved:GHS', -5000),
             ('x1', 'provider:p1:capital_reserved:GHS', 5000),
             ('x1', 'loan:l2:principal_receivable:GHS', -5000),
             ('c1', 'provider:p1:commission_expense:NGN', 3000),
             ('c1', 'platform:commission_income:NGN', -3000),
             ('x2', 'platform:commission_income:NGN', 3000),
             ('x2', 'provider:p1:commission_expense:NGN', -3000),
             ('f1', 'platform:cash_clearing:onasis:NGN', 700), ('f1', 'platform:fee_income:NGN', -700),
             ('r1', 'platform:cash_clearing:onasis:NGN', 11000),
             ('r1', 'loan:l1:principal_receivable:NGN', -10000),
             ('r1', 'platform:commission_income:NGN', -1000)) AS p (j, a, n);
INSERT INTO caas_core.loans (id, application_id, bid_id, provider_id, borrower_id, currency, principal_minor,
    annual_rate, term_months, repayment_frequency, schedule_method, installment_count, origination_fee_minor,
    total_interest_minor, total_of_payments_minor, amount_financed_minor, finance_charge_minor, apr,
    apr_percent, origination_date, first_due_date, maturity_date, created_by)
SELECT id, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'b', c, 1000, 0, 1, 'monthly', 'flat', 1,
       0, 0, 1000, 1000, 0, 0, 0, current_date, current_date + 30, current_date + 30, 't'
FROM (VALUES ($1::uuid, 'NGN'), ($2::uuid, 'GHS'), ($3::uuid, 'KES'), ($4::uuid, 'KES')) AS l (id, c);
INSERT INTO caas_core.payments
    (kind, loan_id, amount_minor, currency, status, requested_by, created_at, settled_at)
VALUES ('disbursement', $1, 1000, 'NGN', 'failed', 't', now() - interval '3 days', now()),
       ('disbursement', $1, 1000, 'NGN', 'succeeded', 't', now() - interval '2 days', now()),
       ('collection', $1, 100, 'NGN', 'succeeded', 't', now() - interval '2 days', now()),
       ('collection', $1, 100, 'NGN', 'failed', 't', now() - interval '1 day', now()),
       ('collection', $2, 100, 'GHS', 'failed', 't', now() - interval '1 day', now());
INSERT INTO caas_core.jobs (queue, event_id, event_type, payload, done_at, failed_at)
VALUES ('notifications', gen_random_uuid(), 'e', '{}', NULL, now()),
       ('provider_webhooks', gen_random_uuid(), 'e', '{}', NULL, NULL),
       ('provider_webhooks', gen_random_uuid(), 'e', '{}', now(), NULL),
       ('provider_webhooks', gen_random_uuid(), 'e', '{}', NULL, now()),
       ('provider_webhooks', gen_random_uuid(), 'e', '{}', now(), NULL),
       ('provider_webhooks', gen_random_uuid(), 'e', '{}', now(), NULL);
INSERT INTO caas_core.webhook_deliveries (job_id, status, delivered_at)
SELECT id, s, CASE WHEN s = 'delivered' THEN now() END
FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM caas_core.jobs WHERE queue = 'provider_webhooks') j
JOIN (VALUES (2, 'delivered'), (3, 'pending'), (4, 'failed'), (5, 'skipped')) AS d (k, s) USING (k)
"""


@pytest.fixture
async def dsn(fresh_database: Any) -> str:
    """A migrated system of record of this test alone, holding the old history (no totals for it)."""
    made: str = await fresh_database()
    conn = await asyncpg.connect(made)
    try:
        await migrate.migrate(conn, "core")
        old = _OLD_HISTORY
        for n, loan in enumerate((L1, L2, L3, L4), start=1):
            old = old.replace(f"${n}", f"'{loan}'")
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(old)
    finally:
        await conn.close()
    return made


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def same_figures(db: asyncpg.Connection) -> dict[tuple[str, str, str | None], Decimal]:
    history, totals = await from_history_and_totals(db)
    assert totals == history
    return totals


async def test_the_migration_recount_gives_an_upgraded_database_the_figures_of_its_history(
    db: asyncpg.Connection,
) -> None:
    history, totals = await from_history_and_totals(db)
    assert totals == {} and len(history) == 22  # written with the triggers off: nothing totalled
    await db.execute("SELECT caas_core.recount_metric_totals()")
    figures = await same_figures(db)
    assert figures["applications", "submitted", "NGN"] == figures["applications", "declined", "GHS"] == 1
    # A reversal nets its disbursement to 0 (the currency still reads, as the sum did) and counts
    # against the kind it reverses; the repayment's platform share is interest.
    assert figures["disbursed_minor", "NGN", None] == 100000 and figures["disbursed_minor", "GHS", None] == 0
    assert figures["revenue_minor", "NGN", "commission"] == 0
    assert figures["revenue_minor", "NGN", "interest_share"] == 1000
    assert figures["revenue_minor", "NGN", "fee"] == 700
    # L1's failed payout was retried; its collection and L2's failed last.
    assert ("payments_failed", "disbursement", "NGN") not in figures
    assert (
        figures["payments_failed", "collection", "NGN"]
        == figures["payments_failed", "collection", "GHS"]
        == 1
    )
    assert figures["jobs_failed", "notifications", None] == figures["jobs_failed", WEBHOOKS, None] == 1
    buckets = {a: n for (metric, a, _), n in figures.items() if metric == "webhook_deliveries"}
    assert buckets == {"pending": 1, "delivered": 1, "failed": 2, "skipped": 1}


async def application_moves(db: asyncpg.Connection) -> None:
    """A draft filed in NGN and edited to KES (its entry counts under KES), then withdrawn."""
    app = await db.fetchval(
        """
        WITH app AS (
            INSERT INTO caas_core.applications (id, reference, borrower_id, created_by, created_by_role,
                status, applicant_name, applicant_email, applicant_country, currency)
            VALUES (gen_random_uuid(), 'CAAS-T-3', 'b-3', 't', 'borrower', 'draft', 'T', 't@example.com',
                    'NG', 'NGN')
            RETURNING id, status
        ), entry AS (
            INSERT INTO caas_core.application_transitions
                (application_id, from_status, to_status, actor_id, actor_role, reason)
            SELECT id, NULL, status, 't', 'borrower', 'filed' FROM app
        )
        SELECT id FROM app"""
    )
    await db.execute("UPDATE caas_core.applications SET currency = 'KES' WHERE id = $1", app)
    await db.execute(
        """
        WITH moved AS (UPDATE caas_core.applications SET status = 'withdrawn' WHERE id = $1 RETURNING id)
        INSERT INTO caas_core.application_transitions
            (application_id, from_status, to_status, actor_id, actor_role, reason)
        SELECT id, 'draft', 'withdrawn', 't', 'borrower', 'withdrawn' FROM moved""",
        app,
    )


async def post(db: asyncpg.Connection, kind: str, lines: list[tuple[str, int]], reverses: Any = None) -> Any:
    async with db.transaction():
        journal = await db.fetchval(
            "INSERT INTO caas_ledger.journals (kind, source_id, reverses_journal_id, memo, created_by) "
            "VALUES ($1, coalesce($2::uuid::text, gen_random_uuid()::text), $2::uuid, 'm', 't') RETURNING id",
            kind,
            reverses,
        )
        await db.execute(
            "INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor) "
            "SELECT $1, md5(a)::uuid, right(a, 3), n FROM unnest($2::text[], $3::bigint[]) AS l (a, n)",
            journal,
            [a for a, _ in lines],
            [n for _, n in lines],
        )
    return journal


async def ledger_moves(db: asyncpg.Connection) -> None:
    """A KES disbursement, reversed; a fee and a repayment's interest share in NGN."""
    lines = [("loan:l3:principal_receivable:KES", 7000), ("provider:p1:capital_reserved:KES", -7000)]
    payout = await post(db, "disbursement", lines)
    await post(db, "reversal", [(a, -n) for a, n in lines], reverses=payout)
    await post(db, "fee", [("platform:cash_clearing:onasis:NGN", 300), ("platform:fee_income:NGN", -300)])
    share = [("platform:cash_clearing:onasis:NGN", 250), ("platform:commission_income:NGN", -250)]
    await post(db, "repayment", share)


async def payment_moves(db: asyncpg.Connection) -> None:
    """L2's failed collection retried; L3's payout failed, retried, and the retry failed; L4's two
    payments in one statement, the later one failed."""
    new = (
        "INSERT INTO caas_core.payments (kind, loan_id, amount_minor, currency, requested_by) "
        "VALUES ($1, $2, 100, $3, 't') RETURNING id"
    )
    fail = "UPDATE caas_core.payments SET status = 'failed', settled_at = now() WHERE id = $1"
    await db.execute(new, "collection", L2, "GHS")
    payout = await db.fetchval(new, "disbursement", L3, "KES")
    await db.execute("UPDATE caas_core.payments SET status = 'sent', attempts = 1 WHERE id = $1", payout)
    await db.execute(fail, payout)
    assert (await same_figures(db))["payments_failed", "disbursement", "KES"] == 1
    await db.execute(fail, await db.fetchval(new, "disbursement", L3, "KES"))
    await db.execute(
        "INSERT INTO caas_core.payments (kind, loan_id, amount_minor, currency, status, requested_by, "
        "created_at, settled_at) VALUES ('collection', $1, 100, 'KES', 'succeeded', 't', now() - interval "
        "'1 hour', now()), ('collection', $1, 100, 'KES', 'failed', 't', now(), now())",
        L4,
    )


async def job_moves(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    """Two webhooks queued: the worker fails one after its attempt failed, an operator requeues it and
    the next attempt delivers it; the other is deleted. A notification fails for good."""
    webhook, other, notification = await db.fetch(
        "INSERT INTO caas_core.jobs (queue, event_id, event_type, payload) "
        "SELECT q, gen_random_uuid(), 'e', '{}' "
        "FROM unnest(ARRAY['provider_webhooks', 'provider_webhooks', 'notifications']) WITH ORDINALITY AS q "
        "ORDER BY ordinality RETURNING id"
    )
    deliveries, store, now = PgWebhookDeliveries(pool), PgJobStore(pool), datetime.now(UTC)
    lease = timedelta(minutes=1)
    async with store.claim(WEBHOOKS, 10, now + timedelta(seconds=1), lease) as batch:
        job = next(j for j in batch.jobs if j.id == webhook["id"])
        failed = AttemptResult(status=DeliveryStatus.FAILED, attempted=True, error="503")
        await deliveries.record(job.id, failed)
        assert await batch.fail(job, now, "gave up")
    assert (await same_figures(db))["webhook_deliveries", "failed", None] == 3
    async with deliveries.requeueing() as requeue:
        found = await requeue.lock(job.event_id)
        assert found is not None and found.status == "failed"
        await requeue.requeue(job.id, "op-1")
    async with store.claim(WEBHOOKS, 10, now + timedelta(seconds=2), lease) as batch:
        assert [j.id for j in batch.jobs] == [job.id]  # the others are still leased
        await deliveries.record(job.id, AttemptResult(status=DeliveryStatus.DELIVERED, attempted=True))
        assert await batch.done(batch.jobs[0], now)
    await db.execute("DELETE FROM caas_core.jobs WHERE id = $1", other["id"])
    await db.execute("UPDATE caas_core.jobs SET failed_at = now() WHERE id = $1", notification["id"])


async def test_the_triggers_keep_every_figure_equal_to_a_count_of_the_history(
    db: asyncpg.Connection, dsn: str
) -> None:
    await db.execute("SELECT caas_core.recount_metric_totals()")
    before = await same_figures(db)
    await application_moves(db)
    await ledger_moves(db)
    await payment_moves(db)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        await job_moves(db, pool)
    finally:
        await pool.close()
    after = await same_figures(db)

    changed = {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()}
    changed = {key: pair for key, pair in changed.items() if pair[0] != pair[1]}
    assert changed == {
        ("applications", "draft", "KES"): (None, 1),
        ("applications", "withdrawn", "KES"): (None, 1),
        ("disbursed_minor", "KES", None): (None, 0),
        ("revenue_minor", "NGN", "fee"): (700, 1000),
        ("revenue_minor", "NGN", "interest_share"): (1000, 1250),
        ("payments_failed", "collection", "GHS"): (1, None),
        ("payments_failed", "disbursement", "KES"): (None, 1),
        ("payments_failed", "collection", "KES"): (None, 1),
        ("webhook_deliveries", "delivered", None): (1, 2),
        ("jobs_failed", "notifications", None): (1, 2),
    }


async def test_the_scrape_reads_the_totals_and_live_rows_only(db: asyncpg.Connection) -> None:
    async with db.transaction():
        # Priced out, not forbidden: a table with no index for the statement still gets a Seq Scan.
        await db.execute("SET LOCAL enable_seqscan = off")
        raw = await db.fetchval(f"EXPLAIN (FORMAT JSON) {_FACTS}")
    plan = json.loads(raw)[0]["Plan"]

    def scans(node: dict[str, Any]) -> list[tuple[str, str, str]]:
        own = (
            [(node["Relation Name"], node["Node Type"], node.get("Index Name", ""))]
            if "Relation Name" in node
            else []
        )
        return own + [s for child in node.get("Plans", []) for s in scans(child)]

    found = scans(plan)
    history = {
        "application_transitions",
        "applications",
        "postings",
        "journals",
        "accounts",
        "payments",
        "providers",
    }
    assert not {table for table, _, _ in found} & (history | {"webhook_deliveries"}), found
    assert "metric_totals" in {table for table, _, _ in found}
    # The jobs are read through the partial indexes of unfinished ones only, never every job.
    jobs = [s for s in found if s[0] == "jobs"]
    unfinished = {"jobs_due_idx", "jobs_key_idx"}
    assert jobs and all(node != "Seq Scan" and index in unfinished for _, node, index in jobs), jobs


async def test_the_application_role_reads_the_totals_but_cannot_write_them(db: asyncpg.Connection) -> None:
    async def as_app(sql: str) -> None:
        async with db.transaction():
            await db.execute("SET LOCAL ROLE caas_app")
            await db.execute(sql)

    await as_app("SELECT * FROM caas_core.metric_totals")
    for refused in (
        "INSERT INTO caas_core.metric_totals VALUES ('jobs_failed', 'x', '', 0, 1)",
        "SELECT caas_core.recount_metric_totals()",
        "SELECT caas_core.add_metric_total('jobs_failed', 'x', '', 1)",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_app(refused)
    # Its writes still move them: the triggers run as the tables' owner.
    await db.execute("SELECT caas_core.recount_metric_totals()")
    await as_app(
        "INSERT INTO caas_core.jobs (queue, event_id, event_type, payload, failed_at) "
        "VALUES ('notifications', gen_random_uuid(), 'e', '{}', now())"
    )
    assert (await same_figures(db))["jobs_failed", "notifications", None] == 2


_REQUEST = (
    "INSERT INTO caas_core.payments (kind, loan_id, amount_minor, currency, requested_by) "
    "VALUES ('collection', $1, 100, 'KES', 't') RETURNING id"
)
_FAIL = "UPDATE caas_core.payments SET status = 'failed', settled_at = now() WHERE id = $1"


async def first_waits_for(dsn: str, first: tuple[str, object], second: tuple[str, object]) -> None:
    """``first`` in an open transaction, ``second`` on another connection: the second must wait for
    the first's commit (it would count without seeing the first's row otherwise)."""
    holder, waiter = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        tr = holder.transaction()
        await tr.start()
        await holder.execute(*first)
        pending = asyncio.create_task(waiter.execute(*second))
        await asyncio.sleep(0.5)
        assert not pending.done()
        await tr.commit()
        await pending
    finally:
        await holder.close()
        await waiter.close()


async def test_a_retry_and_the_failure_it_retries_racing_count_as_retried_in_either_order(
    db: asyncpg.Connection, dsn: str
) -> None:
    await db.execute("SELECT caas_core.recount_metric_totals()")
    # The failure commits first: the retry's insert waits for it, then clears it.
    payment = await db.fetchval(_REQUEST, L3)
    await first_waits_for(dsn, (_FAIL, payment), (_REQUEST, L3))
    assert ("payments_failed", "collection", "KES") not in await same_figures(db)
    # The retry commits first: the failure's update waits for it, then sees it was retried.
    payment = await db.fetchval(
        "SELECT id FROM caas_core.payments WHERE loan_id = $1 AND status = 'requested'", L3
    )
    await first_waits_for(dsn, (_REQUEST, L3), (_FAIL, payment))
    assert ("payments_failed", "collection", "KES") not in await same_figures(db)
