"""What a vendor's webhook must say before it moves a payment (a probe's finds): how much moved, of the
payment's kind, through a route its vendor reports by; a success rejected for its amount is named to a
person and not erased by a later failure; and no event id, however long, makes the route answer 500."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.loans import active_loan, call
from tests.helpers.payments import COLLECT, key, loan_status, post, row
from tests.helpers.risk import uid
from tests.mcp_servers.payments.test_webhook_routes import inbox, paystack_body, pending_transfer, signed
from tools.platform.domain.signatures import stripe_signature_header
from tools.platform.principal import Role


async def outcome(base_url: str, body: bytes, headers: dict[str, str], vendor: str = "paystack") -> Any:
    """Posts ``body`` to ``vendor``'s webhook route; what the route says it did with it."""
    return (await post(f"{base_url}/webhooks/{vendor}", body, headers)).json()["outcome"]


async def health(client: Client, principal: Any) -> list[str]:
    principal(uid("op"), Role.OPERATOR)
    return list((await call(client, "admin_platform_health", {}))["attention"])


async def test_a_success_for_another_amount_is_named_and_a_later_failure_does_not_erase_it(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    wrong = paystack_body("transfer.success", payment, amount=100)
    assert await outcome(base_url, wrong, signed(runtime, wrong)) == "rejected"
    assert any(
        "reported as succeeded with another amount" in line for line in await health(client, principal)
    )
    failed = paystack_body("transfer.failed", payment)
    assert await outcome(base_url, failed, signed(runtime, failed)) == "rejected"
    assert (await row(core_db, payment["id"]))["status"] == "sent"  # not failed: no retry pays twice
    assert "was reported before" in (await inbox(core_db, payment["id"]))[-1]["detail"]
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"


async def test_a_success_that_says_nothing_of_the_amount_moves_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    _, payment = await pending_transfer(client, principal, runtime, core_db)
    body = json.loads(paystack_body("transfer.success", payment))
    del body["data"]["amount"], body["data"]["currency"]
    raw = json.dumps(body).encode()
    assert await outcome(base_url, raw, signed(runtime, raw)) == "rejected"
    assert (await row(core_db, payment["id"]))["status"] == "sent"


async def test_a_reference_of_the_other_kind_moves_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    _, payment = await pending_transfer(client, principal, runtime, core_db)
    as_charge = {**payment, "reference": payment["reference"].replace("disbursement", "collection")}
    body = paystack_body("charge.failed", as_charge)
    assert await outcome(base_url, body, signed(runtime, body)) == "ignored"
    assert (await row(core_db, payment["id"]))["status"] == "sent"


async def test_an_unpaid_stripe_checkout_and_a_stripe_amount_short_of_the_charge_pay_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    charge = await call(client, COLLECT, {"loan": loan["id"], "amount": "100.00", "idempotency_key": key()})
    await core_db.execute(
        "UPDATE caas_core.payments SET vendor = 'stripe' WHERE id = $1", uuid.UUID(charge["id"])
    )
    secret = runtime.payment_secrets.stripe
    assert secret is not None
    for total, paid, expected in ((10_000, "unpaid", "ignored"), (1, "paid", "rejected")):
        session = {"client_reference_id": charge["reference"], "amount_total": total, "currency": "ngn"}
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "checkout.session.completed",
                "data": {"object": {**session, "payment_status": paid}},
            }
        ).encode()
        headers = {"Stripe-Signature": stripe_signature_header(body, secret, int(time.time()))}
        assert await outcome(base_url, body, headers, "stripe") == expected
    assert (await row(core_db, charge["id"]))["status"] == "sent"
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.loan_repayments WHERE loan_id = $1", loan["id"]
        )
        == 0
    )


async def test_a_signed_event_with_a_long_id_is_refused_not_a_500(runtime: Runtime, base_url: str) -> None:
    body = json.dumps({"event": "e" * 100, "data": {"id": "9" * 100, "reference": "x"}}).encode()
    answer = await post(f"{base_url}/webhooks/paystack", body, signed(runtime, body))
    assert answer.status_code == 400, answer.text


async def test_a_collection_with_a_prepayment_its_loan_would_refuse_is_not_charged(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: Any
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=10)  # all the principal without the accrued interest: a settlement, not a prepayment
    principal(loan["borrower_id"], Role.BORROWER)
    args = {"loan": loan["id"], "amount": "250000.00", "prepay": "reduce_term", "idempotency_key": key()}
    result = await client.call_tool(COLLECT, args, raise_on_error=False)
    assert result.is_error and "quote_early_settlement" in result.content[0].text
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1 AND kind = 'collection'", loan["id"]
        )
        == 0
    )
