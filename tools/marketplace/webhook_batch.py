"""The ``provider_webhooks`` queue's handler for a whole claimed batch (``tools.platform.jobs.BatchHandler``).

Each job's outcome, and the delivery row it stores, are exactly those of ``deliver_provider_webhook``
(tools/marketplace/provider_webhooks.py, which says what each answer means); what changes is the number
of round trips. One job alone cost a provider read, the POST, a delivery write (and, on a re-run, a
delivery read); a batch costs one read of its providers, one read of the re-runs' deliveries (only when
some job is a re-run), the POSTs side by side (at most ``concurrency`` at once), and one write of every
delivery row. A claim holds at most one job per ordering key (a provider's events), so sending them
together keeps each provider's order.

Delivery stays at least once: the rows are stored, all in one statement, before the engine marks the
jobs; a worker killed in between sends the batch's events again (receivers dedupe on the event id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import anyio

from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.ports import AttemptResult, DeliveryRecord, MarketplaceDeps
from tools.marketplace.provider_webhooks import Attempt, attempt_delivery, provider_id_of, rerun_outcome
from tools.platform.jobs import BatchHandler, Job, PermanentFailure

__all__ = ["DeliveryBatches", "deliver_provider_webhooks", "provider_webhook_handler"]


class DeliveryBatches(Protocol):
    """The delivery rows of a batch of provider_webhooks jobs, one statement each way."""

    async def by_jobs(self, job_ids: Sequence[int]) -> dict[int, DeliveryRecord]:
        """The deliveries of those jobs that have one, by job id."""
        ...

    async def record_many(self, results: Sequence[tuple[int, AttemptResult]]) -> None:
        """Store each job's run outcome (as ``DeliveryStore.record`` one by one); job ids distinct."""
        ...


def provider_webhook_handler(
    deps: MarketplaceDeps, deliveries: DeliveryBatches, *, concurrency: int
) -> BatchHandler:
    """The queue's handler: a claimed batch delivered at once, up to ``concurrency`` POSTs in flight."""

    async def run(jobs: list[Job]) -> list[Exception | None]:
        return await deliver_provider_webhooks(deps, deliveries, jobs, concurrency=concurrency)

    return BatchHandler(run)


async def deliver_provider_webhooks(
    deps: MarketplaceDeps, deliveries: DeliveryBatches, jobs: Sequence[Job], *, concurrency: int
) -> list[Exception | None]:
    """Each job's outcome, in order: None (delivered or skipped), or what ends it (``RetryLater``,
    ``PermanentFailure``, or an unexpected error, retried by the queue). A read or the write that fails
    is the outcome of the jobs that needed it, as it would be for each of them alone."""
    runs: dict[int, Attempt] = {}
    for i, job in enumerate(jobs):
        if job.event_id is None:
            runs[i] = Attempt(None, PermanentFailure("the job carries no event id"))
    # A first attempt has nothing stored to look at (see deliver_provider_webhook).
    reruns = [i for i in range(len(jobs)) if i not in runs and jobs[i].attempts]
    try:
        previous = await deliveries.by_jobs([jobs[i].id for i in reruns]) if reruns else {}
    except Exception as exc:
        previous = {}
        runs.update({i: Attempt(None, exc) for i in reruns})
    for i in reruns:
        if i not in runs and (done := rerun_outcome(previous.get(jobs[i].id))) is not None:
            runs[i] = done
    to_send = [i for i in range(len(jobs)) if i not in runs]
    providers = await _providers(deps, jobs, to_send, runs)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def send(i: int) -> None:
        pid = provider_id_of(jobs[i])
        async with limiter:
            try:
                runs[i] = await attempt_delivery(deps, jobs[i], providers.get(pid) if pid else None)
            except Exception as exc:
                # As a single job's unexpected error: nothing stored, the queue retries it.
                runs[i] = Attempt(None, exc)

    async with anyio.create_task_group() as tg:
        for i in to_send:
            if i not in runs:
                tg.start_soon(send, i)
    stored = [i for i in sorted(runs) if runs[i].stored is not None]
    if stored:
        try:
            await deliveries.record_many(
                [(jobs[i].id, r) for i in stored if (r := runs[i].stored) is not None]
            )
        except Exception as exc:
            # Not stored: those jobs end with the error (retried), the others as they were.
            runs.update({i: Attempt(None, exc) for i in stored})
    return [runs[i].outcome for i in range(len(jobs))]


async def _providers(
    deps: MarketplaceDeps, jobs: Sequence[Job], to_send: Sequence[int], runs: dict[int, Attempt]
) -> dict[UUID, ProviderRecord]:
    """The providers of those jobs, in one read; when it fails, the jobs that name one end with the
    error (a job naming none is skipped without reading)."""
    wanted = {i: p for i in to_send if (p := provider_id_of(jobs[i])) is not None}
    if not wanted:
        return {}
    try:
        return {p.id: p for p in await deps.providers.get_many(sorted(set(wanted.values())))}
    except Exception as exc:
        runs.update({i: Attempt(None, exc) for i in wanted})
        return {}
