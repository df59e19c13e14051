"""Workers on shutdown (issue 10, item 8): ``stop()`` lets the jobs in hand (one, or up to the
queue's concurrency) finish and be marked done, takes no further job, and ends every loop without
waiting out its poll or period."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from mcp_servers.platform.workers import Periodic, Workers
from tests.helpers.clock import MovableClock
from tools.platform.jobs import Job, JobRoute


@dataclass
class Batch:
    jobs: list[Job]
    marked: dict[int, str]
    more: bool = False

    async def done(self, job: Job, now: datetime) -> bool:
        self.marked[job.id] = "done"
        return True

    async def retry(self, job: Job, now: datetime, delay: timedelta, error: str) -> bool:
        self.marked[job.id] = "retry"
        return True

    async def fail(self, job: Job, now: datetime, error: str) -> bool:
        self.marked[job.id] = "failed"
        return True

    async def extend(self, jobs: list[Job], until: datetime) -> None:
        return None

    async def release(self, jobs: list[Job]) -> None:
        for j in jobs:
            self.marked[j.id] = "released"


@dataclass
class Store:
    """Hands out its jobs once, in one batch; records how each one ended."""

    waiting: list[Job]
    marked: dict[int, str] = field(default_factory=dict)

    @asynccontextmanager
    async def claim(self, queue: str, limit: int, now: datetime, lease: timedelta) -> AsyncIterator[Batch]:
        jobs, self.waiting = self.waiting[:limit], self.waiting[limit:]
        yield Batch(jobs, self.marked)

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        return 0

    async def lag_seconds(self) -> dict[str, float]:
        return {}

    async def failed_jobs(self) -> dict[str, int]:
        return {}


def job(n: int) -> Job:
    return Job(n, "q", None, None, "test.event", {}, 0, datetime.now(UTC))


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_stop_lets_the_jobs_in_hand_finish_and_takes_no_other(concurrency: int) -> None:
    store = Store([job(1), job(2), job(3)])
    started, release = anyio.Event(), anyio.Event()
    running: list[int] = []
    handled: list[int] = []

    async def handler(j: Job) -> None:
        running.append(j.id)
        if len(running) == concurrency:
            started.set()
        await release.wait()
        handled.append(j.id)

    async def hourly() -> None:
        return None

    workers = Workers(
        store=store,  # type: ignore[arg-type]
        clock=MovableClock(),
        handlers={"q": handler},
        periodic=[Periodic("hourly", timedelta(hours=1), hourly)],
        poll=60,
        concurrency=concurrency,
    )
    finished = anyio.Event()

    async def run() -> None:
        await workers.run()
        finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await started.wait()
        workers.stop()
        await anyio.sleep(0.2)
        release.set()  # the jobs in hand finish after the stop was asked for
        # run() returns by itself, long before the 60 s poll or the hourly period are over.
        with anyio.fail_after(5):
            await finished.wait()
    in_hand = [1, 2][:concurrency]
    assert sorted(handled) == in_hand
    # The rest of the batch goes back to the queue at once, for another worker.
    assert store.marked == {
        **dict.fromkeys(in_hand, "done"),
        **{n: "released" for n in (2, 3) if n > concurrency},
    }


@dataclass
class Looks:
    """A store that notes when the relay looked for work (it never finds any)."""

    at: list[float] = field(default_factory=list)
    looked: anyio.Event = field(default_factory=anyio.Event)

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        self.at.append(anyio.current_time())
        self.looked.set()
        return 0

    async def next_look(self) -> float:
        self.looked = anyio.Event()
        with anyio.fail_after(10):
            await self.looked.wait()
        return self.at[-1]


async def test_wakes_soon_after_a_look_share_the_next_one_and_an_idle_wake_looks_at_once() -> None:
    store = Looks()
    # Polls far away: only wake() (what a notification calls) makes the relay look.
    workers = Workers(store=store, clock=MovableClock(), poll=60, fallback_poll=60, coalesce=1.0)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        await store.next_look()  # the look at start-up
        await anyio.sleep(1.2)  # idle for longer than the coalescing window
        woken = anyio.current_time()
        workers.wake("outbox")
        idle_look = await store.next_look()
        assert idle_look - woken < 0.5  # a wake after a quiet spell adds no wait
        # A burst of wakes right after that look: one more look, once the window since it has passed,
        # and after the last of them (none is lost).
        burst = []
        for _ in range(10):
            burst.append(anyio.current_time())
            workers.wake("outbox")
            await anyio.sleep(0.01)
        coalesced = await store.next_look()
        assert coalesced >= idle_look + 1.0 and coalesced > burst[-1]
        await anyio.sleep(1.5)
        assert len(store.at) == 3  # start-up, the idle wake, the whole burst
        workers.stop()
