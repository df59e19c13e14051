"""The provider_webhooks queue's batch handler (tools/marketplace/webhook_batch.py): a claimed batch of
jobs for different lenders, sent side by side over real HTTP, ends each job as it would end alone (its
outcome, its delivery row as operators list it), and a re-run of the batch sends only what was not
settled. The per-answer rules themselves: test_webhook_deliveries.py and its neighbours."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import anyio
import asyncpg

from adapters.marketplace.webhook_sender import HttpxWebhookSender
from database.marketplace.webhook_deliveries import PgWebhookDeliveries
from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.helpers.providers import SUSPEND, call, uid
from tests.helpers.webhooks import Hooks, invited_events
from tools.marketplace.ports import AttemptResult, DeliveryRecord, WebhookAnswer, WebhookSender
from tools.marketplace.provider_webhooks import QUEUE
from tools.marketplace.webhook_batch import deliver_provider_webhooks
from tools.platform.domain.signatures import check_caas
from tools.platform.jobs import Job, PermanentFailure, RetryLater, relay_outbox
from tools.platform.principal import Role

# Long enough that a receiver that answers does so within it on a loaded CI machine (0.5 s flaked
# under xdist), short enough that the stalled one costs the test little.
TIMEOUT = 2.0


async def _invitation_jobs(
    db: asyncpg.Connection, runtime: Runtime, provider_ids: Sequence[str]
) -> list[Job]:
    """The invitation jobs of those lenders, in their order, relayed into the queue and not run."""
    assert runtime.core_pool is not None
    await relay_outbox(PgJobStore(runtime.core_pool))
    events = [e for p in provider_ids for e in await invited_events(db, p)]
    rows = await db.fetch(
        "SELECT id, queue, ordering_key, event_id, event_type, payload, attempts, created_at "
        "FROM caas_core.jobs WHERE queue = $1 AND event_id = ANY($2::uuid[])",
        QUEUE,
        events,
    )
    by_event = {r["event_id"]: Job(**dict(r.items())) for r in rows}
    return [by_event[e] for e in events]


async def _settle(db: asyncpg.Connection, jobs: Sequence[Job]) -> None:
    # The jobs were run by hand, not claimed: marked done so that no later drain sends them again.
    await db.execute(
        "UPDATE caas_core.jobs SET done_at = now() WHERE id = ANY($1::bigint[])", [j.id for j in jobs]
    )


def _row(rows: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    [row] = rows
    return (row["status"], row["attempts"], row["last_status_code"], row["last_error"])


NAMES = ("ok", "flaky", "gone", "slow", "held", "ghost")


async def _mixed_batch(hooks: Hooks, lenders: Mapping[str, tuple[str, str, str]]) -> list[Job]:
    """The lenders (of NAMES) invited, their receivers scripted, one suspended; their invitation jobs, the
    last one naming a provider that does not exist, and one more job without an event (never stored)."""
    hooks.receiver.answer(lenders["flaky"][2], 500)
    hooks.receiver.answer(lenders["gone"][2], 410)
    hooks.receiver.stall.add(lenders["slow"][2])
    await hooks.invite()
    hooks.principal(uid("op"), Role.OPERATOR)
    await call(hooks.client, SUSPEND, {"provider": lenders["held"][0], "reason": "compliance hold"})
    jobs = await _invitation_jobs(hooks.db, hooks.runtime, [lenders[n][0] for n in NAMES])
    jobs[-1] = replace(jobs[-1], payload={**jobs[-1].payload, "provider_id": str(uuid.uuid4())})
    return [*jobs, replace(jobs[0], id=-1, event_id=None)]


async def test_a_mixed_batch_ends_each_job_as_it_would_end_alone_and_a_rerun_sends_only_the_unsettled(
    hooks: Hooks,
) -> None:
    lenders = {n: await hooks.lender() for n in NAMES}
    name = {n: lenders[n][2] for n in NAMES}
    jobs = await _mixed_batch(hooks, lenders)
    sender = HttpxWebhookSender(allow_local=True, timeout_seconds=TIMEOUT, user_agent="CaaS-Webhooks/test")
    deps = replace(hooks.runtime.deps.marketplace, sender=sender)
    assert hooks.runtime.core_pool is not None
    store = PgWebhookDeliveries(hooks.runtime.core_pool)
    try:
        outcomes = await deliver_provider_webhooks(deps, store, jobs, concurrency=4)

        ok, flaky, gone, slow, held, ghost, no_event = outcomes
        assert ok is None and held is None and ghost is None
        assert isinstance(flaky, RetryLater) and str(flaky) == "the receiver answered 500"
        assert (
            flaky.delay is not None and deps.webhook_retry_base / 2 <= flaky.delay <= deps.webhook_retry_base
        )
        assert isinstance(slow, RetryLater) and str(slow) == f"no answer within {TIMEOUT:g} s"
        assert isinstance(gone, PermanentFailure)
        assert str(gone) == "the receiver answered 410: refused for good (not retried)"
        assert isinstance(no_event, PermanentFailure) and str(no_event) == "the job carries no event id"

        async def listed(n: str) -> tuple[Any, ...]:
            return _row(await hooks.deliveries(provider=lenders[n][0]))

        assert await listed("ok") == ("delivered", 1, 200, None)
        assert await listed("flaky") == ("pending", 1, 500, "the receiver answered 500")
        assert await listed("gone") == ("failed", 1, 410, str(gone))
        assert await listed("slow") == ("pending", 1, None, str(slow))
        assert await listed("held") == ("skipped", 0, None, "the provider is suspended")
        assert await listed("ghost") == ("skipped", 0, None, "no such provider")
        [got] = hooks.receiver.got[name["ok"]]
        assert check_caas(
            got.body,
            got.headers["x-caas-signature"],
            got.headers["x-caas-timestamp"],
            lenders["ok"][1],
            int(time.time()),
        ).ok
        assert got.json["id"] == str(jobs[0].event_id)
        assert hooks.receiver.got[name["held"]] == [] and hooks.receiver.got[name["ghost"]] == []

        # The same jobs run again (a worker died before marking them): the settled ones send nothing.
        hooks.receiver.stall.discard(name["slow"])
        again = await deliver_provider_webhooks(
            deps, store, [replace(j, attempts=j.attempts + 1) for j in jobs[:5]], concurrency=4
        )
        assert [None if o is None else str(o) for o in again] == [None, None, str(gone), None, None]
        assert isinstance(again[2], PermanentFailure)
        assert [len(hooks.receiver.got[name[n]]) for n in NAMES[:5]] == [1, 2, 1, 2, 0]
        assert await listed("flaky") == ("delivered", 2, 200, None)
        assert await listed("slow") == ("delivered", 2, 200, None)
    finally:
        await sender.aclose()
        await _settle(hooks.db, jobs[:6])


class _Counting:
    """A sender that counts the POSTs in flight at once."""

    def __init__(self, inner: WebhookSender) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await anyio.sleep(0.1)
            return await self.inner.post(url, body, headers)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


async def test_a_batch_sends_side_by_side_but_no_more_than_its_concurrency_at_once(hooks: Hooks) -> None:
    lenders = [await hooks.lender() for _ in range(3)]
    await hooks.invite()
    jobs = await _invitation_jobs(hooks.db, hooks.runtime, [p for p, _, _ in lenders])
    counting = _Counting(hooks.runtime.deps.marketplace.sender)
    deps = replace(hooks.runtime.deps.marketplace, sender=counting)
    assert hooks.runtime.core_pool is not None
    store = PgWebhookDeliveries(hooks.runtime.core_pool)
    try:
        outcomes = await deliver_provider_webhooks(deps, store, jobs, concurrency=2)
    finally:
        await _settle(hooks.db, jobs)

    assert outcomes == [None, None, None]
    assert counting.most == 2
    assert [len(hooks.receiver.got[n]) for _, _, n in lenders] == [1, 1, 1]


class _Unwritable:
    """The deliveries of the Postgres store, whose batch write fails (the database went away)."""

    def __init__(self, inner: PgWebhookDeliveries) -> None:
        self.inner = inner

    async def by_jobs(self, job_ids: Sequence[int]) -> dict[int, DeliveryRecord]:
        return await self.inner.by_jobs(job_ids)

    async def record_many(self, results: Sequence[tuple[int, AttemptResult]]) -> None:
        raise ConnectionResetError("the database went away")


async def test_a_failed_write_ends_only_the_jobs_it_had_to_store(hooks: Hooks) -> None:
    lenders = [await hooks.lender() for _ in range(2)]
    await hooks.invite()
    settled, fresh = await _invitation_jobs(hooks.db, hooks.runtime, [p for p, _, _ in lenders])
    assert hooks.runtime.core_pool is not None
    store = PgWebhookDeliveries(hooks.runtime.core_pool)
    deps = hooks.runtime.deps.marketplace
    try:
        assert await deliver_provider_webhooks(deps, store, [settled], concurrency=2) == [None]
        rerun = replace(settled, attempts=settled.attempts + 1)
        outcomes = await deliver_provider_webhooks(deps, _Unwritable(store), [rerun, fresh], concurrency=2)
    finally:
        await _settle(hooks.db, [settled, fresh])

    assert outcomes[0] is None
    assert isinstance(outcomes[1], ConnectionResetError)
    # Sent but not stored: its job is attempted again (at least once); the settled one was not re-sent.
    assert [len(hooks.receiver.got[n]) for _, _, n in lenders] == [1, 1]
    assert _row(await hooks.deliveries(provider=lenders[1][0]))[:2] == ("pending", 0)
