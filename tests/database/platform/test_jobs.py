"""The job queues on real PostgreSQL: relayed once, each job run once by concurrent workers, in order
per key, retried with backoff, failed for good after too many attempts."""

from __future__ import annotations

import random
import string
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from database.locks import AdvisoryLock
from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tools.platform.jobs import Job, PermanentFailure, RetryLater, relay_outbox, run_queue


def queue_name() -> str:
    return "test_" + "".join(random.choices(string.ascii_lowercase, k=12))


async def enqueue(db: asyncpg.Connection, queue: str, keys: list[str | None]) -> list[int]:
    rows = await db.fetch(
        "INSERT INTO caas_core.jobs (queue, ordering_key, event_id, event_type, payload) "
        "SELECT $1, k, gen_random_uuid(), 'test.event', '{}'::jsonb FROM unnest($2::text[]) WITH ORDINALITY "
        "AS t(k, n) ORDER BY n RETURNING id",
        queue,
        keys,
    )
    return [r["id"] for r in rows]


@pytest.fixture
def store(runtime: Runtime) -> PgJobStore:
    assert runtime.core_pool is not None
    return PgJobStore(runtime.core_pool)


async def test_concurrent_workers_run_every_job_exactly_once_and_each_key_in_order(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    keys = [f"k{i % 5}" for i in range(150)] + [None] * 50
    ids = await enqueue(core_db, queue, keys)
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)
        await anyio.lowlevel.checkpoint()

    async def worker() -> None:
        while await run_queue(store, queue, handler, clock=clock, limit=7):
            pass

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(worker)
    assert sorted(j.id for j in seen) == ids  # all of them, none twice
    by_key: dict[str, list[int]] = defaultdict(list)
    for job in seen:
        if job.ordering_key:
            by_key[job.ordering_key].append(job.id)
    assert all(order == sorted(order) for order in by_key.values())
    assert await core_db.fetchval(
        "SELECT count(*) FROM caas_core.jobs WHERE queue = $1 AND done_at IS NOT NULL AND attempts = 1", queue
    ) == len(ids)


async def test_a_failing_job_is_retried_later_and_holds_back_its_key_but_not_others(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    first, behind, other = await enqueue(core_db, queue, ["a", "a", "b"])
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)
        if job.id == first:
            raise RetryLater("the gateway is down", delay=timedelta(hours=1))

    before = clock.now()
    assert await run_queue(store, queue, handler, clock=clock) == 2
    after = clock.now()
    assert ran == [first, other]  # "behind" waits for its key's earlier job
    row = await core_db.fetchrow(
        "SELECT attempts, next_attempt_at, last_error FROM caas_core.jobs WHERE id = $1", first
    )
    assert (row["attempts"], row["last_error"]) == (1, "the gateway is down")
    assert before + timedelta(hours=1) <= row["next_attempt_at"] <= after + timedelta(hours=1)
    assert await run_queue(store, queue, handler, clock=clock) == 0  # nothing due: the retry is an hour away
    clock.move(minutes=59)
    assert await run_queue(store, queue, handler, clock=clock) == 0  # still a minute away
    clock.move(minutes=1)
    ran.clear()

    async def healthy(job: Job) -> None:
        ran.append(job.id)

    while await run_queue(store, queue, healthy, clock=clock):
        pass
    assert ran == [first, behind]


async def test_an_unexpected_error_keeps_only_its_type_and_too_many_attempts_or_a_refusal_fail_for_good(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    crashing, refused = await enqueue(core_db, queue, [None, None])

    async def handler(job: Job) -> Any:
        if job.id == refused:
            raise PermanentFailure("the receiver answered 410 Gone")
        raise KeyError("national id 12345678901")  # must not end up in the table

    await run_queue(store, queue, handler, clock=clock, max_attempts=2, base_delay=timedelta(0))
    # No base delay: the retry is due at the clock's next reading.
    await run_queue(store, queue, handler, clock=clock, max_attempts=2, base_delay=timedelta(0))
    rows = {
        r["id"]: r
        for r in await core_db.fetch(
            "SELECT id, attempts, failed_at, last_error FROM caas_core.jobs WHERE queue = $1", queue
        )
    }
    assert rows[refused]["failed_at"] is not None and rows[refused]["attempts"] == 1
    assert rows[refused]["last_error"] == "the receiver answered 410 Gone"
    assert rows[crashing]["failed_at"] is not None and rows[crashing]["attempts"] == 2
    assert rows[crashing]["last_error"] == "gave up after 2 attempts: KeyError"


async def test_the_relay_copies_each_event_once_into_its_queues_even_when_run_concurrently(
    store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    app = str(uuid.uuid4())
    events = []
    for status in ("submitted", "under_review", "open_for_bids"):  # each one the borrower is told of
        events.append(
            await core_db.fetchval(
                "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
                "VALUES ('application', $1, $2, $3) RETURNING event_id",
                app,
                f"application.{status}",
                {"application_id": app, "status": status},
            )
        )
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(relay_outbox, store)
    while await relay_outbox(store):
        pass
    rows = await core_db.fetch(
        "SELECT queue, ordering_key, event_id FROM caas_core.jobs "
        "WHERE event_id = ANY($1::uuid[]) ORDER BY id",
        events,
    )
    assert sorted((r["queue"], r["event_id"]) for r in rows) == sorted(
        (q, e) for e in events for q in ("supabase_sync", "notifications")
    )
    sync_order = [r["event_id"] for r in rows if r["queue"] == "supabase_sync"]
    assert sync_order == events  # in the order they were written
    assert {r["ordering_key"] for r in rows} == {f"application:{app}"}
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.outbox WHERE event_id = ANY($1::uuid[]) AND published_at IS NULL",
            events,
        )
        == 0
    )
    lag = await store.lag_seconds()
    assert lag["supabase_sync"] >= 0 and "outbox" in lag


async def test_a_relay_without_the_relay_lock_copies_nothing_and_the_next_one_copies_all(
    runtime: Runtime, store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    app = str(uuid.uuid4())
    event = await core_db.fetchval(
        "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
        "VALUES ('application', $1, 'application.submitted', $2) RETURNING event_id",
        app,
        {"application_id": app, "status": "submitted"},
    )
    assert runtime.targets is not None
    holder = await asyncpg.connect(runtime.targets.direct_core)
    try:
        async with holder.transaction():  # another relay, mid-copy
            assert await holder.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value
            )
            assert await relay_outbox(store) == 0
        assert await core_db.fetchval("SELECT count(*) FROM caas_core.jobs WHERE event_id = $1", event) == 0
    finally:
        await holder.close()
    while await relay_outbox(store):
        pass
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.jobs WHERE event_id = $1", event) == 2
    assert await core_db.fetchval(
        "SELECT published_at IS NOT NULL FROM caas_core.outbox WHERE event_id = $1", event
    )
