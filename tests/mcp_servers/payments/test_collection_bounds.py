"""What a collection may take: at most what settles the loan that day; and money a loan refuses
anyway (two charges paid side by side) is held and named to a person, never silently kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from fastmcp import Client

from database.payments.payments import UNAPPLIED_RECEIPTS
from mcp_servers.runtime import Runtime
from tests.helpers.errors import error_code, error_message
from tests.helpers.loans import active_loan, call
from tests.helpers.payments import COLLECT, GET_PAYMENT, VERIFY, key, loan_status
from tests.helpers.risk import uid
from tools.platform.principal import Role


async def test_a_collection_for_more_than_settles_the_loan_is_refused_and_writes_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """A probe charged 99,999,999,999,999.99 on a loan of 250,000.00: the loan could apply none of
    the excess, and nothing booked it. At most the settlement amount of the day is collected."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, "credit_quote_early_settlement", {"loan": loan["id"]})
    owed = Decimal(quote["total"]["amount"])
    before = await core_db.fetchval("SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", loan["id"])
    for amount in (owed + Decimal("0.01"), Decimal("99999999999999.99")):
        args = {"loan": loan["id"], "amount": str(amount), "idempotency_key": key()}
        result = await client.call_tool(COLLECT, args, raise_on_error=False)
        assert error_code(result) == "invalid_argument"
        assert f"{owed:.2f}" in error_message(result)
    after = await core_db.fetchval("SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", loan["id"])
    assert after == before
    payoff = await call(client, COLLECT, {"loan": loan["id"], "amount": str(owed), "idempotency_key": key()})
    assert payoff["status"] == "sent"


async def test_money_a_closed_loan_refuses_is_held_and_named_for_a_person(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """Two charges for the payoff, both paid: the first closes the loan, the second's money is refused
    by it. A probe found that payment succeeded with nothing telling anyone; platform_health says so."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    owed = (await call(client, "credit_quote_early_settlement", {"loan": loan["id"]}))["total"]["amount"]
    both = [
        await call(client, COLLECT, {"loan": loan["id"], "amount": owed, "idempotency_key": key()})
        for _ in range(2)
    ]
    async with httpx.AsyncClient() as http:
        for charge in both:
            assert (await http.post(charge["authorization_url"], params={"outcome": "success"})).is_success
    principal(uid("op"), Role.OPERATOR)
    outcomes = [(await call(client, VERIFY, {"payment": c["id"]}))["verification"]["outcome"] for c in both]
    assert outcomes == ["applied", "rejected"]
    assert await loan_status(core_db, loan["id"]) == "closed"
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    health = await call(client, "admin_platform_health", {})
    said = f"{held} payment(s) moved money that their loan refused"
    assert held >= 1 and any(note.startswith(said) for note in health["attention"]), health["attention"]
    # The money is booked: at the vendor (clearing) and owed back to the payer (suspense).
    refused = both[1]
    held_minor = round(Decimal(owed) * 100)
    journal = await core_db.fetchval(
        "SELECT id FROM caas_ledger.journals WHERE kind = 'suspense' AND source_id = $1", refused["id"]
    )
    lines = (await call(client, "admin_get_journal", {"journal": str(journal)}))["lines"]
    assert sorted((x["account_code"], x["amount_minor"]) for x in lines) == [
        ("platform:cash_clearing:onasis:NGN", held_minor),
        ("platform:suspense:NGN", -held_minor),
    ]
    # Refunded through the gateway, an admin reverses it: the books clear and it is no longer named.
    principal("admin-1", Role.ADMIN)
    refund = {"journal": str(journal), "reason": "refunded to the payer through the gateway"}
    assert (await call(client, "admin_reverse_journal", refund))["kind"] == "reversal"
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held - 1
    principal(uid("op"), Role.OPERATOR)
    # platform_health counts them on every call: through the partial index, whatever the book's size
    # (with no sequential scan allowed, the index is used or none is).
    async with core_db.transaction():
        await core_db.execute("SET LOCAL enable_seqscan = off")
        plan = await core_db.fetch(f"EXPLAIN {UNAPPLIED_RECEIPTS}")
    assert "payments_received_unapplied" in "\n".join(r[0] for r in plan)


async def test_a_charge_an_operator_recorded_first_is_the_loans_not_held_again(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """An operator records the gateway's payment (record_repayment with the charge's reference) before
    its webhook arrives: a probe saw the webhook refused by the loan (the times differ) and the money
    booked in suspense as well, the books counting one payment twice."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    charge = await call(client, COLLECT, {"loan": loan["id"], "amount": "100.00", "idempotency_key": key()})
    async with httpx.AsyncClient() as http:
        assert (await http.post(charge["authorization_url"], params={"outcome": "success"})).is_success
    principal(uid("op"), Role.OPERATOR)
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    when = (await call(client, GET_PAYMENT, {"payment": charge["id"]}))["created_at"]
    record = {"loan": loan["id"], "amount": "100.00", "paid_at": when, "reference": charge["reference"]}
    recorded = await call(client, "credit_record_repayment", record)
    verified = await call(client, VERIFY, {"payment": charge["id"]})
    assert verified["verification"]["outcome"] == "applied" and verified["last_error"] is None
    suspense = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'suspense' AND source_id = $1", charge["id"]
    )
    repayments = await core_db.fetchval(
        "SELECT array_agg(id::text) FROM caas_core.loan_repayments WHERE reference = $1", charge["reference"]
    )
    assert (suspense, repayments) == (0, [recorded["id"]])
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held
