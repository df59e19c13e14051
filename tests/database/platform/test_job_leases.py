"""Leased jobs on real PostgreSQL (issue 14, part 4): a running job holds no connection and no
transaction, two workers never run one job, a dead worker's job is reclaimed once its lease runs out
and its late outcome is refused, and a key's jobs run one after another across workers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import asyncpg
import pytest

from database.marketplace.webhook_deliveries import PgWebhookDeliveries
from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.database.platform.test_jobs import enqueue, queue_name
from tests.helpers.clock import MovableClock
from tools.platform.errors import Conflict
from tools.platform.jobs import Job, run_queue


@pytest.fixture
async def own_pool(runtime: Runtime) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A pool only the worker under test uses, named so pg_stat_activity tells its backends apart."""
    assert runtime.targets is not None
    name = f"lease-test-{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(
        runtime.targets.core, min_size=2, max_size=4, server_settings={"application_name": name}
    )
    try:
        yield pool, name
    finally:
        await pool.close()


async def test_a_slow_job_holds_no_connection_and_no_transaction_while_it_runs(
    own_pool: tuple[asyncpg.Pool, str], core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    pool, name = own_pool
    store = PgJobStore(pool)
    queue = queue_name()
    (job_id,) = await enqueue(core_db, queue, ["a"])
    running, release = anyio.Event(), anyio.Event()

    async def slow(job: Job) -> None:  # a webhook waiting on a slow receiver
        running.set()
        await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run_queue(store, queue, slow, clock=clock))
        with anyio.fail_after(30):
            await running.wait()
        in_use = pool.get_size() - pool.get_idle_size()
        in_transaction = await core_db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL",
            name,
        )
        leased = await core_db.fetchrow(
            "SELECT leased_by, lease_until, done_at FROM caas_core.jobs WHERE id = $1", job_id
        )
        release.set()
    assert (in_use, in_transaction) == (0, 0)
    assert leased["leased_by"] == store.worker and leased["done_at"] is None
    assert leased["lease_until"] > clock.now()  # a live lease is what keeps other workers off it
    row = await core_db.fetchrow(
        "SELECT done_at, leased_by, attempts FROM caas_core.jobs WHERE id = $1", job_id
    )
    assert row["done_at"] is not None and row["leased_by"] is None and row["attempts"] == 1


async def test_two_workers_never_run_one_job_and_keep_each_key_in_order(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    stores = [PgJobStore(runtime.core_pool), PgJobStore(runtime.core_pool)]
    assert stores[0].worker != stores[1].worker
    queue = queue_name()
    ids = await enqueue(core_db, queue, [f"k{i % 4}" for i in range(60)] + [None] * 20)
    events: list[tuple[str, int, str | None]] = []
    ran_by: dict[int, list[int]] = defaultdict(list)

    def handler_of(worker: int):  # type: ignore[no-untyped-def]
        async def handler(job: Job) -> None:
            events.append(("start", job.id, job.ordering_key))
            ran_by[job.id].append(worker)
            await anyio.sleep(0.002)  # the other worker gets to claim meanwhile
            events.append(("end", job.id, job.ordering_key))

        return handler

    async def work(worker: int) -> None:
        while await run_queue(stores[worker], queue, handler_of(worker), clock=clock, limit=3):
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(work, 0)
        tg.start_soon(work, 1)
    assert sorted(ran_by) == ids and all(len(w) == 1 for w in ran_by.values())  # each once
    assert {w[0] for w in ran_by.values()} == {0, 1}  # both took part
    per_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for what, job_id, key in events:
        if key is not None:
            per_key[key].append((what, job_id))
    for key, seq in per_key.items():
        # start 1, end 1, start 2, end 2...: never two of a key at once, and in id order.
        assert [w for w, _ in seq] == ["start", "end"] * (len(seq) // 2), key
        started = [j for w, j in seq if w == "start"]
        assert started == sorted(started), key


async def test_a_dead_workers_job_is_reclaimed_after_its_lease_and_its_late_outcome_is_refused(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    dead, alive = PgJobStore(runtime.core_pool), PgJobStore(runtime.core_pool)
    queue = queue_name()
    first, behind = await enqueue(core_db, queue, ["a", "a"])
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)

    lease = timedelta(seconds=30)
    # The dead worker claimed the first job and never came back (no heartbeat, no outcome).
    async with dead.claim(queue, 10, clock.now(), lease) as stale:
        assert [j.id for j in stale.jobs] == [first]
    # While its lease lasts, neither the job nor the one behind it on its key is anyone else's.
    assert await run_queue(alive, queue, handler, clock=clock, lease=lease) == 0
    clock.move(seconds=29)
    assert await run_queue(alive, queue, handler, clock=clock, lease=lease) == 0
    clock.move(seconds=2)  # the lease ran out
    while await run_queue(alive, queue, handler, clock=clock, lease=lease):
        pass
    assert ran == [first, behind]  # reclaimed once, and the key's order kept
    done_at = await core_db.fetchval("SELECT done_at FROM caas_core.jobs WHERE id = $1", first)
    # The dead worker wakes up and reports: refused, nothing changes.
    (job,) = stale.jobs
    assert await stale.done(job, clock.now()) is False
    assert await stale.fail(job, clock.now(), "late") is False
    row = await core_db.fetchrow(
        "SELECT done_at, failed_at, last_error, attempts, leased_by FROM caas_core.jobs WHERE id = $1", first
    )
    assert (row["done_at"], row["failed_at"], row["last_error"]) == (done_at, None, None)
    assert (row["attempts"], row["leased_by"]) == (2, None)  # the dead claim counted as an attempt


async def test_the_heartbeat_keeps_a_long_jobs_lease_so_no_one_reclaims_it(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    busy, idle = PgJobStore(runtime.core_pool), PgJobStore(runtime.core_pool)
    queue = queue_name()
    (job_id,) = await enqueue(core_db, queue, [None])
    lease = timedelta(seconds=2)  # renewed every 2/3 s
    release = anyio.Event()
    ran: list[str] = []

    async def long(job: Job) -> None:
        ran.append(busy.worker)
        await release.wait()

    async def other(job: Job) -> None:
        ran.append(idle.worker)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run_queue(busy, queue, long, clock=clock, lease=lease))
        # Three leases long: without the heartbeat the other worker would reclaim it.
        for _ in range(12):
            await anyio.sleep(0.5)
            await run_queue(idle, queue, other, clock=clock, lease=lease)
        release.set()
    assert ran == [busy.worker]
    assert await core_db.fetchval("SELECT attempts FROM caas_core.jobs WHERE id = $1", job_id) == 1


async def test_a_job_whose_workers_keep_dying_fails_for_good_instead_of_being_reclaimed_for_ever(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    queue = queue_name()
    (job_id,) = await enqueue(core_db, queue, [None])
    lease = timedelta(seconds=30)
    for _ in range(2):  # two workers took it and died (the job kills whoever runs it)
        async with store.claim(queue, 1, clock.now(), lease) as batch:
            assert [j.id for j in batch.jobs] == [job_id]
        clock.move(seconds=31)
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)

    assert await run_queue(store, queue, handler, clock=clock, lease=lease, max_attempts=2) == 1
    row = await core_db.fetchrow("SELECT failed_at, last_error FROM caas_core.jobs WHERE id = $1", job_id)
    assert ran == [] and row["failed_at"] is not None
    assert row["last_error"].startswith("gave up after 2 attempts: no outcome reported")


async def test_a_leased_webhook_job_cannot_be_requeued_while_a_worker_runs_it(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    event_id = await core_db.fetchval(
        "INSERT INTO caas_core.jobs (queue, event_id, event_type, payload) "
        "VALUES ('provider_webhooks', gen_random_uuid(), 'provider.invited', $1) RETURNING event_id",
        {"provider_id": str(uuid.uuid4())},
    )
    deliveries = PgWebhookDeliveries(runtime.core_pool)
    job = await core_db.fetchval("SELECT id FROM caas_core.jobs WHERE event_id = $1", event_id)
    await core_db.execute(  # a worker holds it (the row is not locked: only the lease says so)
        "UPDATE caas_core.jobs SET leased_by = 'w', lease_until = now() + interval '30 s' WHERE id = $1", job
    )
    with pytest.raises(Conflict):
        async with deliveries.requeueing() as requeue:
            await requeue.lock(event_id)
    await core_db.execute(  # the worker recorded its outcome
        "UPDATE caas_core.jobs SET leased_by = NULL, lease_until = NULL, failed_at = now() WHERE id = $1", job
    )
    async with deliveries.requeueing() as requeue:
        assert (await requeue.lock(event_id)) is not None
    await core_db.execute("DELETE FROM caas_core.jobs WHERE id = $1", job)  # no stray delivery for others
