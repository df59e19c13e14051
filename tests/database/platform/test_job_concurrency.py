"""Jobs of one queue run side by side (issue 14, part 4), on real PostgreSQL: jobs of different keys
run at once, a key's jobs never overlap and keep their order across workers running several jobs
each, outcomes ending together are recorded (and a lost lease refused) job by job, and a key's next
job is taken without waiting for a poll."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import anyio
import asyncpg

from database.platform.jobs import PgJobStore
from mcp_servers.platform.workers import Workers
from mcp_servers.runtime import Runtime
from tests.database.platform.test_jobs import enqueue, queue_name
from tests.helpers.clock import MovableClock
from tools.platform.jobs import Job, run_batch, run_queue


async def test_jobs_of_different_keys_run_at_once(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    queue = queue_name()
    ids = await enqueue(core_db, queue, ["a", "b", None])
    started: list[int] = []
    all_started = anyio.Event()

    async def webhook(job: Job) -> None:  # each waits until all three are in flight
        started.append(job.id)
        if len(started) == 3:
            all_started.set()
        await all_started.wait()

    with anyio.fail_after(20):  # one after another, the first would wait for ever
        taken = await run_batch(store, queue, webhook, clock=clock, concurrency=3)
    assert (taken.jobs, sorted(started)) == (3, ids)
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.jobs "
            "WHERE queue = $1 AND done_at IS NOT NULL AND leased_by IS NULL",
            queue,
        )
        == 3
    )


async def test_workers_running_several_jobs_each_keep_every_key_in_order_and_run_each_job_once(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    stores = [PgJobStore(runtime.core_pool), PgJobStore(runtime.core_pool)]
    queue = queue_name()
    ids = await enqueue(core_db, queue, [f"k{i % 6}" for i in range(90)] + [None] * 30)
    events: list[tuple[str, int, str | None]] = []
    runs: dict[int, int] = defaultdict(int)
    in_flight, most = 0, 0

    async def handler(job: Job) -> None:
        nonlocal in_flight, most
        events.append(("start", job.id, job.ordering_key))
        runs[job.id] += 1
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0.002)
        in_flight -= 1
        events.append(("end", job.id, job.ordering_key))

    async def work(store: PgJobStore) -> None:
        while await run_queue(store, queue, handler, clock=clock, limit=5, concurrency=4):
            pass

    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(work, store)
    assert sorted(runs) == ids and set(runs.values()) == {1}
    assert most > 1  # they did run side by side
    per_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for what, job_id, key in events:
        if key is not None:
            per_key[key].append((what, job_id))
    for key, seq in per_key.items():
        # start, end, start, end...: never two jobs of a key at once, and in id order.
        assert [w for w, _ in seq] == ["start", "end"] * (len(seq) // 2), key
        started = [j for w, j in seq if w == "start"]
        assert started == sorted(started), key


async def test_outcomes_ending_together_are_each_recorded_and_a_lost_lease_is_refused(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    queue = queue_name()
    done, retried, failed, stolen = await enqueue(core_db, queue, [None] * 4)
    async with store.claim(queue, 10, clock.now(), timedelta(seconds=30)) as batch:
        jobs = {j.id: j for j in batch.jobs}
        # Another worker reclaimed this one after the lease ran out (as far as the row says).
        await core_db.execute("UPDATE caas_core.jobs SET leased_by = 'other' WHERE id = $1", stolen)
        now = clock.now()
        results: dict[int, bool] = {}

        async def end(job_id: int) -> None:
            job = jobs[job_id]
            if job_id == retried:
                results[job_id] = await batch.retry(job, now, timedelta(minutes=5), "busy")
            elif job_id == failed:
                results[job_id] = await batch.fail(job, now, "gone")
            else:
                results[job_id] = await batch.done(job, now)

        async with anyio.create_task_group() as tg:
            for job_id in jobs:
                tg.start_soon(end, job_id)
    assert results == {done: True, retried: True, failed: True, stolen: False}
    rows = {
        r["id"]: r
        for r in await core_db.fetch(
            "SELECT id, done_at, failed_at, next_attempt_at, last_error, leased_by FROM caas_core.jobs "
            "WHERE queue = $1",
            queue,
        )
    }
    assert (rows[done]["done_at"], rows[done]["last_error"], rows[done]["leased_by"]) == (now, None, None)
    assert rows[retried]["next_attempt_at"] == now + timedelta(minutes=5)
    assert (rows[retried]["done_at"], rows[retried]["last_error"]) == (None, "busy")
    assert (rows[failed]["failed_at"], rows[failed]["last_error"]) == (now, "gone")
    assert (rows[stolen]["done_at"], rows[stolen]["leased_by"]) == (None, "other")


async def test_a_batch_says_when_a_job_waits_behind_one_of_its_keys(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    queue = queue_name()
    await enqueue(core_db, queue, ["a", "a", "b"])

    async def handler(job: Job) -> None:
        return None

    first = await run_batch(store, queue, handler, clock=clock)
    assert (first.jobs, first.more) == (2, True)  # a's second job is free to run now
    second = await run_batch(store, queue, handler, clock=clock)
    assert (second.jobs, second.more) == (1, False)
    # A full batch may have left jobs behind as well.
    await enqueue(core_db, queue, [None, None, None])
    full = await run_batch(store, queue, handler, clock=clock, limit=2)
    assert (full.jobs, full.more) == (2, True)


async def test_a_listening_worker_takes_a_keys_next_job_without_waiting_for_a_poll(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    queue = queue_name()
    ran: list[int] = []
    both = anyio.Event()

    async def handler(job: Job) -> None:
        ran.append(job.id)
        if len(ran) == 2:
            both.set()

    workers = Workers(
        store=PgJobStore(runtime.core_pool),
        clock=clock,
        handlers={queue: handler},
        relay=False,
        poll=60,
        fallback_poll=60,
        listen_dsn=runtime.listener_dsn,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        with anyio.fail_after(30):
            while not workers.listening:  # noqa: ASYNC110 - the listener offers no event
                await anyio.sleep(0.05)
        # One commit, one notification: the second job is claimable only once the first is done,
        # and nothing announces that but the batch itself.
        ids = await enqueue(core_db, queue, ["k", "k"])
        with anyio.fail_after(30):  # the polls come after 60 s
            await both.wait()
        workers.stop()
    assert ran == ids
