"""Background work: relay the outbox into queues, and run one batch of a queue's due jobs.

A job is claimed by a short transaction that leases it to this worker (``FOR UPDATE SKIP LOCKED``, so
concurrent workers never take one job twice) and commits; the handler runs outside any transaction,
so a slow webhook holds no database connection; the outcome is recorded by another short transaction
that only succeeds while the lease is still this worker's. The lease is kept alive by a heartbeat
while the batch runs (a handler may take any time its own timeout allows), so it can be short: a
worker killed mid-job gives its jobs back within one lease, another worker reclaims them, and the dead
worker's late outcome is refused. Delivery is at least once: a handler's effect commits in its own
transaction before the job is marked, so handlers are idempotent (they dedupe on the event id, a
payment reference, an inbox row).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
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
    "Handler",
    "Job",
    "JobBatch",
    "JobStore",
    "PermanentFailure",
    "RetryLater",
    "relay_outbox",
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


async def relay_outbox(store: JobStore, limit: int = 500) -> int:
    return await store.relay(limit, routes)


def _describe(exc: BaseException) -> str:
    # Handlers raise errors whose text is safe to keep (no personal data, no secrets); anything else is
    # recorded by its type only.
    if isinstance(exc, RetryLater | PermanentFailure):
        return str(exc)[:MAX_ERROR]
    return type(exc).__name__


async def run_queue(
    store: JobStore,
    queue: str,
    handler: Handler,
    *,
    clock: Clock,
    limit: int = 20,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: timedelta = timedelta(seconds=1),
    max_delay: timedelta = timedelta(minutes=30),
    lease: timedelta = LEASE,
    stopping: Callable[[], bool] = lambda: False,
    concurrency: int = 1,
) -> int:
    """Run one batch of ``queue``, due by ``clock``; returns how many jobs it took (0: nothing due).
    Each job is marked at the clock's time when its handler returns. Up to ``concurrency`` jobs of the
    batch run at once: a claim holds at most one job per ordering key, so a key's jobs still run one
    after another. Once ``stopping()`` is true the jobs not started are given back, for the next
    worker to claim."""
    async with store.claim(queue, limit, clock.now(), lease) as batch:
        waiting = list(batch.jobs)  # not yet marked (running included): renewed, or given back
        queued = list(batch.jobs)  # not yet started
        died: list[BaseException] = []

        async def one_at_a_time(scope: anyio.CancelScope) -> None:
            try:
                while queued and not stopping():
                    job = queued.pop(0)
                    await _attempt(batch, job, handler, clock, max_attempts, base_delay, max_delay)
                    waiting.remove(job)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                # Raised as it is (not wrapped in a task group's exception group); the jobs stay
                # leased, as a dead worker's would, and come back when their leases run out.
                died.append(exc)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(_heartbeat, batch, waiting, clock, lease)
            async with anyio.create_task_group() as running:
                for _ in range(max(1, min(concurrency, len(queued)))):
                    running.start_soon(one_at_a_time, running.cancel_scope)
            tg.cancel_scope.cancel()
        if died:
            raise died[0]
        if waiting:
            await batch.release(waiting)
        return len(batch.jobs)


async def _heartbeat(batch: JobBatch, waiting: list[Job], clock: Clock, lease: timedelta) -> None:
    # Renews the leases of the jobs not yet marked (the one running included) every third of a lease,
    # so two renewals may fail (a database blip) before another worker may take them.
    period = max(lease.total_seconds() / 3, 0.01)
    while True:
        await anyio.sleep(period)
        if not waiting:
            return
        try:
            await batch.extend(list(waiting), clock.now() + lease)
        except Exception:
            log.warning("could not renew the leases of %d jobs", len(waiting), exc_info=True)


async def _attempt(
    batch: JobBatch,
    job: Job,
    handler: Handler,
    clock: Clock,
    max_attempts: int,
    base_delay: timedelta,
    max_delay: timedelta,
) -> None:
    queue = job.queue
    if job.attempts >= max_attempts:
        # Every earlier claim counted an attempt, and none reported: a job that kills or hangs its worker
        # would otherwise be reclaimed for ever.
        reason = f"gave up after {job.attempts} attempts: no outcome reported (the worker's lease ran out)"
        log.warning("%s job %d %s", queue, job.id, reason)
        await batch.fail(job, clock.now(), reason)
        return
    try:
        await handler(job)
    except PermanentFailure as exc:
        log.warning("%s job %d failed for good: %s", queue, job.id, _describe(exc))
        recorded = await batch.fail(job, clock.now(), _describe(exc))
    except Exception as exc:
        attempt = job.attempts + 1
        if attempt >= max_attempts:
            log.warning("%s job %d gave up after %d attempts: %s", queue, job.id, attempt, _describe(exc))
            recorded = await batch.fail(
                job, clock.now(), f"gave up after {attempt} attempts: {_describe(exc)}"
            )
        else:
            if not isinstance(exc, RetryLater):
                log.warning("%s job %d attempt %d failed", queue, job.id, attempt, exc_info=exc)
            delay = exc.delay if isinstance(exc, RetryLater) and exc.delay is not None else None
            delay = delay or backoff_delay(attempt, base=base_delay, cap=max_delay)
            recorded = await batch.retry(job, clock.now(), delay, _describe(exc))
    else:
        recorded = await batch.done(job, clock.now())
    if not recorded:
        # Another worker reclaimed it after our lease ran out: its outcome is the one that counts.
        log.warning("%s job %d: lease lost before its outcome was recorded", queue, job.id)
