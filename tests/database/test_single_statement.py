"""A change written by one statement (issue 14 part 2): a new application with its timeline entry, audit
row and outbox event in one INSERT, with no transaction around it, and still all or nothing; a
transition with its audit row and events in its UPDATE; the events built in SQL are the ones
``status_event`` builds in Python from the stored row, in the same order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from database.platform.audit import iso_timestamp_sql
from database.unit_of_work import PgUnitOfWork, pg_unit_of_work
from mcp_servers.runtime import Runtime
from tests.helpers.common import application
from tools.credit.applications import draft_application, submit_application
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import status_event, transition
from tools.credit.models.applications import DraftApplication, SubmitApplication
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal, Role


def _call(args_sha256: str = "a" * 64) -> Invocation:
    return Invocation(
        Principal("agent-single", Role.AGENT), "credit_submit_application", args_sha256, "req-1"
    )


async def _stored_event(core_db: asyncpg.Connection, app_id: uuid.UUID) -> asyncpg.Record:
    row = await core_db.fetchrow(
        "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
        "WHERE aggregate_id = $1",
        str(app_id),
    )
    assert row is not None
    return row


@pytest.mark.parametrize("kind", ["submitted", "draft"])
async def test_a_new_application_is_written_with_its_audit_row_and_the_event_python_would_build(
    runtime: Runtime, core_db: asyncpg.Connection, kind: str
) -> None:
    borrower = f"b-{uuid.uuid4().hex[:8]}"
    if kind == "submitted":
        cmd = SubmitApplication.model_validate(application(borrower_id=borrower))
        view = await submit_application(runtime.deps.credit, _call(), cmd)
    else:
        draft = DraftApplication.model_validate(application(borrower_id=borrower))
        view = await draft_application(runtime.deps.credit, _call(), draft)
    stored = await runtime.deps.credit.applications.get(str(view.id))
    assert stored is not None and stored.status == kind
    expected = status_event(stored, None, "submitted" if kind == "submitted" else "draft saved")
    event = await _stored_event(core_db, stored.id)
    assert (event["aggregate_type"], event["aggregate_id"], event["event_type"]) == (
        expected.aggregate_type,
        expected.aggregate_id,
        expected.event_type,
    )
    assert event["payload"] == expected.payload
    audit = await core_db.fetch(
        "SELECT principal_id, principal_role, tool, object_type, args_sha256, outcome, request_id "
        "FROM caas_audit.audit_log WHERE object_id = $1",
        str(stored.id),
    )
    assert [tuple(r) for r in audit] == [
        ("agent-single", "agent", "credit_submit_application", "application", "a" * 64, "succeeded", "req-1")
    ]
    entries = await runtime.deps.credit.applications.timeline(stored.id)
    assert [(e.from_status, e.to_status) for e in entries] == [(None, kind)]


async def test_the_one_statement_is_all_or_nothing_without_a_transaction(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    borrower = f"b-{uuid.uuid4().hex[:8]}"
    cmd = SubmitApplication.model_validate(application(borrower_id=borrower))
    # The audit row breaks its CHECK: the application inserted earlier in the statement goes with it.
    with pytest.raises(asyncpg.CheckViolationError):
        await submit_application(runtime.deps.credit, _call(args_sha256="not-a-digest"), cmd)
    assert (
        await core_db.fetchval("SELECT count(*) FROM caas_core.applications WHERE borrower_id = $1", borrower)
        == 0
    )


@pytest.mark.parametrize("to", [ApplicationStatus.UNDER_REVIEW, ApplicationStatus.WITHDRAWN])
async def test_a_transition_writes_its_audit_row_and_events_in_order_as_before(
    runtime: Runtime, core_db: asyncpg.Connection, to: ApplicationStatus
) -> None:
    borrower = f"b-{uuid.uuid4().hex[:8]}"
    cmd = SubmitApplication.model_validate(application(borrower_id=borrower))
    view = await submit_application(runtime.deps.credit, _call(), cmd)
    extra = [OutboxEvent("risk", str(view.id), f"test.extra.{n}", {"n": n}) for n in range(3)]
    async with runtime.deps.credit.uow() as uow:
        stored = await uow.applications.lock(str(view.id))
        assert stored is not None
        # Under review: folded into the move's statement; withdrawn ends bidding and records apart.
        moved = await transition(uow, _call("b" * 64), stored, to, "checking", extra)
    rows = await core_db.fetch(
        "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
        "WHERE aggregate_id = $1 ORDER BY id",
        str(view.id),
    )
    expected = [status_event(moved, "submitted", "checking"), *extra]
    assert [tuple(r) for r in rows[1:]] == [
        (e.aggregate_type, e.aggregate_id, e.event_type, e.payload) for e in expected
    ]
    audit = await core_db.fetch(
        "SELECT args_sha256, object_type FROM caas_audit.audit_log WHERE object_id = $1 ORDER BY id",
        str(view.id),
    )
    assert [tuple(r) for r in audit] == [("a" * 64, "application"), ("b" * 64, "application")]


def _in_transaction(uow: PgUnitOfWork) -> bool:
    return bool(uow._conn._conn.is_in_transaction())  # type: ignore[attr-defined]


@pytest.mark.parametrize("pooled", [False, True])
async def test_a_single_statement_block_runs_one_statement_in_a_transaction_only_through_a_pooler(
    runtime: Runtime, pooled: bool
) -> None:
    assert runtime.core_pool is not None
    uow = pg_unit_of_work(runtime.core_pool, pooled=pooled)
    with pytest.raises(AssertionError, match="second statement"):
        async with uow(single_statement=True) as u:
            assert await u._conn.fetchval("SELECT 1") == 1
            # Through a transaction pooler the statement keeps its transaction: prepared on one server
            # connection and run on another it would fail; directly it needs none.
            assert _in_transaction(u) is pooled
            await u._conn.execute("SELECT 2")


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 12, 6, 0, 11, 24, 123400, tzinfo=UTC),
        datetime(2026, 12, 6, 0, 11, 24, tzinfo=UTC),
        datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ],
)
async def test_timestamps_in_sql_events_read_as_pythons_isoformat(
    core_db: asyncpg.Connection, at: datetime
) -> None:
    # The session's time zone must not matter: the string is always UTC.
    await core_db.execute("SET TIME ZONE 'America/Lima'")
    assert await core_db.fetchval(f"SELECT {iso_timestamp_sql('$1::timestamptz')}", at) == at.isoformat()
