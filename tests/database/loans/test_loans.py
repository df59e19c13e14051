"""The loan writer's changes each in one statement (issue 14): a move with its timeline entry, audit
row and event, an update, each returning the loan as the reader then reads it; in a transaction rolled
back at the end."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.loans.loans import PgLoanReader, PgLoanWriter
from database.marketplace.providers import PgProviderReader
from mcp_servers.runtime import Runtime
from tests.helpers.payments import pending_loan
from tests.helpers.statements import Counted
from tools.loans.domain.loans import LoanChanges
from tools.loans.loans import loan_event
from tools.loans.ports import LoanBook
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def test_a_move_writes_its_timeline_entry_audit_row_and_event_and_returns_the_loan_in_one_statement(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    loan_id = uuid.UUID(loan["id"])
    tx = core_db.transaction()
    await tx.start()
    try:
        counted = Counted(core_db)
        writer = PgLoanWriter(counted)  # type: ignore[arg-type]
        before = await writer.lock(loan["id"])
        assert before is not None and counted.sent == 1
        actor = Principal(f"op-{uuid.uuid4().hex[:6]}", Role.OPERATOR)
        changes = LoanChanges(
            disbursement_reference=f"ref-{uuid.uuid4().hex[:8]}",
            disbursed_amount_minor=5,
            commission_plan={"tests": True},
        )
        call = Invocation(actor, "tests.move", "0" * 64, f"req-{uuid.uuid4().hex[:8]}", "10.0.0.1")
        moved = await writer.move(before, "active", call, "paid out", changes)
        assert counted.sent == 2
        assert (moved.status, moved.disbursement_reference, moved.disbursed_amount_minor) == (
            "active",
            changes.disbursement_reference,
            5,
        )
        assert moved.disbursed_at is not None and moved.version == before.version + 1
        assert moved.application_reference == before.application_reference
        assert await writer.lock(str(loan_id)) == moved
        entries = await core_db.fetch(
            "SELECT from_status, to_status, actor_id, actor_role, reason FROM caas_core.loan_transitions "
            "WHERE loan_id = $1 ORDER BY id",
            loan_id,
        )
        assert tuple(entries[-1]) == ("pending_disbursement", "active", actor.subject, "operator", "paid out")
        audited = await core_db.fetch(
            "SELECT principal_id, tool, object_type, outcome, request_id, host(client_ip) AS ip "
            "FROM caas_audit.audit_log WHERE object_id = $1",
            str(loan_id),
        )
        assert [tuple(r) for r in audited if r["tool"] == call.tool] == [
            (actor.subject, call.tool, "loan", "succeeded", call.request_id, "10.0.0.1")
        ]
        event = await core_db.fetchrow(
            "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
            "WHERE aggregate_id = $1 ORDER BY id DESC LIMIT 1",
            str(loan_id),
        )
        expected = loan_event(moved, "active", "paid out", "pending_disbursement")
        assert tuple(event) == (
            expected.aggregate_type,
            expected.aggregate_id,
            expected.event_type,
            expected.payload,
        )
        counted.sent = 0
        updated = await writer.update(loan_id, LoanChanges(days_past_due=3))
        assert counted.sent == 1 and updated.days_past_due == 3 and updated.version == moved.version + 1
        assert await writer.lock(str(loan_id)) == updated
    finally:
        await tx.rollback()
    assert (await PgLoanReader(runtime.core_pool).get(loan["id"])).status == "pending_disbursement"  # type: ignore[arg-type,union-attr]


async def test_details_are_the_installments_and_the_timeline_in_one_statement(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    loan_id = uuid.UUID(loan["id"])
    reader = PgLoanReader(runtime.core_pool)  # type: ignore[arg-type]
    installments, timeline = await reader.details(loan_id)
    assert installments == await reader.installments(loan_id) and len(installments) == loan["installments"]
    assert [i.number for i in installments] == list(range(1, len(installments) + 1))
    assert timeline == await reader.timeline(loan_id) and timeline[0].to_status == "pending_disbursement"
    assert await reader.details(uuid.uuid4()) == ([], [])


async def test_the_lender_is_the_provider_and_its_book_in_one_statement(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await pending_loan(client, principal, runtime, core_db)
    provider_id = uuid.UUID(provider["id"])
    counted = Counted(core_db)
    found = await PgLoanWriter(counted).lender(provider_id)  # type: ignore[arg-type]
    assert counted.sent == 1 and found is not None
    lender, book = found
    assert lender == await PgProviderReader(runtime.core_pool).get(provider_id)  # type: ignore[arg-type]
    assert book == await PgLoanReader(runtime.core_pool).book(provider_id)  # type: ignore[arg-type]
    assert book.loans == 0  # its one loan is still pending disbursement
    tx = core_db.transaction()
    await tx.start()
    try:
        await core_db.execute(
            "UPDATE caas_core.loans SET status = 'defaulted', defaulted_at = now(), disbursed_at = now(), "
            "disbursement_reference = 'ref-lender', disbursed_amount_minor = 1, commission_plan = '{}' "
            "WHERE id = $1",
            uuid.UUID(loan["id"]),
        )
        again = await PgLoanWriter(core_db).lender(provider_id)
        assert again is not None and again[1] == LoanBook(loans=1, defaulted=1)
    finally:
        await tx.rollback()
    assert await PgLoanWriter(core_db).lender(uuid.uuid4()) is None
