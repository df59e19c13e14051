"""The Supabase sync through direct Postgres (the runtime's default writer): outbox events through
the ``supabase_sync`` queue into the mirror, in order, idempotently, surviving a crash mid-job."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import active_loan
from tests.helpers.supabase import STEPS, Journey, MirrorOnly, emit, feed, job, mirror_row
from tools.notifications.ports import Applied, MirrorEvent, MirrorUnavailable, StatusMirror, SyncResult
from tools.notifications.supabase_sync import sync_event, sync_handler
from tools.platform.jobs import LEASE, PermanentFailure, relay_outbox, run_queue


async def test_drained_events_move_the_mirror_forward_step_by_step_with_their_progress(
    runtime: Runtime, core_db, supa
) -> None:
    j = Journey()
    seen: list[tuple[str, str | None, str | None, int]] = []
    for family, args, _ in STEPS:
        await emit(core_db, getattr(j, family)(*args))
        await runtime.workers.drain()
        row = await mirror_row(supa, j.app_id)
        assert row is not None
        seen.append((row["status"], row["loan_status"], row["payment_status"], row["progress_percent"]))
    assert [s[3] for s in seen] == [p for _, _, p in STEPS]
    assert seen[-1] == ("disbursed", "closed", "collection_succeeded", 100)
    assert seen[0][0] == "draft" and seen[6] == ("approved", "pending_disbursement", None, 80)
    assert seen[7][2] == "disbursement_sent"


async def test_a_backlog_drained_at_once_lands_in_event_order(runtime: Runtime, core_db, supa) -> None:
    j = Journey()
    written = [getattr(j, family)(*args) for family, args, _ in STEPS]
    event_ids = [await emit(core_db, e) for e in written]
    await runtime.workers.drain()
    row = await mirror_row(supa, j.app_id)
    assert row is not None
    assert (row["status"], row["loan_status"], row["progress_percent"]) == ("disbursed", "closed", 100)
    assert row["last_event_id"] == event_ids[-1] and row["last_event_type"] == "loan.repayment_recorded"
    last_job = await core_db.fetchval(
        "SELECT max(id) FROM caas_core.jobs WHERE queue = 'supabase_sync' AND ordering_key = $1",
        f"application:{j.app_id}",
    )
    assert row["last_sequence"] == last_job
    assert await feed(supa, j.app_id) == [t for t, _ in written]
    detail = await supa.fetchval(
        "SELECT detail FROM public.user_activities WHERE event_id = $1", event_ids[1]
    )
    assert "reason" not in detail and '"status": "submitted"' in detail
    assert await supa.fetchval("SELECT count(*) FROM public.user_profiles WHERE id = $1", j.borrower) == 1


async def test_documents_are_mirrored_for_the_applications_borrower(runtime: Runtime, core_db, supa) -> None:
    j = Journey()
    doc = uuid.uuid4()
    for event in (j.application("submitted"), j.document(doc, "pending"), j.document(doc, "verified")):
        await emit(core_db, event)
    await runtime.workers.drain()
    row = await supa.fetchrow("SELECT * FROM public.document_uploads WHERE id = $1", doc)
    assert row is not None
    assert (row["user_id"], row["application_id"], row["kind"], row["status"]) == (
        j.borrower,
        j.app_id,
        "national_id",
        "verified",
    )
    assert await feed(supa, j.app_id) == ["application.submitted", "document.registered", "document.verified"]


async def test_a_loan_made_through_the_tools_shows_in_the_borrowers_mirror(
    client, principal, runtime: Runtime, core_db, supa
) -> None:
    loan, _provider = await active_loan(client, principal, runtime, core_db)
    app_id = uuid.UUID(loan["application_id"])
    await runtime.workers.drain()
    row = await mirror_row(supa, app_id)
    assert row is not None
    assert (row["status"], row["loan_status"], row["progress_percent"]) == ("disbursed", "active", 90)
    assert row["loan_id"] == uuid.UUID(loan["id"]) and row["borrower_id"] == loan["borrower_id"]
    assert await feed(supa, app_id) == [
        "application.submitted",
        "loan.originated",
        "application.disbursed",
        "loan.active",
    ]


async def test_a_redelivered_or_older_event_never_moves_the_mirror_back(runtime: Runtime, supa) -> None:
    deps = runtime.deps.notifications
    j = Journey()
    submitted = job(10, j.application("submitted"))
    approved = job(20, j.application("approved"))
    assert (await sync_event(deps, submitted)).status == Applied.APPLIED
    assert (await sync_event(deps, approved)).status == Applied.APPLIED
    again = await sync_event(deps, approved)
    assert again.status == Applied.STALE and again.activity is False
    older = await sync_event(deps, job(15, j.application("under_review")))
    assert older.status == Applied.STALE
    late_loan = await sync_event(deps, job(5, j.loan("originated", "pending_disbursement")))
    assert late_loan.status == Applied.STALE
    row = await mirror_row(supa, j.app_id)
    assert row is not None
    assert (row["status"], row["progress_percent"], row["loan_status"], row["last_sequence"]) == (
        "approved",
        75,
        None,
        20,
    )


async def test_a_loan_event_for_an_application_never_mirrored_changes_nothing(runtime: Runtime, supa) -> None:
    j = Journey()
    result = await sync_event(runtime.deps.notifications, job(7, j.loan("active", "active")))
    assert result.status == Applied.MISSING
    assert await mirror_row(supa, j.app_id) is None


class CrashAfterStatus:
    """The real writer, except that the first batch holding one application writes its statuses and
    crashes before the rest (``kill``: the worker itself dies; else the connection to Supabase is
    lost, which the writer reports as ``MirrorUnavailable``)."""

    def __init__(self, inner: StatusMirror, app_id: uuid.UUID, kill: bool) -> None:
        self.inner = inner
        self.app_id = app_id
        self.kill = kill
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def apply_events(self, events: Sequence[MirrorEvent]) -> list[SyncResult]:
        if self.crashed or all(e.application_id != self.app_id for e in events):
            return await self.inner.apply_events(events)
        self.crashed = True
        for e in events:
            if e.status is not None:
                await self.inner.apply_status(e.status)
        raise Killed() if self.kill else MirrorUnavailable("ConnectionResetError")


class Killed(BaseException):
    """What a worker process dying looks like from inside it: nothing below catches it."""


@pytest.mark.parametrize("kill", [False, True], ids=["handler-fails", "worker-dies"])
async def test_a_job_that_crashes_midway_is_run_again_and_ends_right(
    runtime: Runtime, core_db, supa, kill: bool, clock: MovableClock
) -> None:
    assert runtime.core_pool is not None
    store = PgJobStore(runtime.core_pool)
    j = Journey()
    event_id = await emit(core_db, j.application("submitted"))
    await relay_outbox(store)
    crashing = CrashAfterStatus(runtime.deps.notifications.mirror, j.app_id, kill)
    handler = sync_handler(MirrorOnly(crashing))

    async def until_crashed() -> None:
        # Jobs earlier tests left due come first in the queue: run batches until this one is reached.
        while not crashing.crashed and await run_queue(store, "supabase_sync", handler, clock=clock):
            pass

    if kill:
        with pytest.raises(Killed):
            await until_crashed()
    else:
        await until_crashed()
    assert crashing.crashed
    row = await mirror_row(supa, j.app_id)
    assert row is not None and row["status"] == "submitted"  # the status write had committed
    assert await feed(supa, j.app_id) == []
    pending = await core_db.fetchrow(
        "SELECT attempts, done_at, failed_at, leased_by IS NOT NULL AS leased FROM caas_core.jobs"
        " WHERE queue = 'supabase_sync' AND event_id = $1",
        event_id,
    )
    # Either way the attempt counted. A failed handler's job waits its backoff; a dead worker's job
    # stays leased to it until the lease runs out (migration 0024), then another worker reclaims it.
    assert (pending["attempts"], pending["done_at"], pending["failed_at"]) == (1, None, None)
    assert pending["leased"] is kill
    # Past the first retry's backoff (at most the queue's 1 s base), or past the dead worker's lease.
    clock.move(seconds=LEASE.total_seconds() + 1 if kill else 1)
    await runtime.workers.drain()
    assert await feed(supa, j.app_id) == ["application.submitted"]
    row = await mirror_row(supa, j.app_id)
    assert row is not None and (row["status"], row["progress_percent"]) == ("submitted", 20)
    assert await core_db.fetchval(
        "SELECT done_at IS NOT NULL FROM caas_core.jobs WHERE queue = 'supabase_sync' AND event_id = $1",
        event_id,
    )


async def test_the_sync_lag_is_a_prometheus_metric(runtime: Runtime, core_db) -> None:
    await emit(core_db, Journey().application("submitted"))
    await runtime.workers.drain()
    lag = REGISTRY.get_sample_value("caas_supabase_sync_lag_seconds")
    assert lag is not None and lag >= 0
    assert b"caas_supabase_sync_lag_seconds" in generate_latest()


async def test_every_failed_sync_attempt_of_the_runtimes_worker_is_counted(runtime: Runtime) -> None:
    handler = runtime.workers.handlers["supabase_sync"]
    before = REGISTRY.get_sample_value("caas_supabase_sync_failures_total") or 0.0
    broken = job(1, Journey().application("submitted"))
    with pytest.raises(PermanentFailure):  # no reference: a malformed event fails for good
        await handler(replace(broken, payload={**broken.payload, "reference": None}))
    assert REGISTRY.get_sample_value("caas_supabase_sync_failures_total") == before + 1
