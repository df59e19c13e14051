"""The statements of one payment webhook (issue 14): a transfer.success that activates its loan is
14 statements in one transaction, among them its inbox row written and concluded, its audit rows and
events, and the lender's withheld fee written with COMMIT; the effect's savepoint is not released
(COMMIT does it) and a refused effect still rolls back to it, leaving the payment's move and the inbox
row's reason."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
import pytest
from asyncpg.connection import Connection
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.loans import active_loan
from tests.helpers.payments import disburse, loan_status, pending_loan, row, send
from tools.payments.domain.payments import GatewayEvent
from tools.payments.vendor_events import receive_gateway_event

# Set only around the call whose statements are counted: the background workers and live readers of
# the test's runtime run in tasks started before it, which keep their own value (False), so a relay's
# or a reader's statement sent meanwhile is not counted (it once was, and made 15 of 14).
COUNTING: ContextVar[bool] = ContextVar("caas_test_counting", default=False)


@contextmanager
def counting() -> Iterator[None]:
    token = COUNTING.set(True)
    try:
        yield
    finally:
        COUNTING.reset(token)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every statement sent from within ``counting()``, by its first words, on any connection."""
    counted: Counter[str] = Counter()
    extended, simple = Connection._execute, Connection.execute

    async def _execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        if COUNTING.get():
            counted[" ".join(query.split())[:40]] += 1
        return await extended(self, query, *args, **kw)

    async def execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        if not args and COUNTING.get():  # with arguments it goes through _execute
            counted[" ".join(query.split())[:40]] += 1
        return await simple(self, query, *args, **kw)

    monkeypatch.setattr(Connection, "_execute", _execute)
    monkeypatch.setattr(Connection, "execute", execute)
    yield counted


async def sent_transfer(client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection) -> Any:
    loan, _ = await pending_loan(client, principal, runtime, db)
    payment = await disburse(client, loan, simulate="pending")
    await send(runtime.deps.payments, payment["id"])
    p = await row(db, payment["id"])
    success = GatewayEvent(
        uuid.uuid4().hex, "transfer.success", p["reference"], p["amount_minor"], p["currency"], "success"
    )
    return loan, p, success


async def written(db: asyncpg.Connection, payment_id: uuid.UUID) -> tuple[Any, ...]:
    inbox = await db.fetch(
        "SELECT source, event_type, outcome, detail FROM caas_core.webhook_inbox WHERE payment_id = $1",
        payment_id,
    )
    # The webhook's own (the request and the worker's send wrote theirs before).
    audit = await db.fetch(
        "SELECT principal_id, tool, outcome FROM caas_audit.audit_log WHERE object_id = $1 "
        "AND principal_id LIKE 'webhook:%'",
        str(payment_id),
    )
    events = await db.fetch(
        "SELECT event_type, payload->>'status' AS status FROM caas_core.outbox WHERE aggregate_id = $1 "
        "AND event_type NOT IN ('payment.requested', 'payment.sent') ORDER BY id",
        str(payment_id),
    )
    return [tuple(r) for r in inbox], [tuple(r) for r in audit], [tuple(r) for r in events]


async def test_a_transfer_success_is_fourteen_statements_with_its_inbox_row_audit_and_event(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, sent: Counter[str]
) -> None:
    loan, payment, success = await sent_transfer(client, principal, runtime, core_db)
    lender, fee = await core_db.fetchrow(
        "SELECT provider_id, origination_fee_minor FROM caas_core.loans WHERE id = $1", uuid.UUID(loan["id"])
    )
    capital = "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1"
    before = await core_db.fetchval(capital, lender)
    with counting():
        receipt = await receive_gateway_event(runtime.deps.payments, "paystack", success, "ab" * 32)
    # Was 18: the inbox row is concluded by the payment's final statement, the reference's other loan
    # is read with the lender, and the savepoint is left to COMMIT. Was 15: the withheld fee goes back
    # to the lender in COMMIT's query, so its row is locked only while the transaction commits.
    assert sum(sent.values()) == 14, sent
    assert sent["UPDATE caas_core.providers SET capital_a"] == 1 and "COMMIT" not in sent
    assert sent["SAVEPOINT caas_effect"] == 1 and not [q for q in sent if "RELEASE" in q]
    assert fee > 0 and await core_db.fetchval(capital, lender) == before + fee
    assert (receipt.duplicate, receipt.outcome) == (False, "applied")
    assert await loan_status(core_db, loan["id"]) == "active"
    detail = f"paystack transfer.success: sent -> succeeded; loan {loan['id']} is active"
    assert await written(core_db, payment["id"]) == (
        [("paystack", "transfer.success", "applied", detail)],
        [("webhook:paystack", "webhooks.paystack", "succeeded")],
        [("payment.succeeded", "succeeded")],
    )
    again = await receive_gateway_event(runtime.deps.payments, "paystack", success, "ab" * 32)
    assert (again.duplicate, again.outcome, again.detail) == (True, "applied", detail)


async def test_a_refused_effect_rolls_back_to_its_savepoint_and_the_payment_and_inbox_say_why(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    other, _ = await active_loan(client, principal, runtime, core_db)
    loan, payment, success = await sent_transfer(client, principal, runtime, core_db)
    # Another loan was disbursed under this payment's reference: the activation is refused.
    await core_db.execute(
        "UPDATE caas_core.loans SET disbursement_reference = $2 WHERE id = $1",
        uuid.UUID(other["id"]),
        payment["reference"],
    )
    receipt = await receive_gateway_event(runtime.deps.payments, "paystack", success, "ab" * 32)
    assert receipt.outcome == "rejected"
    assert "already confirmed another loan's disbursement" in str(receipt.detail)
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"  # nothing of the effect
    assert (await row(core_db, str(payment["id"])))["status"] == "succeeded"  # the money moved
    inbox, audit, events = await written(core_db, payment["id"])
    assert inbox == [("paystack", "transfer.success", "rejected", receipt.detail)]
    assert audit == [("webhook:paystack", "webhooks.paystack", "succeeded")]
    assert events == [("payment.succeeded", "succeeded")]
