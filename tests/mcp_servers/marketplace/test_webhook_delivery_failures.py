"""When a webhook cannot be delivered: the attempts run out, the queue fails a job on its own, a worker
dies after storing the outcome."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.providers import call, uid
from tests.helpers.webhooks import (
    RETRY,
    Receiver,
    deliveries,
    due_now,
    invite,
    invited_events,
    lender,
    receiving,
)
from tools.marketplace.provider_webhooks import QUEUE, deliver_provider_webhook
from tools.platform.jobs import Job, relay_outbox, run_queue
from tools.platform.principal import Role


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


async def test_a_delivery_gives_up_after_its_attempts_and_a_rerun_of_a_stored_outcome_sends_nothing(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    runtime: Runtime,
    receiver: Receiver,
    clock: MovableClock,
    country: str,
) -> None:
    provider_id, _, name = await lender(client, principal, receiver, country)
    receiver.answer(name, 502, 502)
    await invite(client, principal, core_db, country)
    [event_id] = await invited_events(core_db, provider_id)
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    strict = replace(runtime.deps.marketplace, webhook_max_attempts=2)

    async def handler(job: Job) -> None:
        # Other tests' jobs that happen to be due keep the configured attempts.
        await deliver_provider_webhook(strict if job.event_id == event_id else runtime.deps.marketplace, job)

    await runtime.workers.drain()  # relays it and makes attempt 1
    await due_now(core_db, clock, event_id)
    while await run_queue(store, QUEUE, handler, clock=clock):
        pass

    [row] = await deliveries(client, principal, provider=provider_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 2, 502)
    assert row["last_error"] == "gave up after 2 attempts; last: the receiver answered 502"
    job = await core_db.fetchrow(
        "SELECT failed_at, last_error FROM caas_core.jobs WHERE queue = $1 AND event_id = $2", QUEUE, event_id
    )
    assert job["failed_at"] is not None and job["last_error"] == row["last_error"]

    # A worker that died after storing a delivered outcome runs the job again: nothing is re-sent.
    principal(uid("op"), Role.OPERATOR)
    await call(client, RETRY, {"delivery": str(event_id)})
    await runtime.workers.drain()
    assert len(receiver.got[name]) == 3
    stored = await core_db.fetchrow(
        "SELECT id, queue, ordering_key, event_id, event_type, payload, attempts, created_at "
        "FROM caas_core.jobs WHERE queue = $1 AND event_id = $2",
        QUEUE,
        event_id,
    )
    await deliver_provider_webhook(runtime.deps.marketplace, Job(**dict(stored.items())))
    assert len(receiver.got[name]) == 3
    assert json.loads(receiver.got[name][-1].body)["id"] == str(event_id)


async def test_a_job_the_queue_failed_on_its_own_lists_as_failed_and_can_be_queued_again(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    runtime: Runtime,
    receiver: Receiver,
    country: str,
) -> None:
    provider_id, _, name = await lender(client, principal, receiver, country)
    await invite(client, principal, core_db, country)
    [event_id] = await invited_events(core_db, provider_id)
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)

    async def crashing(job: Job) -> None:
        if job.event_id == event_id:
            raise KeyError("national id 12345678901")  # only its type may be kept
        await deliver_provider_webhook(runtime.deps.marketplace, job)

    await relay_outbox(store)
    # Arrange only: its earlier attempts crashed too, so this one is the queue's last (run_queue's 12).
    await core_db.execute(
        "UPDATE caas_core.jobs SET attempts = 11 WHERE queue = $1 AND event_id = $2", QUEUE, event_id
    )
    while await run_queue(store, QUEUE, crashing, clock=runtime.clock):
        pass

    [row] = await deliveries(client, principal, provider=provider_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 0, None)
    assert row["last_error"] == "gave up after 12 attempts: KeyError" and row["failed_at"] is not None
    assert receiver.got[name] == []

    principal(uid("op-retry"), Role.OPERATOR)
    queued = await call(client, RETRY, {"delivery": str(event_id)})
    assert (queued["status"], queued["requeue_count"]) == ("pending", 1)
    await runtime.workers.drain()
    [row] = await deliveries(client, principal, provider=provider_id)
    assert (row["status"], row["attempts"], row["requeue_count"]) == ("delivered", 1, 1)
    assert [json.loads(r.body)["id"] for r in receiver.got[name]] == [str(event_id)]
