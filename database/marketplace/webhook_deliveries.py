"""Provider webhook deliveries in ``caas_core`` (migration 0014): the provider_webhooks jobs joined
with what their attempts got."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from database.platform.audit import Connection, record_audit
from database.sql import Filters
from tools.marketplace.domain.provider_webhooks import DeliveryStatus
from tools.marketplace.ports import AttemptResult, DeliveryQuery, DeliveryRecord
from tools.platform.errors import Conflict
from tools.platform.ports import AuditRecord, OutboxEvent
from tools.platform.transactions import transaction

__all__ = ["PgWebhookDeliveries"]

QUEUE = "provider_webhooks"

# A job not attempted yet has no delivery row: it is pending with no attempts. The next attempt's
# time and the failure time are the job's own (the worker schedules by them). A job the queue failed
# without the handler storing it (an unexpected error, retried until the queue gave up) is failed too,
# with the queue's error text (an exception type, never its message).
_STATUS = (
    "CASE WHEN j.failed_at IS NOT NULL THEN 'failed' WHEN d.status IS NOT NULL THEN d.status "
    "ELSE 'pending' END"
)
_SELECT = f"""
SELECT j.id AS job_id, j.event_id, j.event_type, coalesce(j.payload ->> 'provider_id', '') AS provider_id,
       {_STATUS} AS status, coalesce(d.attempts, 0) AS attempts, d.last_status_code,
       CASE WHEN j.failed_at IS NOT NULL AND d.status IS DISTINCT FROM 'failed' THEN j.last_error
            ELSE d.last_error END AS last_error,
       d.last_attempt_at,
       CASE WHEN j.done_at IS NULL AND j.failed_at IS NULL AND d.status IS DISTINCT FROM 'failed'
            THEN j.next_attempt_at END AS next_attempt_at,
       d.delivered_at,
       CASE WHEN j.failed_at IS NOT NULL OR d.status = 'failed' THEN coalesce(j.failed_at, d.updated_at)
            END AS failed_at,
       d.url, coalesce(d.requeue_count, 0) AS requeue_count, d.requeued_at, j.created_at AS queued_at
FROM caas_core.jobs j
LEFT JOIN caas_core.webhook_deliveries d ON d.job_id = j.id"""
# A literal, not a parameter: the listing indexes are partial on it.
_IN_QUEUE = f"j.queue = '{QUEUE}'"

# Many rows at once (a worker's claimed batch): one element of each array per job, job ids distinct.
_RECORD = """
INSERT INTO caas_core.webhook_deliveries
    (job_id, status, attempts, last_status_code, last_error, last_attempt_at, url, delivered_at)
SELECT r.job_id, r.status, r.attempts, r.status_code, r.error, CASE WHEN r.attempts > 0 THEN now() END,
       r.url, CASE WHEN r.status = 'delivered' THEN now() END
FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[])
    AS r(job_id, status, attempts, status_code, error, url)
ON CONFLICT (job_id) DO UPDATE SET
    status = EXCLUDED.status,
    attempts = caas_core.webhook_deliveries.attempts + EXCLUDED.attempts,
    last_status_code = EXCLUDED.last_status_code,
    last_error = EXCLUDED.last_error,
    last_attempt_at = coalesce(EXCLUDED.last_attempt_at, caas_core.webhook_deliveries.last_attempt_at),
    url = coalesce(EXCLUDED.url, caas_core.webhook_deliveries.url),
    delivered_at = EXCLUDED.delivered_at,
    updated_at = now()
"""

_MAX_ERROR = 500


def _record(row: asyncpg.Record) -> DeliveryRecord:
    return DeliveryRecord(**dict(row.items()))


class _PgRequeue:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self, event_id: UUID) -> DeliveryRecord | None:
        try:
            row = await self._conn.fetchrow(
                f"{_SELECT} WHERE {_IN_QUEUE} AND j.event_id = $1 FOR UPDATE OF j NOWAIT", event_id
            )
        except asyncpg.LockNotAvailableError:
            # A worker is claiming the job or recording its outcome this very moment.
            raise self._busy(event_id) from None
        if row is None:
            return None
        # A worker leased the job and runs it outside any transaction (migration 0024): the lease, not a
        # row lock, says it is being attempted; a dead worker's lease is reclaimed within one lease.
        if await self._conn.fetchval(
            "SELECT leased_by IS NOT NULL AND done_at IS NULL AND failed_at IS NULL "
            "FROM caas_core.jobs WHERE id = $1",
            row["job_id"],
        ):
            raise self._busy(event_id)
        return _record(row)

    @staticmethod
    def _busy(event_id: UUID) -> Conflict:
        return Conflict(
            f"the delivery of event {event_id} is being attempted right now; call again in a minute"
        )

    async def requeue(self, job_id: int, by: str) -> DeliveryRecord:
        await self._conn.execute(
            "UPDATE caas_core.jobs SET done_at = NULL, failed_at = NULL, attempts = 0, "
            "next_attempt_at = now(), last_error = NULL, leased_by = NULL, lease_until = NULL WHERE id = $1",
            job_id,
        )
        # A job the queue failed on its own may have no delivery row yet.
        await self._conn.execute(
            """
            INSERT INTO caas_core.webhook_deliveries (job_id, status, requeue_count, requeued_at, requeued_by)
            VALUES ($1, 'pending', 1, now(), $2)
            ON CONFLICT (job_id) DO UPDATE SET status = 'pending',
                requeue_count = caas_core.webhook_deliveries.requeue_count + 1,
                requeued_at = now(), requeued_by = $2, updated_at = now()
            """,
            job_id,
            by,
        )
        row = await self._conn.fetchrow(f"{_SELECT} WHERE {_IN_QUEUE} AND j.id = $1", job_id)
        assert row is not None
        return _record(row)

    async def record(self, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None:
        await record_audit(self._conn, audit, events)


class PgWebhookDeliveries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_job(self, job_id: int) -> DeliveryRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE {_IN_QUEUE} AND j.id = $1", job_id)
        return _record(row) if row else None

    async def get(self, event_id: UUID) -> DeliveryRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE {_IN_QUEUE} AND j.event_id = $1", event_id)
        return _record(row) if row else None

    async def by_jobs(self, job_ids: Sequence[int]) -> dict[int, DeliveryRecord]:
        rows = await self._pool.fetch(
            f"{_SELECT} WHERE {_IN_QUEUE} AND j.id = ANY($1::bigint[])", list(job_ids)
        )
        return {row["job_id"]: _record(row) for row in rows}

    async def record(self, job_id: int, result: AttemptResult) -> None:
        await self.record_many([(job_id, result)])

    async def record_many(self, results: Sequence[tuple[int, AttemptResult]]) -> None:
        await self._pool.execute(
            _RECORD,
            [job_id for job_id, _ in results],
            [DeliveryStatus(r.status).value for _, r in results],
            [1 if r.attempted else 0 for _, r in results],
            [r.status_code for _, r in results],
            [None if r.error is None else r.error[:_MAX_ERROR] for _, r in results],
            [r.url for _, r in results],
        )

    async def list(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        f = Filters()
        f.add(_IN_QUEUE)
        if query.provider_id is not None:
            # The expression of jobs_provider_webhooks_provider_idx.
            f.add(f"j.payload ->> 'provider_id' = {f.arg(query.provider_id)}")
        if query.statuses:
            f.add(f"({_STATUS}) = ANY({f.arg(list(query.statuses))}::text[])")
        if query.event_type is not None:
            if query.event_type.endswith("."):
                f.add(f"starts_with(j.event_type, {f.arg(query.event_type)})")
            else:
                f.add(f"j.event_type = {f.arg(query.event_type)}")
        f.keyset(("j.created_at", "j.event_id"), query.after)
        sql = f.page(_SELECT, ("j.created_at", "j.event_id"), query.limit)
        return [_record(r) for r in await self._pool.fetch(sql, *f.args)]

    @asynccontextmanager
    async def requeueing(self) -> AsyncIterator[_PgRequeue]:
        async with self._pool.acquire() as conn, transaction(conn):
            yield _PgRequeue(conn)
