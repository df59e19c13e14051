"""When a webhook cannot be delivered: the attempts run out, the queue fails a job on its own, a worker
dies after storing the outcome."""

from __future__ import annotations

import json
from dataclasses import replace

from database.platform.jobs import PgJobStore
from tests.helpers.clock import MovableClock
from tests.helpers.providers import call, uid
from tests.helpers.webhooks import RETRY, Hooks, due_now
from tools.marketplace.provider_webhooks import QUEUE, deliver_provider_webhook
from tools.platform.jobs import Job, relay_outbox, run_queue
from tools.platform.principal import Role


async def test_a_delivery_gives_up_after_its_attempts_and_a_rerun_of_a_stored_outcome_sends_nothing(
    hooks: Hooks, clock: MovableClock
) -> None:
    provider_id, _, name = await hooks.lender()
    hooks.receiver.answer(name, 502, 502)
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)
    assert hooks.runtime.core_pool is not None
    store = PgJobStore(hooks.runtime.core_pool)
    strict = replace(hooks.runtime.deps.marketplace, webhook_max_attempts=2)

    async def handler(job: Job) -> None:
        # Other tests' jobs that happen to be due keep the configured attempts.
        await deliver_provider_webhook(
            strict if job.event_id == event_id else hooks.runtime.deps.marketplace, job
        )

    await hooks.runtime.workers.drain()  # relays it and makes attempt 1
    await due_now(hooks.db, clock, event_id)
    while await run_queue(store, QUEUE, handler, clock=clock):
        pass

    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 2, 502)
    assert row["last_error"] == "gave up after 2 attempts; last: the receiver answered 502"
    job = await hooks.db.fetchrow(
        "SELECT failed_at, last_error FROM caas_core.jobs WHERE queue = $1 AND event_id = $2", QUEUE, event_id
    )
    assert job["failed_at"] is not None and job["last_error"] == row["last_error"]

    # A worker that died after storing a delivered outcome runs the job again: nothing is re-sent.
    hooks.principal(uid("op"), Role.OPERATOR)
    await call(hooks.client, RETRY, {"delivery": str(event_id)})
    await hooks.runtime.workers.drain()
    assert len(hooks.receiver.got[name]) == 3
    stored = await hooks.db.fetchrow(
        "SELECT id, queue, ordering_key, event_id, event_type, payload, attempts, created_at "
        "FROM caas_core.jobs WHERE queue = $1 AND event_id = $2",
        QUEUE,
        event_id,
    )
    await deliver_provider_webhook(hooks.runtime.deps.marketplace, Job(**dict(stored.items())))
    assert len(hooks.receiver.got[name]) == 3
    assert json.loads(hooks.receiver.got[name][-1].body)["id"] == str(event_id)


async def test_a_job_the_queue_failed_on_its_own_lists_as_failed_and_can_be_queued_again(
    hooks: Hooks,
) -> None:
    provider_id, _, name = await hooks.lender()
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)
    assert hooks.runtime.core_pool is not None
    store = PgJobStore(hooks.runtime.core_pool)

    async def crashing(job: Job) -> None:
        if job.event_id == event_id:
            raise KeyError("national id 12345678901")  # only its type may be kept
        await deliver_provider_webhook(hooks.runtime.deps.marketplace, job)

    await relay_outbox(store)
    # Arrange only: its earlier attempts crashed too, so this one is the queue's last (run_queue's 12).
    await hooks.db.execute(
        "UPDATE caas_core.jobs SET attempts = 11 WHERE queue = $1 AND event_id = $2", QUEUE, event_id
    )
    while await run_queue(store, QUEUE, crashing, clock=hooks.runtime.clock):
        pass

    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 0, None)
    assert row["last_error"] == "gave up after 12 attempts: KeyError" and row["failed_at"] is not None
    assert hooks.receiver.got[name] == []

    hooks.principal(uid("op-retry"), Role.OPERATOR)
    queued = await call(hooks.client, RETRY, {"delivery": str(event_id)})
    assert (queued["status"], queued["requeue_count"]) == ("pending", 1)
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["requeue_count"]) == ("delivered", 1, 1)
    assert [json.loads(r.body)["id"] for r in hooks.receiver.got[name]] == [str(event_id)]
