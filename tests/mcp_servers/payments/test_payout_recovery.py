"""A payout the vendor pays that no loan takes (paid after it failed and was retried, or for a loan
cancelled since) is money that left: it is booked for recovery in the payment's transaction, the
ledger stays consistent, and once the money is back an admin reverses it, which ends platform_health's
line for it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.payments.payments import UNAPPLIED_RECEIPTS
from mcp_servers.runtime import Runtime
from tests.helpers.loans import RECONCILE, call, refused
from tests.helpers.payments import failed_payout, key, loan_status, payment_deps, send, vendor_says
from tools.payments.domain.payments import GatewayEvent
from tools.payments.vendor_events import receive_gateway_event
from tools.platform.principal import Role

RETRY = "payments_retry_disbursement"
CANCEL = "credit_cancel_loan"
HEALTH = "admin_platform_health"
REVERSE = "admin_reverse_journal"
NAMED = "payment(s) moved money that their loan refused"
PAID = "transfer.success"


async def _recovery_lines(db: asyncpg.Connection, payment_id: str) -> tuple[str, list[tuple[str, int]]]:
    journal = await db.fetchval(
        "SELECT id FROM caas_ledger.journals WHERE kind = 'payout_recovery' AND source_id = $1", payment_id
    )
    assert journal is not None, "the payout no loan took is not booked"
    rows = await db.fetch(
        "SELECT a.code, p.amount_minor FROM caas_ledger.postings p JOIN caas_ledger.accounts a "
        "ON a.id = p.account_id WHERE p.journal_id = $1 ORDER BY a.code",
        journal,
    )
    return str(journal), [(r["code"], r["amount_minor"]) for r in rows]


async def _named(client: Client) -> bool:
    health = (await client.call_tool(HEALTH, {})).structured_content
    return any(NAMED in line for line in health["attention"])


async def _recovered(client: Client, principal: Any, db: asyncpg.Connection, journal: str) -> None:
    """Once the money is back, an admin reverses the booking: the books clear and nobody is asked."""
    held = await db.fetchval(UNAPPLIED_RECEIPTS)
    principal("admin-recoveries", Role.ADMIN)
    back = {"journal": journal, "reason": "the duplicate payout was returned by the borrower's bank"}
    assert (await call(client, REVERSE, back))["kind"] == "reversal"
    assert await db.fetchval(UNAPPLIED_RECEIPTS) == held - 1
    assert await refused(client, REVERSE, back) == "conflict"  # once
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_payout_paid_after_its_retry_was_requested_is_booked_for_recovery(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    _, failed, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    clearing = "platform:cash_clearing:onasis:NGN"
    before = await core_db.fetchval(
        "SELECT coalesce(sum(p.amount_minor), 0) FROM caas_ledger.postings p JOIN caas_ledger.accounts a "
        "ON a.id = p.account_id WHERE a.code = $1",
        clearing,
    )
    assert (await vendor_says(runtime, retried["reference"], PAID, amount)).outcome == "applied"
    late = await vendor_says(runtime, failed["reference"], PAID, amount)
    assert late.outcome == "rejected" and "booked for recovery" in late.detail
    journal, lines = await _recovery_lines(core_db, failed["id"])
    assert lines == [(clearing, -amount), ("platform:payout_recovery:NGN", amount)]
    after = await core_db.fetchval(
        "SELECT sum(p.amount_minor) FROM caas_ledger.postings p JOIN caas_ledger.accounts a "
        "ON a.id = p.account_id WHERE a.code = $1",
        clearing,
    )
    assert after == before - amount  # the vendor's account is short by the duplicate
    # The lender's capital funded the one payout applied; the duplicate is none of its books.
    postings = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.postings p JOIN caas_ledger.accounts a ON a.id = p.account_id "
        "WHERE p.journal_id = $1 AND a.code LIKE 'provider:%'",
        uuid.UUID(journal),
    )
    assert postings == 0
    assert (
        await vendor_says(runtime, failed["reference"], PAID, amount)
    ).outcome == "ignored"  # redelivered: booked once
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True
    assert await _named(client)
    await _recovered(client, principal, core_db, journal)  # its count comes off platform_health's line


async def test_a_payout_paid_for_a_loan_cancelled_since_is_booked_for_recovery(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, failed, amount = await failed_payout(client, principal, runtime, core_db)
    args = {"loan": loan["id"], "reason": "the borrower found the money elsewhere"}
    assert (await call(client, CANCEL, args))["status"] == "cancelled"
    late = await vendor_says(runtime, failed["reference"], PAID, amount)
    assert late.outcome == "rejected" and "cancelled before this payout" in late.detail
    journal, lines = await _recovery_lines(core_db, failed["id"])
    assert lines == [("platform:cash_clearing:onasis:NGN", -amount), ("platform:payout_recovery:NGN", amount)]
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert await _named(client)
    await _recovered(client, principal, core_db, journal)


async def test_a_booked_payout_is_the_loans_payout_once_the_retry_fails(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """The vendor paid the failed payout while its retry was in flight, and then the retry failed: the
    borrower was paid once, by the first. A probe left such a loan pending for good (that payout held
    it from a new payout and from cancellation); now the first payout is applied when the retry fails."""
    loan, failed, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    assert "booked for recovery" in (await vendor_says(runtime, failed["reference"], PAID, amount)).detail
    journal, _ = await _recovery_lines(core_db, failed["id"])
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held + 1

    event = GatewayEvent(uuid.uuid4().hex, "transfer.failed", retried["reference"], amount, "NGN", None)
    said = await receive_gateway_event(payment_deps(runtime), "paystack", event, "0" * 64)
    assert said.outcome == "applied" and f"payout {failed['id']} applied to loan" in said.detail
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert await loan_status(core_db, loan["id"]) == "active"
    first = await call(client, "payments_get_payment", {"payment": failed["id"]})
    assert first["status"] == "succeeded" and first["last_error"] is None
    assert (await call(client, "admin_get_journal", {"journal": journal}))["reversed_by_journal_id"]
    disbursed = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'disbursement' AND source_id = $1", loan["id"]
    )
    assert disbursed == 1
    reference = await core_db.fetchval(
        "SELECT disbursement_reference FROM caas_core.loans WHERE id = $1", uuid.UUID(loan["id"])
    )
    assert reference == failed["reference"]
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held
    assert (await call(client, RECONCILE, {}))["consistent"] is True
    # Told again, the retry's failure changes nothing more.
    again = await receive_gateway_event(payment_deps(runtime), "paystack", event, "0" * 64)
    assert again.duplicate
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held


async def test_a_recovered_payout_no_longer_holds_its_loan(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """The duplicate's money came back before the retry failed: the loan was paid nothing, so it may be
    paid out again or cancelled (the recovered payout held it for good before)."""
    loan, failed, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    await vendor_says(runtime, failed["reference"], PAID, amount)
    journal, _ = await _recovery_lines(core_db, failed["id"])
    principal("admin-recoveries", Role.ADMIN)
    back = {"journal": journal, "reason": "the duplicate payout was returned by the borrower's bank"}
    await call(client, REVERSE, back)
    said = await vendor_says(runtime, retried["reference"], "transfer.failed", amount)
    assert said.outcome == "applied" and "applied to loan" not in said.detail
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"
    again = await call(client, RETRY, {"payment": retried["id"], "idempotency_key": key()})
    assert again["status"] == "requested"
