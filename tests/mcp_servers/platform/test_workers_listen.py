"""Workers woken by PostgreSQL's NOTIFY (issue 14, part 4): with every poll set to 60 s, a job inserted
after the workers went idle still runs within the test's 30 s wait, which only the notification can
explain; the same after the LISTEN connection was killed and reopened; the outbox relay is woken the
same way (and the jobs it inserts notify their queue as any job insert does)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
import asyncpg

from database.platform.jobs import PgJobStore
from mcp_servers.platform.workers import Workers
from mcp_servers.runtime import Runtime
from tests.database.platform.test_jobs import enqueue, queue_name
from tests.helpers.clock import MovableClock
from tools.platform.jobs import Job, JobBatch, JobRoute


@dataclass
class Watched:
    """The real store, noting each look for work of each loop and whether the workers listened then."""

    store: PgJobStore
    workers: Workers | None = None
    looks: list[tuple[str, bool]] = field(default_factory=list)
    looked: anyio.Event = field(default_factory=anyio.Event)

    def _look(self, loop: str) -> None:
        assert self.workers is not None
        self.looks.append((loop, self.workers.listening))
        self.looked.set()

    def claim(
        self, queue: str, limit: int, now: datetime, lease: timedelta
    ) -> AbstractAsyncContextManager[JobBatch]:
        self._look(queue)
        return self.store.claim(queue, limit, now, lease)

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        self._look("outbox")
        return await self.store.relay(limit, route)

    async def lag_seconds(self) -> dict[str, float]:
        return await self.store.lag_seconds()

    async def failed_jobs(self) -> dict[str, int]:
        return await self.store.failed_jobs()


async def idle_and_listening(watched: Watched, loop: str) -> None:
    """Until ``loop`` looked for work, found none, while the listener was connected: from then on
    only a notification (or a 60 s poll) makes it look again."""
    with anyio.fail_after(30):
        while (loop, True) not in watched.looks:
            watched.looked = anyio.Event()
            await watched.looked.wait()
    watched.looks = [look for look in watched.looks if look[0] != loop]


def workers_for(runtime: Runtime, clock: MovableClock, handlers: dict[str, Any], relay: bool) -> Workers:
    assert runtime.core_pool is not None and runtime.targets is not None
    watched = Watched(PgJobStore(runtime.core_pool))
    workers = Workers(
        store=watched,  # type: ignore[arg-type]
        clock=clock,
        handlers=handlers,
        relay=relay,
        poll=60,
        fallback_poll=60,
        listen_dsn=runtime.listener_dsn,
    )
    watched.workers = workers
    return workers


@asynccontextmanager
async def running(workers: Workers) -> AsyncIterator[Workers]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        try:
            yield workers
        finally:
            workers.stop()


async def test_a_job_insert_wakes_an_idle_worker_long_before_its_poll(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    handled = anyio.Event()
    seen: list[int] = []

    async def handler(job: Job) -> None:
        seen.append(job.id)
        handled.set()

    workers = workers_for(runtime, clock, {queue: handler}, relay=False)
    async with running(workers):
        await idle_and_listening(workers.store, queue)  # type: ignore[arg-type]
        (job_id,) = await enqueue(core_db, queue, [None])  # committed: the NOTIFY goes out now
        with anyio.fail_after(30):  # the poll would come after 60 s
            await handled.wait()
    assert seen == [job_id]


async def test_the_listener_reconnects_after_its_connection_is_killed(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    queue = queue_name()
    handled = anyio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    workers = workers_for(runtime, clock, {queue: handler}, relay=False)
    async with running(workers):
        await idle_and_listening(workers.store, queue)  # type: ignore[arg-type]
        first = workers.listener_pid
        assert await core_db.fetchval("SELECT pg_terminate_backend($1)", first)
        # Reconnected, the loop looks again (whatever was sent meanwhile was lost), then idles.
        await idle_and_listening(workers.store, queue)  # type: ignore[arg-type]
        assert workers.listener_pid not in (None, first)
        await enqueue(core_db, queue, [None])
        with anyio.fail_after(30):
            await handled.wait()


async def test_an_outbox_insert_wakes_the_relay(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    app = str(uuid.uuid4())
    workers = workers_for(runtime, clock, {}, relay=True)  # the relay alone: no other test's job is run
    async with running(workers):
        await idle_and_listening(workers.store, "outbox")  # type: ignore[arg-type]
        event_id = await core_db.fetchval(
            "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
            "VALUES ('application', $1, 'application.submitted', $2) RETURNING event_id",
            app,
            {"application_id": app, "status": "submitted"},
        )
        with anyio.fail_after(30):  # the poll would come after 60 s
            # The database's state: there is no event to wait on.
            while not await core_db.fetchval(  # noqa: ASYNC110
                "SELECT count(*) FROM caas_core.jobs WHERE event_id = $1", event_id
            ):
                await anyio.sleep(0.1)


async def test_a_burst_of_commits_is_relayed_by_a_few_looks_not_one_each(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    workers = workers_for(runtime, clock, {}, relay=True)
    workers.coalesce = 0.5
    watched: Watched = workers.store  # type: ignore[assignment]
    app = str(uuid.uuid4())
    async with running(workers):
        await idle_and_listening(watched, "outbox")
        began = anyio.current_time()
        for n in range(10):  # ten use cases' commits, each one notifying the relay
            await core_db.execute(
                "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
                "VALUES ('application', $1, 'application.submitted', $2)",
                app,
                {"application_id": app, "n": n},
            )
        spent = anyio.current_time() - began
        with anyio.fail_after(30):
            while await core_db.fetchval(  # noqa: ASYNC110
                "SELECT count(*) FROM caas_core.outbox WHERE aggregate_id = $1 AND published_at IS NULL", app
            ):
                await anyio.sleep(0.05)
            await anyio.sleep(1.0)  # any look still to come, counted below
    # The first commit is relayed at once; the others wait for a window to end and share its look.
    assert len(watched.looks) <= 2 + spent / 0.5
    relayed = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.jobs j JOIN caas_core.outbox o ON o.event_id = j.event_id "
        "WHERE o.aggregate_id = $1",
        app,
    )
    assert relayed == 20  # every event into supabase_sync and notifications: nothing lost


async def test_one_listen_connection_wakes_both_the_relay_and_a_queue(
    runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A worker process holds one LISTEN connection, on both channels (``caas worker``'s whole cost in
    sessions beside its pool)."""
    queue = queue_name()
    handled = anyio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    workers = workers_for(runtime, clock, {queue: handler}, relay=True)
    watched: Watched = workers.store  # type: ignore[assignment]
    async with running(workers):
        await idle_and_listening(watched, queue)
        await idle_and_listening(watched, "outbox")
        listeners = await core_db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'caas-listener'"
        )
        assert [r["pid"] for r in listeners] == [workers.listener_pid]
        await enqueue(core_db, queue, [None])
        await core_db.execute(
            "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
            "VALUES ('provider', 'p-1', 'provider.noted', '{}')"
        )
        with anyio.fail_after(30):  # the polls would come after 60 s
            await handled.wait()
            while ("outbox", True) not in watched.looks:  # noqa: ASYNC110
                await anyio.sleep(0.05)
