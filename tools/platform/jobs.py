"""Background work: relay the outbox into queues, and run one batch of a queue's due jobs.

A job is claimed by a short transaction that leases it to this worker (``FOR UPDATE SKIP LOCKED``, so
concurrent workers never take one job twice) and commits; the handler runs outside any transaction,
so a slow webhook holds no database connection; the outcome is recorded by another short transaction
that only succeeds while the lease is still this worker's. The lease is kept alive by a heartbeat
while the batch runs (a handler may take any time its own timeout allows), so it can be short: a
worker killed mid-job gives its jobs back within one lease, another worker reclaims them, and the dead
worker's late outcome is refused. A batch holds at most one job per ordering key, so its jobs may run
side by side (``concurrency``) without a key's jobs overtaking each other; a ``BatchHandler`` is given
the whole batch at once instead (one write for many jobs) and answers each job's outcome. Delivery is
at least once: a handler's effect commits in its own transaction before the job is marked, so handlers
are idempotent (they dedupe on the event id, a payment reference, an inbox row).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import anyio

from tools.platform.domain.jobs import JobRoute, backoff_delay, routes
from tools.platform.ports import Clock

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "BatchHandler",
    "Handler",
    "Job",
    "JobBatch",
    "JobStore",
    "PermanentFailure",
    "RetryLater",
    "Taken",
    "relay_outbox",
    "run_batch",
    "run_queue",
]

log = logging.getLogger("caas.jobs")
MAX_ERROR = 500
# How many attempts a job gets before it fails for good (run_queue's default).
MAX_ATTEMPTS = 12
# How long a claim lasts without a heartbeat: how soon a dead worker's jobs are taken by another. The
# heartbeat renews it every third of it, so a handler of any length keeps its jobs.
LEASE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    queue: str
    ordering_key: str | None
    event_id: UUID | None
    event_type: str
    payload: Mapping[str, Any]
    attempts: int  # attempts made before this one
    created_at: datetime


class RetryLater(Exception):
    """Not now (a dependency is down, a payment is still pending): try again after ``delay``, or after
    the queue's backoff when None. Counts as an attempt."""

    def __init__(self, reason: str, delay: timedelta | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class PermanentFailure(Exception):
    """Retrying cannot help (the receiver refused it for good): the job ends as failed, for an operator."""


class JobBatch(Protocol):
    """Jobs leased to one worker. Each outcome returns False when the lease is no longer this worker's
    (it ran out and another worker reclaimed the job): nothing is recorded then."""

    jobs: list[Job]
    # Whether jobs wait that this claim left: it hit its limit, or one of its jobs has a later
    # unfinished job on its key (claimable once that one ends).
    more: bool

    async def done(self, job: Job, now: datetime) -> bool: ...

    async def retry(self, job: Job, now: datetime, delay: timedelta, error: str) -> bool:
        """Due again at ``now + delay``."""
        ...

    async def fail(self, job: Job, now: datetime, error: str) -> bool: ...

    async def extend(self, jobs: list[Job], until: datetime) -> None:
        """The heartbeat: the leases of ``jobs`` (still this worker's) last until ``until``."""
        ...

    async def release(self, jobs: list[Job]) -> None:
        """Give back jobs never started (a stopping worker): claimable at once, no attempt counted."""
        ...


class JobStore(Protocol):
    def claim(
        self, queue: str, limit: int, now: datetime, lease: timedelta
    ) -> AbstractAsyncContextManager[JobBatch]:
        """Jobs of ``queue`` due at ``now`` and not leased (or whose lease ran out), at most one per
        ordering key and none behind an unfinished (leased included) job of its key, leased until
        ``now + lease`` by a transaction committed before the context is entered."""
        ...

    async def relay(self, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]) -> int:
        """Copy up to ``limit`` unpublished outbox events into their queues and mark them published, in
        one transaction; one relay at a time (others return 0). Returns how many events it took."""
        ...

    async def lag_seconds(self) -> dict[str, float]:
        """Per queue (and ``outbox`` for the relay), the age of the oldest unfinished item; 0 when none."""
        ...

    async def failed_jobs(self) -> dict[str, int]:
        """Per queue, how many jobs failed for good and wait for an operator (queues with none left out)."""
        ...


Handler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BatchHandler:
    """A queue's handler given every job of a claimed batch at once (jobs of different ordering keys),
    for work that costs less done together (one write for many rows). ``run`` answers, in the jobs'
    order, each job's outcome: None when it is done, else the exception it would have raised alone
    (``RetryLater``, ``PermanentFailure``, any other error), which ends that job as a single handler's
    would. An exception raised by ``run`` itself is every job's outcome. Called with one job it is an
    ordinary ``Handler``."""

    run: Callable[[list[Job]], Awaitable[Sequence[Exception | None]]]

    async def __call__(self, job: Job) -> None:
        [outcome] = await self.run([job])
        if outcome is not None:
            raise outcome


async def relay_outbox(store: JobStore, limit: int = 500) -> int:
    return await store.relay(limit, routes)


def _describe(exc: BaseException) -> str:
    # Handlers raise errors whose text is safe to keep (no personal data, no secrets); anything else is
    # recorded by its type only.
    if isinstance(exc, RetryLater | PermanentFailure):
        return str(exc)[:MAX_ERROR]
    return type(exc).__name__


@dataclass(frozen=True, slots=True)
class Taken:
    """One batch of a queue: how many jobs it took, and whether more may be claimable right away (the
    claim hit its limit, or a job behind one of the batch's keys is now free to run)."""

    jobs: int
    more: bool


async def run_queue(
    store: JobStore,
    queue: str,
    handler: Handler,
    *,
    clock: Clock,
    limit: int = 20,
    concurrency: int = 1,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: timedelta = timedelta(seconds=1),
    max_delay: timedelta = timedelta(minutes=30),
    lease: timedelta = LEASE,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Run one batch of ``queue`` (see :func:`run_batch`); returns how many jobs it took (0: none due)."""
    taken = await run_batch(
        store,
        queue,
        handler,
        clock=clock,
        limit=limit,
        concurrency=concurrency,
        max_attempts=max_attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        lease=lease,
        stopping=stopping,
    )
    return taken.jobs


async def run_batch(
    store: JobStore,
    queue: str,
    handler: Handler,
    *,
    clock: Clock,
    limit: int = 20,
    concurrency: int = 1,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: timedelta = timedelta(seconds=1),
    max_delay: timedelta = timedelta(minutes=30),
    lease: timedelta = LEASE,
    stopping: Callable[[], bool] = lambda: False,
) -> Taken:
    """Claim one batch of ``queue``, due by ``clock``, and run up to ``concurrency`` of its jobs at once.
    A batch holds at most one job per ordering key (the claim's rule), so running them side by side
    keeps each key's order. Each job is marked at the clock's time when its handler returns. Once
    ``stopping()`` is true no job is started and the rest of the batch is given back, for the next
    worker to claim. An error outside the handlers (recording an outcome) is raised as it is, once the
    jobs in hand have ended; the jobs not marked stay leased, as a dead worker's would."""
    async with store.claim(queue, limit, clock.now(), lease) as batch:
        if not batch.jobs:
            return Taken(0, False)
        settle = _Settle(batch, clock, max_attempts, base_delay, cap=max_delay)
        todo = list(reversed(batch.jobs))  # popped from the end: the batch's order
        unmarked = list(batch.jobs)  # what the heartbeat keeps leased
        died: list[BaseException] = []

        async def runner() -> None:
            while todo and not died and not stopping():
                job = todo.pop()
                try:
                    await _attempt(settle, job, handler)
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    died.append(exc)
                    return
                unmarked.remove(job)

        async def whole(handler: BatchHandler) -> None:
            if stopping():
                return
            jobs = [todo.pop() for _ in range(len(todo))]
            try:
                await _attempt_all(settle, jobs, handler)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                died.append(exc)
                return
            unmarked.clear()

        async with anyio.create_task_group() as tg:
            tg.start_soon(_heartbeat, batch, unmarked, clock, lease)
            if isinstance(handler, BatchHandler):
                await whole(handler)
            else:
                async with anyio.create_task_group() as runners:
                    for _ in range(min(concurrency, len(todo))):
                        runners.start_soon(runner)
            tg.cancel_scope.cancel()
        if died:
            raise died[0]
        if todo:
            await batch.release(list(reversed(todo)))
        return Taken(len(batch.jobs), batch.more and not todo)


async def _heartbeat(batch: JobBatch, unmarked: list[Job], clock: Clock, lease: timedelta) -> None:
    # Renews the leases of the jobs not yet marked (those running included) every third of a lease,
    # so two renewals may fail (a database blip) before another worker may take them.
    period = max(lease.total_seconds() / 3, 0.01)
    while True:
        await anyio.sleep(period)
        if not unmarked:
            return
        try:
            await batch.extend(list(unmarked), clock.now() + lease)
        except Exception:
            log.warning("could not renew the leases of %d jobs", len(unmarked), exc_info=True)


@dataclass(frozen=True, slots=True)
class _Settle:
    """How a batch's jobs end: where outcomes are recorded, and the queue's retry policy."""

    batch: JobBatch
    clock: Clock
    max_attempts: int
    base: timedelta
    cap: timedelta


async def _attempt(settle: _Settle, job: Job, handler: Handler) -> None:
    if job.attempts >= settle.max_attempts:
        await _give_up(settle, job)
        return
    try:
        await handler(job)
    except Exception as exc:
        await _end(settle, job, exc)
    else:
        await _end(settle, job, None)


async def _attempt_all(settle: _Settle, jobs: list[Job], handler: BatchHandler) -> None:
    """The batch handler's one call for every job with attempts left, then every outcome recorded side
    by side (the store writes the outcomes that wait together in one statement)."""
    spent = [j for j in jobs if j.attempts >= settle.max_attempts]
    live = [j for j in jobs if j.attempts < settle.max_attempts]
    outcomes: list[Exception | None] = []
    if live:
        try:
            outcomes = list(await handler.run(live))
        except Exception as exc:
            outcomes = [exc] * len(live)
        if len(outcomes) != len(live):
            error = RuntimeError(f"the batch handler answered {len(outcomes)} outcomes for {len(live)} jobs")
            outcomes = [error] * len(live)
    failed: list[BaseException] = []

    async def record(job: Job, outcome: Exception | None, spent: bool) -> None:
        try:
            await (_give_up(settle, job) if spent else _end(settle, job, outcome))
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:
        for job in spent:
            tg.start_soon(record, job, None, True)
        for job, outcome in zip(live, outcomes, strict=True):
            tg.start_soon(record, job, outcome, False)
    if failed:
        raise failed[0]


async def _give_up(settle: _Settle, job: Job) -> None:
    # Every earlier claim counted an attempt, and none reported: a job that kills or hangs its worker
    # would otherwise be reclaimed for ever.
    reason = f"gave up after {job.attempts} attempts: no outcome reported (the worker's lease ran out)"
    log.warning("%s job %d %s", job.queue, job.id, reason)
    await settle.batch.fail(job, settle.clock.now(), reason)


async def _end(settle: _Settle, job: Job, exc: Exception | None) -> None:
    """Record how one attempt of ``job`` ended: done (``exc`` None), due again, or failed for good."""
    batch, queue, now = settle.batch, job.queue, settle.clock.now()
    if exc is None:
        recorded = await batch.done(job, now)
    elif isinstance(exc, PermanentFailure):
        log.warning("%s job %d failed for good: %s", queue, job.id, _describe(exc))
        recorded = await batch.fail(job, now, _describe(exc))
    elif (attempt := job.attempts + 1) >= settle.max_attempts:
        log.warning("%s job %d gave up after %d attempts: %s", queue, job.id, attempt, _describe(exc))
        recorded = await batch.fail(job, now, f"gave up after {attempt} attempts: {_describe(exc)}")
    else:
        if not isinstance(exc, RetryLater):
            log.warning("%s job %d attempt %d failed", queue, job.id, attempt, exc_info=exc)
        delay = exc.delay if isinstance(exc, RetryLater) and exc.delay is not None else None
        delay = delay or backoff_delay(attempt, base=settle.base, cap=settle.cap)
        recorded = await batch.retry(job, now, delay, _describe(exc))
    if not recorded:
        # Another worker reclaimed it after our lease ran out: its outcome is the one that counts.
        log.warning("%s job %d: lease lost before its outcome was recorded", queue, job.id)
