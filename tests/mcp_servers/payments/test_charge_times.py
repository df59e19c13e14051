"""A repayment through the gateway is dated when the vendor says the payer paid, not when its webhook
came (a probe's find): a charge paid within the grace period and reported after aging charged the late
fee pays no fee; a time the vendor cannot mean (before the charge, ahead of the clock, unreadable) is
not taken."""

from __future__ import annotations

import json
import time as clock_time
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import AGE, active_loan, balance, call
from tests.helpers.payments import COLLECT, key, post
from tests.helpers.risk import uid
from tests.mcp_servers.payments.test_webhook_routes import paystack_body, signed
from tools.platform.domain.signatures import stripe_signature_header
from tools.platform.principal import Role


async def charged_in_grace(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, clock: MovableClock, mcp: Client
) -> tuple[dict[str, Any], dict[str, Any], date]:
    """A charge for the first installment opened two days after it fell due; its report comes eight
    days later, after aging charged the late fee."""
    loan, _ = await active_loan(client, principal, runtime, db)
    first = date.fromisoformat(loan["first_due_date"])
    clock.move(days=(first - clock.today()).days + 2)
    args = {"loan": loan["id"], "amount": "23639.90", "idempotency_key": key()}
    charge = (await mcp.call_tool(COLLECT, args)).structured_content
    clock.move(days=8)
    principal(uid("op-aging"), Role.OPERATOR)
    await call(client, AGE, {})
    assert await balance(db, "loan", "fees_receivable", loan["id"]) == 118_200
    return loan, charge, first


async def repayment_row(
    db: asyncpg.Connection, loan: dict[str, Any], charge: dict[str, Any]
) -> asyncpg.Record:
    """When the charge's repayment is dated, and what of it paid fees."""
    row = await db.fetchrow(
        "SELECT paid_at, to_fees_minor FROM caas_core.loan_repayments WHERE loan_id = $1 AND reference = $2",
        uuid.UUID(loan["id"]),
        charge["reference"],
    )
    assert row is not None
    return row


async def reported(
    runtime: Runtime,
    db: asyncpg.Connection,
    base_url: str,
    loan: dict[str, Any],
    charge: dict[str, Any],
    at: Any,
) -> asyncpg.Record:
    body = paystack_body("charge.success", charge, paid_at=at)
    assert (await post(f"{base_url}/webhooks/paystack", body, signed(runtime, body))).status_code == 200
    return await repayment_row(db, loan, charge)


async def test_a_charge_paid_in_grace_and_reported_late_is_dated_when_paid_and_pays_no_fee(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    base_url: str,
    mcp: Client,
) -> None:
    loan, charge, first = await charged_in_grace(client, principal, runtime, core_db, clock, mcp)
    paid = datetime.combine(first + timedelta(days=2), time(9, 30), UTC)
    row = await reported(
        runtime, core_db, base_url, loan, charge, paid.isoformat().replace("+00:00", ".000Z")
    )
    assert (row["paid_at"], row["to_fees_minor"]) == (paid, 0)
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 0


async def test_a_time_the_vendor_cannot_mean_is_not_taken(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    base_url: str,
    mcp: Client,
) -> None:
    for said in ("2001-01-01T00:00:00Z", (clock.now() + timedelta(days=400)).isoformat(), "yesterday", 17):
        loan, charge, _ = await charged_in_grace(client, principal, runtime, core_db, clock, mcp)
        row = await reported(runtime, core_db, base_url, loan, charge, said)
        assert abs(row["paid_at"] - clock.now()) < timedelta(minutes=1), said  # dated when told
        assert row["to_fees_minor"] == 118_200, said


async def stripe_reported(
    runtime: Runtime,
    db: asyncpg.Connection,
    base_url: str,
    loan: dict[str, Any],
    charge: dict[str, Any],
    at: Any,
) -> asyncpg.Record:
    """The charge went through Stripe, whose event says when it was created (``created``, Unix seconds)."""
    await db.execute("UPDATE caas_core.payments SET vendor = 'stripe' WHERE id = $1", uuid.UUID(charge["id"]))
    amount = int(charge["amount"]["amount"].replace(".", ""))
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment_intent.succeeded",
        "created": at,
        "data": {"object": {"amount_received": amount, "currency": "ngn", "reference": charge["reference"]}},
    }
    body = json.dumps(event).encode()
    secret = runtime.payment_secrets.stripe
    assert secret is not None
    headers = {"Stripe-Signature": stripe_signature_header(body, secret, int(clock_time.time()))}
    answer = await post(f"{base_url}/webhooks/stripe", body, headers)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "applied"), answer.text
    return await repayment_row(db, loan, charge)


async def test_a_stripe_charge_is_dated_by_its_events_creation_time(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    base_url: str,
    mcp: Client,
) -> None:
    # Stripe's event carries no paid_at, but Stripe creates it when the payment succeeds and redelivers
    # it unchanged: a charge paid in grace and reported late pays no fee through Stripe either.
    loan, charge, first = await charged_in_grace(client, principal, runtime, core_db, clock, mcp)
    paid = datetime.combine(first + timedelta(days=2), time(9, 30), UTC)
    row = await stripe_reported(runtime, core_db, base_url, loan, charge, int(paid.timestamp()))
    assert (row["paid_at"], row["to_fees_minor"]) == (paid, 0)
    for said in (0, -5, True, 10**12, "1700000000", "tomorrow"):
        loan, charge, _ = await charged_in_grace(client, principal, runtime, core_db, clock, mcp)
        if said == "tomorrow":  # ahead of the clock, as this charge's clock reads it
            said = int((clock.now() + timedelta(days=1)).timestamp())
        row = await stripe_reported(runtime, core_db, base_url, loan, charge, said)
        assert abs(row["paid_at"] - clock.now()) < timedelta(minutes=1), said  # dated when told
        assert row["to_fees_minor"] == 118_200, said
