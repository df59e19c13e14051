"""The job queues and the outbox relay in ``caas_core`` (see migrations 0012 and 0024).

A job is due, leased, done or failed at the caller's ``now`` (the runtime's clock), so moving the
clock makes a retry due (or a lease run out). The relay's ``published_at`` and the lag figures stay on
the database's time: they measure the database's own bookkeeping against ``occurred_at`` and
``created_at``, which the database stamps, and mixing in a second clock would skew them. A relayed job
is due from its insert (``next_attempt_at`` defaults to the database's ``now()``, which the runtime's
clock has reached: a skew between the hosts only delays a new job by as much).

Every statement here is its own short transaction on a pooled connection: no lock or connection is
held while a handler runs."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import asyncpg

from database.locks import AdvisoryLock
from tools.platform.domain.jobs import JobRoute
from tools.platform.jobs import Job

__all__ = ["PgJobStore", "worker_id"]

# One statement, committed on its own: the jobs are leased (each claim counts an attempt, which makes
# (id, attempts) the claim's fencing token) and no lock outlives it.
_CLAIM = """
WITH picked AS (
    SELECT j.id
    FROM caas_core.jobs j
    WHERE j.queue = $1 AND j.done_at IS NULL AND j.failed_at IS NULL AND j.next_attempt_at <= $3::timestamptz
      AND (j.lease_until IS NULL OR j.lease_until <= $3::timestamptz)
      AND (j.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM caas_core.jobs e
            WHERE e.queue = j.queue AND e.ordering_key = j.ordering_key AND e.id < j.id
              AND e.done_at IS NULL AND e.failed_at IS NULL))
    ORDER BY j.next_attempt_at, j.id
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE caas_core.jobs j SET attempts = j.attempts + 1, leased_by = $4, lease_until = $5
FROM picked WHERE j.id = picked.id
RETURNING j.id, j.queue, j.ordering_key, j.event_id, j.event_type, j.payload, j.attempts - 1 AS attempts,
          j.created_at, j.next_attempt_at,
          -- A later job of the key waits for this one: the worker looks again once the batch ends
          -- instead of sleeping (nothing notifies it, the job was inserted long ago).
          j.ordering_key IS NOT NULL AND EXISTS (
              SELECT 1 FROM caas_core.jobs n
              WHERE n.queue = j.queue AND n.ordering_key = j.ordering_key AND n.id > j.id
                AND n.done_at IS NULL AND n.failed_at IS NULL) AS has_next
"""
# The outcomes of several jobs in one statement (d: done at, r: due again at, f: failed at). Only the
# claim that leased a job (same worker, same attempt, not yet finished) may end it.
_RECORD = """
UPDATE caas_core.jobs j SET
    done_at = CASE WHEN o.kind = 'd' THEN o.at END,
    failed_at = CASE WHEN o.kind = 'f' THEN o.at END,
    next_attempt_at = CASE WHEN o.kind = 'r' THEN o.at ELSE j.next_attempt_at END,
    last_error = CASE WHEN o.kind = 'd' THEN j.last_error ELSE o.error END,
    leased_by = NULL, lease_until = NULL
FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::text[])
     AS o(id, attempts, kind, at, error)
WHERE j.id = o.id AND j.attempts = o.attempts AND j.leased_by = $6
  AND j.done_at IS NULL AND j.failed_at IS NULL
RETURNING j.id
"""
_UNLEASE = "leased_by = NULL, lease_until = NULL"
# The relay's oldest unpublished events, read without a lock or a transaction: the copy below decides,
# under the relay's lock, which of them are still to publish.
_RELAY_PICK = """
SELECT o.id, o.event_id, o.event_type, o.payload FROM caas_core.outbox o
WHERE o.published_at IS NULL ORDER BY o.id LIMIT $1
"""
# Their jobs (one per queue and event, whatever a relay run twice would do) and their publication, in
# one statement, only while it holds the relay's lock (one relay at a time keeps jobs in the order their
# events were written; the others copy nothing). The lock is taken after the statement's snapshot: an
# event another relay published meanwhile is skipped by FOR UPDATE, which reads a locked row's latest
# version again; so is one published since the pick.
_RELAY_COPY = f"""
WITH relay AS MATERIALIZED (SELECT pg_try_advisory_xact_lock({AdvisoryLock.OUTBOX_RELAY.value}) AS ours),
fresh AS MATERIALIZED (
    SELECT o.id FROM relay, caas_core.outbox o
    WHERE relay.ours AND o.id = ANY($6::bigint[]) AND o.published_at IS NULL
    FOR UPDATE OF o
), copied AS (
    INSERT INTO caas_core.jobs (queue, ordering_key, event_id, event_type, payload)
    SELECT r.queue, r.ordering_key, r.event_id, r.event_type, r.payload
    FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $7::bigint[]) WITH ORDINALITY
        AS r(queue, ordering_key, event_id, event_type, payload, outbox_id, n)
    WHERE r.outbox_id IN (SELECT id FROM fresh)
    ORDER BY r.n
    ON CONFLICT (queue, event_id) DO NOTHING
)
UPDATE caas_core.outbox o SET published_at = now(), attempts = o.attempts + 1
FROM fresh WHERE o.id = fresh.id
RETURNING o.id
"""
_MINE = (
    "(id, attempts) IN (SELECT * FROM unnest($1::bigint[], $2::int[])) AND leased_by = $3 "
    "AND done_at IS NULL AND failed_at IS NULL"
)


def worker_id() -> str:
    """Names the process in ``leased_by``: which host and process holds a job, for an operator."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class _Outcome:
    job: Job
    kind: str
    at: datetime
    error: str | None
    recorded: bool | None = None  # None: not written yet


class _PgBatch:
    def __init__(self, pool: asyncpg.Pool, worker: str, jobs: list[Job], more: bool) -> None:
        self._pool = pool
        self._worker = worker
        self.jobs = jobs
        self.more = more
        self._waiting: list[_Outcome] = []
        self._writing = anyio.Lock()

    async def _end(self, outcome: _Outcome) -> bool:
        # Group commit: whoever holds the lock writes every outcome waiting, its own included, so the
        # outcomes of jobs that end while a write is in flight (jobs run side by side) share the next
        # statement, and a job alone still has its outcome written at once.
        self._waiting.append(outcome)
        async with self._writing:
            if outcome.recorded is None:
                group, self._waiting = self._waiting, []
                try:
                    rows = await self._pool.fetch(
                        _RECORD,
                        [o.job.id for o in group],
                        [o.job.attempts + 1 for o in group],
                        [o.kind for o in group],
                        [o.at for o in group],
                        [o.error for o in group],
                        self._worker,
                    )
                except BaseException:
                    self._waiting[:0] = group  # the next holder writes them
                    raise
                ours = {r["id"] for r in rows}
                for o in group:
                    o.recorded = o.job.id in ours
        return bool(outcome.recorded)

    async def done(self, job: Job, now: datetime) -> bool:
        return await self._end(_Outcome(job, "d", now, None))

    async def retry(self, job: Job, now: datetime, delay: timedelta, error: str) -> bool:
        return await self._end(_Outcome(job, "r", now + delay, error))

    async def fail(self, job: Job, now: datetime, error: str) -> bool:
        return await self._end(_Outcome(job, "f", now, error))

    async def extend(self, jobs: list[Job], until: datetime) -> None:
        await self._pool.execute(
            f"UPDATE caas_core.jobs SET lease_until = $4 WHERE {_MINE}",
            [j.id for j in jobs],
            [j.attempts + 1 for j in jobs],
            self._worker,
            until,
        )

    async def release(self, jobs: list[Job]) -> None:
        await self._pool.execute(
            f"UPDATE caas_core.jobs SET attempts = attempts - 1, {_UNLEASE} WHERE {_MINE}",
            [j.id for j in jobs],
            [j.attempts + 1 for j in jobs],
            self._worker,
        )


class PgJobStore:
    def __init__(self, pool: asyncpg.Pool, worker: str | None = None) -> None:
        self._pool = pool
        self.worker = worker or worker_id()

    @asynccontextmanager
    async def claim(self, queue: str, limit: int, now: datetime, lease: timedelta) -> AsyncIterator[_PgBatch]:
        rows = await self._pool.fetch(_CLAIM, queue, limit, now, self.worker, now + lease)
        rows = sorted(rows, key=lambda r: (r["next_attempt_at"], r["id"]))
        more = len(rows) >= limit or any(r["has_next"] for r in rows)
        # The rows carry next_attempt_at too (for the order), which a Job does not.
        jobs = [Job(**{f: r[f] for f in Job.__slots__}) for r in rows]
        yield _PgBatch(self._pool, self.worker, jobs, more)

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        # Two statements, each its own transaction (none when nothing is unpublished); the routing is
        # Python's, so the copy cannot join the pick.
        events = await self._pool.fetch(_RELAY_PICK, limit)
        if not events:
            return 0
        queues, keys, event_ids, types, payloads, sources = [], [], [], [], [], []
        for event in events:
            for r in route(event["event_type"], event["payload"]):
                queues.append(r.queue)
                keys.append(r.ordering_key)
                event_ids.append(event["event_id"])
                types.append(event["event_type"])
                payloads.append(event["payload"])
                sources.append(event["id"])
        published = await self._pool.fetch(
            _RELAY_COPY, queues, keys, event_ids, types, payloads, [e["id"] for e in events], sources
        )
        return len(published)

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
