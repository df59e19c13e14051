"""The Supabase sync through PostgREST: supabase-py's async client against a real loopback double
of PostgREST that runs each request against the Supabase test database; and which writer the
runtime picks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adapters.notifications.supabase_sync import PgStatusMirror, PostgrestStatusMirror
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from mcp_servers.supabase_wiring import status_mirror
from tests.helpers.postgrest_double import DOUBLE_KEY, PostgrestDouble
from tests.helpers.supabase import STEPS, Journey, MirrorOnly, feed, job, mirror_row
from tools.notifications.ports import Applied
from tools.notifications.supabase_sync import sync_event
from tools.platform.jobs import Job, RetryLater


def comparable(row: asyncpg.Record | None) -> dict[str, Any]:
    assert row is not None
    ignored = {
        "application_id",
        "reference",
        "borrower_id",
        "loan_id",
        "last_event_id",
        "last_event_at",
        "updated_at",
    }
    return {k: v for k, v in dict(row).items() if k not in ignored}


async def test_the_postgrest_writer_leaves_the_same_mirror_as_direct_postgres(
    runtime: Runtime, supa, postgrest: PostgrestDouble, rest_mirror: PostgrestStatusMirror
) -> None:
    rest, direct = Journey(), Journey()
    for journey, mirror in ((rest, rest_mirror), (direct, runtime.deps.notifications.mirror)):
        deps = MirrorOnly(mirror)
        doc = uuid.uuid5(journey.app_id, "doc")
        events = [getattr(journey, family)(*args) for family, args, _ in STEPS]
        events[3:3] = [journey.document(doc, "pending"), journey.document(doc, "verified")]
        jobs = [job(seq, event) for seq, event in enumerate(events, start=1)]
        for each in jobs:
            await sync_event(deps, each)
        # A redelivered job and an older event change no row, through either writer (the older
        # event is still a fact of the borrower's history: it gets its line in the feed).
        await sync_event(deps, jobs[-1])
        await sync_event(deps, job(2, journey.application("withdrawn")))
    assert comparable(await mirror_row(supa, rest.app_id)) == comparable(
        await mirror_row(supa, direct.app_id)
    )
    assert (await mirror_row(supa, rest.app_id))["progress_percent"] == 100  # type: ignore[index]
    assert len(await feed(supa, rest.app_id)) == len(STEPS) + 3 == len(await feed(supa, direct.app_id))
    doc_rows = await supa.fetch(
        "SELECT application_id, user_id, kind, status FROM public.document_uploads"
        " WHERE application_id = ANY($1)",
        [rest.app_id, direct.app_id],
    )
    assert sorted((r["status"], r["kind"]) for r in doc_rows) == [("verified", "national_id")] * 2
    assert {r["user_id"] for r in doc_rows} == {rest.borrower, direct.borrower}


async def test_the_postgrest_writer_sends_keyed_conditional_requests_with_the_service_key(
    supa, postgrest: PostgrestDouble, rest_mirror: PostgrestStatusMirror
) -> None:
    deps = MirrorOnly(rest_mirror)
    j = Journey()
    await sync_event(deps, job(1, j.application("submitted")))
    await sync_event(deps, job(2, j.application("open_for_bids")))
    await sync_event(deps, job(3, j.loan("originated", "pending_disbursement")))
    status = postgrest.requests_to("application_status")
    first, second = status[0], status[1]
    assert first.method == "POST" and ("on_conflict", "application_id") in first.params
    assert "resolution=ignore-duplicates" in first.headers["prefer"]
    assert first.body[0]["requested_amount"] == "250000.00"  # a JSON array (bulk); money as a string
    assert [r.method for r in status[1:3]] == ["POST", "PATCH"]  # insert ignored, then moved forward
    patch = status[2]
    assert ("application_id", f"eq.{j.app_id}") in patch.params and ("last_sequence", "lt.2") in patch.params
    assert patch.body["status"] == "open_for_bids" and patch.body["progress_percent"] == 45
    loan_patch = status[3]
    assert loan_patch.method == "PATCH" and ("last_sequence", "lt.3") in loan_patch.params
    assert loan_patch.body["loan_status"] == "pending_disbursement" and "status" not in loan_patch.body
    assert all(
        r.headers["apikey"] == DOUBLE_KEY and r.headers["authorization"] == f"Bearer {DOUBLE_KEY}"
        for r in postgrest.seen
    )
    activities = postgrest.requests_to("user_activities")
    assert all(("on_conflict", "event_id") in r.params for r in activities) and len(activities) == 3
    assert second.method == "POST"


async def test_postgrest_being_down_makes_the_job_retry_and_a_retry_completes_it(
    supa, postgrest: PostgrestDouble, rest_mirror: PostgrestStatusMirror
) -> None:
    deps = MirrorOnly(rest_mirror)
    j = Journey()
    submitted = job(1, j.application("submitted"))
    postgrest.down = True
    with pytest.raises(RetryLater):
        await sync_event(deps, submitted)
    assert await mirror_row(supa, j.app_id) is None
    postgrest.down = False
    assert (await sync_event(deps, submitted)).status == Applied.APPLIED
    assert (await sync_event(deps, submitted)).status == Applied.STALE
    assert await feed(supa, j.app_id) == ["application.submitted"]


async def test_a_postgrest_that_refuses_the_key_is_a_retry_not_a_crash(
    supa, postgrest: PostgrestDouble
) -> None:
    wrong = PostgrestStatusMirror(postgrest.url, "not-the-key", timeout=10)
    try:
        with pytest.raises(RetryLater) as refused:
            await sync_event(MirrorOnly(wrong), job(1, Journey().application("submitted")))
    finally:
        await wrong.aclose()
    assert "PGRST301" in str(refused.value)


async def test_the_writer_is_chosen_by_which_supabase_settings_are_set(tmp_path, runtime: Runtime) -> None:
    assert runtime.supabase_pool is not None
    pool = runtime.supabase_pool
    base = {"data_dir": tmp_path}
    core = "postgresql://caas@127.0.0.1:5432/core"
    rest = {"supabase_url": "https://project.supabase.co", "supabase_service_role_key": DOUBLE_KEY}
    cases = [
        ({}, PgStatusMirror),  # embedded: the second database
        ({"database_url": core, **rest}, PostgrestStatusMirror),
        (
            {"database_url": core, "supabase_db_url": "postgresql://postgres@127.0.0.1:5432/sb", **rest},
            PgStatusMirror,
        ),
        ({"database_url": core}, PgStatusMirror),  # the Supabase tables beside the system of record
    ]
    for overrides, expected in cases:
        mirror = status_mirror(load_settings(**base, **overrides), pool)
        try:
            assert type(mirror) is expected, overrides
        finally:
            await mirror.aclose()


async def test_occurred_at_falls_back_to_when_the_event_was_queued(runtime: Runtime, supa) -> None:
    j = Journey()
    event_type, payload = j.application("submitted")
    payload.pop("occurred_at")
    queued = datetime.now(UTC) - timedelta(minutes=3)
    late = Job(1, "supabase_sync", None, uuid.uuid4(), event_type, payload, 0, queued)
    await sync_event(runtime.deps.notifications, late)
    row = await mirror_row(supa, j.app_id)
    assert row is not None and row["last_event_at"] == queued
