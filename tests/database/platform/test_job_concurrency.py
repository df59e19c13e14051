"""A batch's jobs run concurrently (``run_queue(concurrency=n)``, the Supabase sync's setting) on real
PostgreSQL: up to n at once, never two of one ordering key, each key still in order, and a stopping
worker gives back the jobs it has not started."""

from __future__ import annotations

from collections import defaultdict

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.database.platform.test_jobs import enqueue, queue_name
from tests.helpers.clock import MovableClock
from tools.platform.jobs import Job, run_queue

# Only a guard against a hang if jobs did not overlap; nothing here is timed.
HANG_GUARD_S = 30


@pytest.fixture
def store(runtime: Runtime) -> PgJobStore:
    assert runtime.core_pool is not None
    return PgJobStore(runtime.core_pool)


async def test_a_batch_runs_up_to_its_concurrency_at_once(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    ids = await enqueue(core_db, queue, [f"app-{i}" for i in range(10)])
    running, most = 0, 0
    four_running = anyio.Event()

    async def handler(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 4:
            four_running.set()
        await four_running.wait()  # the first four wait for each other: they must overlap
        await anyio.lowlevel.checkpoint()
        running -= 1

    with anyio.fail_after(HANG_GUARD_S):
        taken = await run_queue(store, queue, handler, clock=clock, limit=10, concurrency=4)
    assert (taken, most) == (10, 4)
    done = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.jobs WHERE queue = $1 AND done_at IS NOT NULL AND attempts = 1", queue
    )
    assert done == len(ids)


async def test_concurrent_jobs_never_overlap_within_a_key_and_each_key_stays_in_order(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    ids = await enqueue(core_db, queue, [f"app-{i % 3}" for i in range(15)] + [None] * 5)
    busy: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    seen: list[int] = []

    async def handler(job: Job) -> None:
        key = job.ordering_key
        if key is not None:
            assert key not in busy, f"two jobs of {key} at once"
            busy.add(key)
            order[key].append(job.id)
        seen.append(job.id)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        busy.discard(key or "")

    with anyio.fail_after(HANG_GUARD_S):
        while await run_queue(store, queue, handler, clock=clock, limit=8, concurrency=8):
            pass
    assert sorted(seen) == ids
    assert all(ran == sorted(ran) for ran in order.values()) and len(order) == 3


async def test_a_stopping_worker_gives_back_the_jobs_it_has_not_started(
    store: PgJobStore, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    ids = await enqueue(core_db, queue, [f"app-{i}" for i in range(6)])
    started: list[int] = []

    async def handler(job: Job) -> None:
        started.append(job.id)
        await anyio.lowlevel.checkpoint()

    with anyio.fail_after(HANG_GUARD_S):
        taken = await run_queue(
            store, queue, handler, clock=clock, limit=6, concurrency=2, stopping=lambda: len(started) >= 2
        )
    assert taken == 6 and len(started) == 2
    rows = await core_db.fetch(
        "SELECT id, done_at IS NOT NULL AS done, attempts, leased_by FROM caas_core.jobs WHERE queue = $1 "
        "ORDER BY id",
        queue,
    )
    assert [r["id"] for r in rows if r["done"]] == sorted(started)
    # Given back: unleased, and the claim that never ran them counts no attempt.
    assert all((r["attempts"], r["leased_by"]) == (0, None) for r in rows if not r["done"])
    assert len(rows) == len(ids)
