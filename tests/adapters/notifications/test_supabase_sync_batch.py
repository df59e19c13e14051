"""The Supabase sync of a whole claimed batch (one event per application) through either writer: the
same rows and outcomes as the events applied one by one, in one statement (Postgres) or one request
per table for its inserts (PostgREST), and a row the mirror refuses failing only its own job."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from adapters.notifications.supabase_sync import PgStatusMirror, PostgrestStatusMirror
from mcp_servers.runtime import Runtime
from tests.helpers.postgrest_double import PostgrestDouble
from tests.helpers.supabase import Journey, MirrorOnly, feed, job, mirror_row
from tools.notifications.ports import Applied, StatusMirror, SyncResult
from tools.notifications.supabase_sync import mirror_event, sync_event, sync_events
from tools.platform.jobs import Job, PermanentFailure


async def three_rounds(mirror: StatusMirror, batch: bool) -> tuple[list[Journey], list[list[Any]]]:
    """Three batches of four applications (new, moved, redelivered or older), each applied as a batch
    or job by job; returns the journeys and every round's outcomes."""
    deps = MirrorOnly(mirror)
    js = [Journey() for _ in range(4)]
    doc = [uuid.uuid5(j.app_id, "doc") for j in js]
    never = Journey()  # never mirrored: its loan event finds no row
    first = [job(10, js[0].application("submitted")), job(11, js[1].application("draft", None))]
    first += [job(12, js[2].application("submitted")), job(13, never.loan("active", "active"))]
    # The payment names no borrower (the owner is read); js[3]'s document has no mirrored owner.
    second = [job(20, js[0].application("approved")), job(21, js[1].payment("disbursement", "sent"))]
    second += [job(22, js[2].document(doc[2], "pending")), job(23, js[3].document(doc[3], "pending"))]
    unknown = job(31, js[1].application("some_new_status"))  # no percentage: the row keeps its own
    older = job(5, js[2].application("withdrawn"))
    third = [second[0], unknown, older, job(32, js[3].loan("active", "active"))]
    rounds: list[list[Any]] = []
    for jobs in (first, second, third):
        if batch:
            rounds.append(await sync_events(deps, jobs))
        else:
            rounds.append([await _alone(deps, j) for j in jobs])
    return js, rounds


async def _alone(deps: MirrorOnly, j: Job) -> SyncResult | Exception:
    try:
        return await sync_event(deps, j)
    except Exception as exc:
        return exc


async def mirrored(supa: asyncpg.Connection, js: list[Journey]) -> list[Any]:
    ignored = {"application_id", "reference", "borrower_id", "loan_id", "last_event_id", "last_event_at"}
    ignored.add("updated_at")
    rows = []
    for j in js:
        row = await mirror_row(supa, j.app_id)
        rows.append(None if row is None else {k: v for k, v in dict(row).items() if k not in ignored})
        docs = await supa.fetch(
            "SELECT user_id = $2 AS owned, kind, status, last_sequence FROM public.document_uploads"
            " WHERE application_id = $1",
            j.app_id,
            j.borrower,
        )
        rows.append([dict(d) for d in docs])
        rows.append(await feed(supa, j.app_id))
    rows.append(
        await supa.fetchval(
            "SELECT count(*) FROM public.user_profiles WHERE id = ANY($1)", [j.borrower for j in js]
        )
    )
    return rows


@pytest.mark.parametrize("writer", ["postgres", "postgrest"])
async def test_a_batch_leaves_the_rows_and_outcomes_of_its_jobs_run_one_by_one(
    runtime: Runtime, supa, rest_mirror: PostgrestStatusMirror, writer: str
) -> None:
    mirror = runtime.deps.notifications.mirror if writer == "postgres" else rest_mirror
    one_by_one, alone = await three_rounds(mirror, batch=False)
    batched, together = await three_rounds(mirror, batch=True)
    assert together == alone
    s = Applied
    assert [r.status for r in together[0]] == [s.APPLIED, s.APPLIED, s.APPLIED, s.MISSING]
    assert [r.document for r in together[1]] == [None, None, s.APPLIED, s.MISSING]
    assert [(r.status, r.activity) for r in together[2]] == [
        (s.STALE, False),  # redelivered
        (s.APPLIED, True),
        (s.STALE, True),  # older: the feed still gets its line
        (s.MISSING, True),  # no row; the loan event names its borrower, whose feed shows it
    ]
    assert await mirrored(supa, batched) == await mirrored(supa, one_by_one)
    row = await mirror_row(supa, batched[1].app_id)
    assert row is not None and (row["status"], row["progress_percent"]) == ("some_new_status", 10)
    assert row["payment_status"] == "disbursement_sent" and row["last_sequence"] == 31


async def test_postgrest_takes_one_insert_per_table_for_the_whole_batch(
    supa, postgrest: PostgrestDouble, rest_mirror: PostgrestStatusMirror
) -> None:
    js = [Journey() for _ in range(5)]
    results = await sync_events(
        MirrorOnly(rest_mirror), [job(i, j.application("submitted")) for i, j in enumerate(js)]
    )
    assert all(r == SyncResult(Applied.APPLIED, None, True) for r in results)
    assert [(r.method, r.table, len(r.body)) for r in postgrest.seen] == [
        ("POST", "application_status", 5),
        ("POST", "user_profiles", 5),
        ("POST", "user_activities", 5),
    ]
    postgrest.seen.clear()
    moved = await sync_events(
        MirrorOnly(rest_mirror), [job(10 + i, j.loan("active", "active")) for i, j in enumerate(js)]
    )
    assert all(r == SyncResult(Applied.APPLIED, None, True) for r in moved)
    # A row already there is moved by its own PATCH (one set of values each); the feed shares one insert.
    methods = sorted((r.method, r.table) for r in postgrest.seen)
    assert methods == [("PATCH", "application_status")] * 5 + [("POST", "user_activities")]
    for j in js:
        row = await mirror_row(supa, j.app_id)
        assert row is not None and row["loan_status"] == "active"


async def test_a_row_postgres_refuses_fails_only_its_own_job(runtime: Runtime, supa) -> None:
    deps = MirrorOnly(runtime.deps.notifications.mirror)
    good, bad = Journey(), Journey()
    refused = job(2, bad.application("submitted"))
    refused = replace(refused, payload={**refused.payload, "currency": "NGNX"})  # char(3): too long
    unusable = job(3, Journey().application("submitted"))
    unusable = replace(unusable, payload={**unusable.payload, "reference": None})
    outcomes = await sync_events(deps, [job(1, good.application("submitted")), refused, unusable])
    assert outcomes[0] == SyncResult(Applied.APPLIED, None, True)
    assert isinstance(outcomes[1], asyncpg.StringDataRightTruncationError)
    assert isinstance(outcomes[2], PermanentFailure)
    assert await feed(supa, good.app_id) == ["application.submitted"]
    assert await mirror_row(supa, bad.app_id) is None


async def test_a_refused_write_leaves_the_connection_clean_and_in_its_own_role(runtime: Runtime) -> None:
    assert runtime.targets is not None
    pool = await asyncpg.create_pool(runtime.targets.supabase, min_size=1, max_size=1)
    try:
        mirror = PgStatusMirror(pool)
        refused = job(1, Journey().application("submitted"))
        refused = replace(refused, payload={**refused.payload, "currency": "NGNX"})
        with pytest.raises(asyncpg.StringDataRightTruncationError):
            await mirror.apply_events([mirror_event(refused)])
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_user") != "service_role"
        [done] = await mirror.apply_events([mirror_event(job(2, Journey().application("submitted")))])
        assert done == SyncResult(Applied.APPLIED, None, True)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_user") != "service_role"
    finally:
        await pool.close()
