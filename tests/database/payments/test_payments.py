"""The payment writer's final move in one statement with its audit row and event, and the lock of a
payment's loan found by the payment (issue 14), in a transaction rolled back at the end."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.loans.loans import PgLoanWriter
from database.payments.payments import PgPaymentReader, PgPaymentWriter
from mcp_servers.runtime import Runtime
from tests.helpers.payments import pending_loan
from tests.helpers.statements import Counted
from tools.payments.ports import NewPayment
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal, Role


async def test_a_settled_payment_writes_its_audit_row_and_event_in_one_statement(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    tx = core_db.transaction()
    await tx.start()
    try:
        writer = PgPaymentWriter(core_db)
        loan_id = uuid.UUID(loan["id"])
        currency = await core_db.fetchval("SELECT currency FROM caas_core.loans WHERE id = $1", loan_id)
        new = NewPayment(
            kind="disbursement",
            loan_id=loan_id,
            amount_minor=500,
            currency=currency,
            simulated=True,
            simulate_outcome=None,
            requested_by="tests",
        )
        payment = await writer.insert(new)
        counted = Counted(core_db)
        call = Invocation(
            Principal("webhook:tests", Role.SERVICE), "webhooks.tests", "1" * 64, "req-settle", "10.0.0.2"
        )
        event = OutboxEvent("payment", str(payment.id), "payment.failed", {"status": "failed", "n": 1})
        moved = await PgPaymentWriter(counted).settle(  # type: ignore[arg-type]
            payment.id, "failed", "declined", call, event
        )
        assert counted.sent == 1
        assert (moved.status, moved.last_error) == ("failed", "declined")
        assert moved.settled_at is not None and moved.sent_at is not None
        assert moved == await writer.get(payment.id)
        counted.sent = 0
        loans = PgLoanWriter(counted)  # type: ignore[arg-type]
        assert await loans.lock_by_payment(payment.id) == await PgLoanWriter(core_db).lock(loan["id"])
        assert counted.sent == 1 and await loans.lock_by_payment(uuid.uuid4()) is None
        audited = await core_db.fetch(
            "SELECT principal_id, tool, object_type, outcome, request_id, host(client_ip) AS ip "
            "FROM caas_audit.audit_log WHERE object_id = $1",
            str(payment.id),
        )
        assert [tuple(r) for r in audited] == [
            ("webhook:tests", "webhooks.tests", "payment", "succeeded", "req-settle", "10.0.0.2")
        ]
        stored = await core_db.fetch(
            "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
            "WHERE aggregate_id = $1",
            str(payment.id),
        )
        assert [tuple(r) for r in stored] == [
            (event.aggregate_type, event.aggregate_id, event.event_type, event.payload)
        ]
    finally:
        await tx.rollback()
    assert await PgPaymentReader(runtime.core_pool).get(payment.id) is None  # type: ignore[arg-type]
