"""Background work: relay the outbox into queues, and run one batch of a queue's due jobs.

A job is claimed inside a database transaction that holds its row lock until the job is marked done,
retried or failed, so concurrent workers (``FOR UPDATE SKIP LOCKED``) never run one job twice, and a
worker killed mid-job gives it back. Delivery is at least once: a handler's effect commits in its
own transaction before the job is marked, so handlers are idempotent (they dedupe on the event id,
a payment reference, an inbox row).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from tools.platform.domain.jobs import JobRoute, backoff_delay, routes
from tools.platform.ports import Clock

__all__ = [
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
    jobs: list[Job]

    async def done(self, job: Job, now: datetime) -> None: ...

    async def retry(self, job: Job, now: datetime, delay: timedelta, error: str) -> None:
        """Due again at ``now + delay``."""
        ...

    async def fail(self, job: Job, now: datetime, error: str) -> None: ...


class JobStore(Protocol):
    def claim(self, queue: str, limit: int, now: datetime) -> AbstractAsyncContextManager[JobBatch]:
        """Jobs of ``queue`` due at ``now``, at most one per ordering key and none behind an unfinished
        job of its key, locked until the context exits (then committed)."""
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
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Run one batch of ``queue``, due by ``clock``; returns how many jobs it took (0: nothing due).
    Each job is marked at the clock's time when its handler returns. Once ``stopping()`` is true the
    rest of the batch is left unmarked, for the next worker to claim."""
    async with store.claim(queue, limit, clock.now()) as batch:
        for job in batch.jobs:
            if stopping():
                break
            try:
                await handler(job)
            except PermanentFailure as exc:
                log.warning("%s job %d failed for good: %s", queue, job.id, _describe(exc))
                await batch.fail(job, clock.now(), _describe(exc))
            except Exception as exc:
                attempt = job.attempts + 1
                if attempt >= max_attempts:
                    log.warning(
                        "%s job %d gave up after %d attempts: %s", queue, job.id, attempt, _describe(exc)
                    )
                    await batch.fail(job, clock.now(), f"gave up after {attempt} attempts: {_describe(exc)}")
                    continue
                if not isinstance(exc, RetryLater):
                    log.warning("%s job %d attempt %d failed", queue, job.id, attempt, exc_info=exc)
                delay = exc.delay if isinstance(exc, RetryLater) and exc.delay is not None else None
                delay = delay or backoff_delay(attempt, base=base_delay, cap=max_delay)
                await batch.retry(job, clock.now(), delay, _describe(exc))
            else:
                await batch.done(job, clock.now())
        return len(batch.jobs)
