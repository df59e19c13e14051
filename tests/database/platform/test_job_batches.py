"""A batch handler on real PostgreSQL: given the whole claimed batch in one call, each job ending as
its own answer says (done, due again, failed for good), as a single handler's job would."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.database.platform.test_jobs import enqueue, queue_name
from tests.helpers.clock import MovableClock
from tools.platform.jobs import BatchHandler, Job, PermanentFailure, RetryLater, run_batch


@pytest.fixture
def store(runtime: Runtime) -> PgJobStore:
    assert runtime.core_pool is not None
    return PgJobStore(runtime.core_pool)


def fixed() -> MovableClock:
    """A clock that stands still (outcomes are stamped with it), a little past the jobs' insert."""
    return MovableClock(datetime.now(UTC) + timedelta(seconds=1))


async def rows(db: asyncpg.Connection, queue: str) -> dict[int, asyncpg.Record]:
    found = await db.fetch(
        "SELECT id, attempts, done_at, failed_at, next_attempt_at, last_error, leased_by"
        " FROM caas_core.jobs WHERE queue = $1",
        queue,
    )
    return {r["id"]: r for r in found}


async def test_the_handler_gets_the_batch_in_one_call_and_each_job_ends_as_answered(
    store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    queue = queue_name()
    done, later, never, broken, behind = await enqueue(core_db, queue, ["a", "b", "c", "d", "a"])
    clock = fixed()
    answers: dict[int, Exception | None] = {
        done: None,
        later: RetryLater("not yet", timedelta(minutes=5)),
        never: PermanentFailure("refused for good"),
        broken: ValueError("a bug, with data the error text must not keep"),
    }
    calls: list[list[int]] = []

    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        calls.append([j.id for j in jobs])
        return [answers[j.id] for j in jobs]

    taken = await run_batch(store, queue, BatchHandler(run), clock=clock, limit=10)
    now = clock.now()
    assert calls == [[done, later, never, broken]]  # one call, the claim's order; "a" once
    assert (taken.jobs, taken.more) == (4, True)  # the second "a" job waits behind the first
    found = await rows(core_db, queue)
    assert found[done]["done_at"] == now and found[done]["failed_at"] is None
    assert found[later]["next_attempt_at"] == now + timedelta(minutes=5)
    assert (found[later]["done_at"], found[later]["last_error"]) == (None, "not yet")
    assert found[never]["failed_at"] == now and found[never]["last_error"] == "refused for good"
    assert found[broken]["last_error"] == "ValueError" and found[broken]["next_attempt_at"] > now
    assert found[broken]["done_at"] is None and found[broken]["failed_at"] is None
    assert all(r["leased_by"] is None for i, r in found.items() if i != behind)
    assert all(found[i]["attempts"] == 1 for i in answers)
    calls.clear()
    answers[behind] = None
    assert (await run_batch(store, queue, BatchHandler(run), clock=clock, limit=10)).jobs == 1
    assert calls == [[behind]]
    assert (await rows(core_db, queue))[behind]["done_at"] == clock.now()


async def test_a_handler_that_raises_retries_every_job_and_spent_jobs_fail_without_it(
    store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    queue = queue_name()
    spent, fresh, other = await enqueue(core_db, queue, ["a", "b", "c"])
    clock = fixed()
    await core_db.execute("UPDATE caas_core.jobs SET attempts = 3 WHERE id = $1", spent)
    calls: list[list[int]] = []

    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        calls.append([j.id for j in jobs])
        raise RetryLater("the mirror is down")

    await run_batch(store, queue, BatchHandler(run), clock=clock, limit=10, max_attempts=3)
    assert calls == [[fresh, other]]
    found = await rows(core_db, queue)
    assert found[spent]["failed_at"] is not None
    assert found[spent]["last_error"].startswith("gave up after 3 attempts")
    for job_id in (fresh, other):
        assert (found[job_id]["attempts"], found[job_id]["last_error"]) == (1, "the mirror is down")
        assert found[job_id]["done_at"] is None and found[job_id]["next_attempt_at"] > clock.now()


async def test_an_answer_per_job_is_required_or_every_job_retries(
    store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    queue = queue_name()
    ids = await enqueue(core_db, queue, ["a", "b"])
    clock = fixed()

    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        return [None]  # one answer for two jobs: which one is done is unknown

    await run_batch(store, queue, BatchHandler(run), clock=clock, limit=10)
    found = await rows(core_db, queue)
    assert [(found[i]["done_at"], found[i]["last_error"]) for i in ids] == [(None, "RuntimeError")] * 2


async def test_a_stopping_worker_gives_the_batch_back_untouched(
    store: PgJobStore, core_db: asyncpg.Connection
) -> None:
    queue = queue_name()
    ids = await enqueue(core_db, queue, ["a", "b"])
    clock = fixed()

    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        raise AssertionError("a stopping worker starts nothing")

    taken = await run_batch(store, queue, BatchHandler(run), clock=clock, stopping=lambda: True)
    assert (taken.jobs, taken.more) == (2, False)
    found = await rows(core_db, queue)
    assert [(found[i]["attempts"], found[i]["leased_by"], found[i]["done_at"]) for i in ids] == [
        (0, None, None)
    ] * 2


async def test_called_with_one_job_it_is_an_ordinary_handler() -> None:
    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        return [PermanentFailure(f"job {jobs[0].id} refused")]

    job = Job(7, "q", None, None, "test.event", {}, 0, datetime.now(UTC))
    with pytest.raises(PermanentFailure, match="job 7 refused"):
        await BatchHandler(run)(job)
