"""The job queues and the outbox relay in ``caas_core`` (see migration 0012).

A job is due, done or failed at the caller's ``now`` (the runtime's clock), so moving the clock makes a
retry due. The relay's ``published_at`` and the lag figures stay on the database's time: they measure
the database's own bookkeeping against ``occurred_at`` and ``created_at``, which the database stamps,
and mixing in a second clock would skew them. A relayed job is due from its insert (``next_attempt_at``
defaults to the database's ``now()``, which the runtime's clock has reached: a skew between the hosts
only delays a new job by as much)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from database.locks import AdvisoryLock
from database.platform.audit import Connection
from tools.platform.domain.jobs import JobRoute
from tools.platform.jobs import Job

__all__ = ["PgJobStore"]

_CLAIM = """
SELECT j.id, j.queue, j.ordering_key, j.event_id, j.event_type, j.payload, j.attempts, j.created_at
FROM caas_core.jobs j
WHERE j.queue = $1 AND j.done_at IS NULL AND j.failed_at IS NULL AND j.next_attempt_at <= $3::timestamptz
  AND (j.ordering_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM caas_core.jobs e
        WHERE e.queue = j.queue AND e.ordering_key = j.ordering_key AND e.id < j.id
          AND e.done_at IS NULL AND e.failed_at IS NULL))
ORDER BY j.next_attempt_at, j.id
LIMIT $2
FOR UPDATE OF j SKIP LOCKED
"""


class _PgBatch:
    def __init__(self, conn: Connection, jobs: list[Job]) -> None:
        self._conn = conn
        self.jobs = jobs

    async def done(self, job: Job, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE caas_core.jobs SET done_at = $2, attempts = attempts + 1 WHERE id = $1", job.id, now
        )

    async def retry(self, job: Job, now: datetime, delay: timedelta, error: str) -> None:
        await self._conn.execute(
            "UPDATE caas_core.jobs SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 "
            "WHERE id = $1",
            job.id,
            now + delay,
            error,
        )

    async def fail(self, job: Job, now: datetime, error: str) -> None:
        await self._conn.execute(
            "UPDATE caas_core.jobs SET attempts = attempts + 1, failed_at = $2, last_error = $3 "
            "WHERE id = $1",
            job.id,
            now,
            error,
        )


class PgJobStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(self, queue: str, limit: int, now: datetime) -> AsyncIterator[_PgBatch]:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, queue, limit, now)
            yield _PgBatch(conn, [Job(**dict(r.items())) for r in rows])

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # One relay at a time keeps jobs in the order their events were written.
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value
            ):
                return 0
            events = await conn.fetch(
                "SELECT id, event_id, event_type, payload FROM caas_core.outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE",
                limit,
            )
            if not events:
                return 0
            queues, keys, event_ids, types, payloads = [], [], [], [], []
            for event in events:
                for r in route(event["event_type"], event["payload"]):
                    queues.append(r.queue)
                    keys.append(r.ordering_key)
                    event_ids.append(event["event_id"])
                    types.append(event["event_type"])
                    payloads.append(event["payload"])
            if queues:
                await conn.execute(
                    """
                    INSERT INTO caas_core.jobs (queue, ordering_key, event_id, event_type, payload)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[])
                    ON CONFLICT (queue, event_id) DO NOTHING
                    """,
                    queues,
                    keys,
                    event_ids,
                    types,
                    payloads,
                )
            await conn.execute(
                "UPDATE caas_core.outbox SET published_at = now(), attempts = attempts + 1 "
                "WHERE id = ANY($1::bigint[])",
                [e["id"] for e in events],
            )
            return len(events)

    async def lag_seconds(self) -> dict[str, float]:
        rows = await self._pool.fetch(
            """
            SELECT queue, extract(epoch FROM now() - min(created_at))::float8 AS lag
            FROM caas_core.jobs WHERE done_at IS NULL AND failed_at IS NULL GROUP BY queue
            UNION ALL
            SELECT 'outbox', coalesce(extract(epoch FROM now() - min(occurred_at))::float8, 0)
            FROM caas_core.outbox WHERE published_at IS NULL
            """
        )
        return {r["queue"]: max(0.0, float(r["lag"])) for r in rows}

    async def failed_jobs(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT queue, count(*) AS n FROM caas_core.jobs WHERE failed_at IS NOT NULL GROUP BY queue"
        )
        return {r["queue"]: int(r["n"]) for r in rows}
