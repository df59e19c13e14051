"""Webhooks over real HTTP: the app served by uvicorn, the in-process sandbox posting its signed webhooks
to it, payments driven through MCP tools over HTTP. A signed webhook activates the loan or allocates the
repayment; duplicates have one effect; forged, missing and stale signatures are refused with nothing
stored; events out of order never move a payment backwards. Providers' own events:
test_provider_events.py."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP

from mcp_servers.runtime import Runtime
from tests.helpers.confirm import CONFIRM, pending_id, person_confirms
from tests.helpers.errors import error_message
from tests.helpers.loans import GET_LOAN, RECONCILE, active_loan, call
from tests.helpers.payments import (
    COLLECT,
    DISBURSE,
    GET_PAYMENT,
    disburse,
    key,
    loan_status,
    payment_deps,
    pending_loan,
    post,
    row,
    send,
    transfers,
)
from tests.helpers.risk import uid
from tools.platform.domain.signatures import paystack_signature, stripe_signature_header
from tools.platform.jobs import relay_outbox, run_queue
from tools.platform.principal import Role


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client]:
    """One in-memory client for arranging (the money path itself goes over HTTP); its person confirms
    money moves."""
    async with Client(server, elicitation_handler=person_confirms) as c:
        yield c


async def service_disburses(mcp: Client, client: Client, principal: Any, loan: dict[str, Any]) -> Any:
    """The service asks over HTTP; its say-so moves no money, so an operator confirms the action."""
    asked = await mcp.call_tool(
        DISBURSE, {"loan": loan["id"], "idempotency_key": key()}, raise_on_error=False
    )
    principal(uid("op-confirm"), Role.OPERATOR)
    action = {"action": pending_id(error_message(asked))}
    return (await client.call_tool(CONFIRM, action)).structured_content["result"]


async def run_payments(runtime: Runtime) -> None:
    """The outbox relay and the payments queue (its registered handler), until nothing is due, then
    every webhook the sandbox sent in the meantime."""
    store, handler = runtime.workers.store, runtime.workers.handlers["payments"]
    while await relay_outbox(store) + await run_queue(store, "payments", handler, clock=runtime.clock):
        pass
    assert runtime.sandbox is not None
    await runtime.sandbox.webhooks_idle()


def paystack_body(event: str, payment: dict[str, Any], **data: Any) -> bytes:
    amount = int(payment["amount"]["amount"].replace(".", ""))
    body = {
        "event": event,
        "data": {
            "id": secrets.randbelow(10**12),
            "reference": payment["reference"],
            "amount": amount,
            "currency": payment["amount"]["currency"],
            "status": event.split(".")[1],
            **data,
        },
    }
    return json.dumps(body).encode()


def signed(runtime: Runtime, body: bytes) -> dict[str, str]:
    secret = runtime.payment_secrets.paystack
    assert secret is not None
    return {"x-paystack-signature": paystack_signature(body, secret)}


async def inbox(db: asyncpg.Connection, payment_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT source, event_type, outcome, detail FROM caas_core.webhook_inbox WHERE payment_id = $1 "
        "ORDER BY received_at",
        uuid.UUID(payment_id),
    )


async def pending_transfer(client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection) -> Any:
    """A disbursement the vendor accepted but has not settled (no webhook until the test sends one)."""
    loan, _ = await pending_loan(client, principal, runtime, db)
    payment = await disburse(client, loan, simulate="pending")
    await send(runtime.deps.payments, payment["id"])
    assert (await row(db, payment["id"]))["status"] == "sent"
    return loan, payment


async def test_a_disbursement_goes_through_the_worker_and_the_sandbox_and_its_webhook_activates_the_loan(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, mcp: Client
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await service_disburses(mcp, client, principal, loan)
    assert (payment["status"], payment["simulated"]) == ("requested", True)
    await run_payments(runtime)
    done = (await mcp.call_tool(GET_PAYMENT, {"payment": payment["id"]})).structured_content
    assert (done["status"], done["vendor"]) == ("succeeded", "paystack")
    [hook] = [
        w
        for w in runtime.sandbox.state.webhooks
        if w.reference == payment["reference"]  # type: ignore[union-attr]
    ]
    assert (hook.event, hook.status, hook.response_status) == ("transfer.success", "delivered", 200)
    assert [(r["source"], r["outcome"]) for r in await inbox(core_db, payment["id"])] == [
        ("paystack", "applied")
    ]
    principal(uid("op"), Role.OPERATOR)
    active = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert active["status"] == "active"
    assert len(await transfers(runtime, payment["reference"])) == 1
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_fifty_copies_of_one_webhook_at_once_have_one_effect(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    body = paystack_body("transfer.success", payment)
    headers = signed(runtime, body)
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(http.post(f"{base_url}/webhooks/paystack", content=body, headers=headers) for _ in range(50))
        )
    assert {a.status_code for a in answers} == {200}
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 49 + ["processed"]
    assert await loan_status(core_db, loan["id"]) == "active"
    assert len(await inbox(core_db, payment["id"])) == 1
    journals = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'disbursement' AND source_id = $1", loan["id"]
    )
    assert journals == 1


@pytest.mark.parametrize(
    "forgery", ["missing", "wrong key", "altered body", "stale stripe", "unsigned stripe"]
)
async def test_a_forged_missing_or_stale_signature_is_refused_and_nothing_is_stored(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    base_url: str,
    forgery: str,
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    body = paystack_body("transfer.success", payment)
    route, headers = "paystack", signed(runtime, body)
    if forgery == "missing":
        headers = {}
    elif forgery == "wrong key":
        headers = {"x-paystack-signature": paystack_signature(body, "sk_test_guessed")}
    elif forgery == "altered body":
        body = body.replace(b'"status"', b'"status" ')
    else:
        route = "stripe"
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "payout.paid",
                "data": {"object": {"metadata": {"reference": payment["reference"]}}},
            }
        ).encode()
        secret = runtime.payment_secrets.stripe
        assert secret is not None
        stale = stripe_signature_header(body, secret, int(time.time()) - 301)
        headers = {"Stripe-Signature": stale} if forgery == "stale stripe" else {}
    before = await core_db.fetchval("SELECT count(*) FROM caas_core.webhook_inbox")
    answer = await post(f"{base_url}/webhooks/{route}", body, headers)
    assert answer.status_code == 401
    # What a vendor is told: its signature, not how to get a bearer token (nor that local ones exist).
    assert answer.json() == {"error": "invalid_signature"}, answer.text
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.webhook_inbox") == before
    assert (await row(core_db, payment["id"]))["status"] == "sent"
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"


async def test_a_stripe_signed_event_is_applied_like_a_paystack_one(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    amount = int(payment["amount"]["amount"].replace(".", ""))
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payout.paid",
            "data": {
                "object": {
                    "amount": amount,
                    "currency": "ngn",
                    "metadata": {"reference": payment["reference"]},
                }
            },
        }
    ).encode()
    secret = runtime.payment_secrets.stripe
    assert secret is not None
    signed = {"Stripe-Signature": stripe_signature_header(body, secret, int(time.time()))}
    # Stripe reports only what went through Stripe (a probe had it settle a Paystack payout).
    assert (await row(core_db, payment["id"]))["vendor"] != "stripe"
    answer = await post(f"{base_url}/webhooks/stripe", body, signed)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    detail = await core_db.fetchval(
        "SELECT detail FROM caas_core.webhook_inbox WHERE source = 'stripe' AND event_id = $1",
        json.loads(body)["id"],
    )
    assert "does not report through stripe" in detail
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"
    await core_db.execute(
        "UPDATE caas_core.payments SET vendor = 'stripe' WHERE id = $1", uuid.UUID(payment["id"])
    )
    body = body.replace(b'"id": "evt_', b'"id": "evt_2')  # another event: the first one was recorded
    signed = {"Stripe-Signature": stripe_signature_header(body, secret, int(time.time()))}
    answer = await post(f"{base_url}/webhooks/stripe", body, signed)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "applied")
    assert await loan_status(core_db, loan["id"]) == "active"


async def test_a_failure_arriving_after_the_success_is_ignored_and_recorded(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    outcomes = []
    for event in ("transfer.success", "transfer.failed", "transfer.reversed"):
        body = paystack_body(event, payment)
        answer = await post(f"{base_url}/webhooks/paystack", body, signed(runtime, body))
        outcomes.append((answer.status_code, answer.json()["outcome"]))
    # The reversal: tests/mcp_servers/payments/test_webhook_contradictions.py.
    assert outcomes == [(200, "applied"), (200, "ignored"), (200, "rejected")]
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"
    assert await loan_status(core_db, loan["id"]) == "active"
    recorded = await inbox(core_db, payment["id"])
    assert [r["outcome"] for r in recorded] == ["applied", "ignored", "rejected"]
    assert "never moves backwards" in recorded[1]["detail"]


async def test_a_failed_transfer_leaves_the_loan_pending_and_a_new_disbursement_can_be_requested(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str, mcp: Client
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    body = paystack_body("transfer.failed", payment)
    answer = await post(f"{base_url}/webhooks/paystack", body, signed(runtime, body))
    assert answer.json()["outcome"] == "applied"
    assert (await row(core_db, payment["id"]))["status"] == "failed"
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"
    again = await service_disburses(mcp, client, principal, loan)
    assert again["status"] == "requested" and again["id"] != payment["id"]
    await run_payments(runtime)
    assert await loan_status(core_db, loan["id"]) == "active"


async def test_a_webhook_with_another_amount_is_rejected_for_an_operator(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    body = paystack_body("transfer.success", payment, amount=1)
    answer = await post(f"{base_url}/webhooks/paystack", body, signed(runtime, body))
    assert (answer.status_code, answer.json()["outcome"]) == (200, "rejected")
    assert (await row(core_db, payment["id"]))["status"] == "sent"
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"


async def test_a_timeout_after_success_and_a_killed_worker_each_end_in_one_transfer(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    from adapters.payments.onasis_gateway import OnasisGateway

    class Killed(BaseException):
        pass

    class DiesAfterTransfer:
        simulated = True

        def __init__(self, real: Any) -> None:
            self.real = real

        async def transfer(self, **kwargs: Any) -> Any:
            await self.real.transfer(**kwargs)
            raise Killed

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    assert runtime.sandbox is not None
    impatient = OnasisGateway(runtime.sandbox.gateway_url, timeout_seconds=0.3, simulated=True)
    try:
        slow_loan, _ = await pending_loan(client, principal, runtime, core_db)
        slow = await disburse(client, slow_loan, simulate="timeout_after_success")
        killed_loan, _ = await pending_loan(client, principal, runtime, core_db)
        killed = await disburse(client, killed_loan)
        with pytest.raises(Exception, match="did not answer"):
            await send(payment_deps(runtime, gateway=impatient), slow["id"])
        with pytest.raises(Killed):
            await send(payment_deps(runtime, gateway=DiesAfterTransfer(runtime.gateway)), killed["id"])
    finally:
        await impatient.aclose()
    await run_payments(runtime)  # the jobs come back; the vendors' webhooks arrive
    for loan, payment in ((slow_loan, slow), (killed_loan, killed)):
        assert len(await transfers(runtime, payment["reference"])) == 1
        assert (await row(core_db, payment["id"]))["status"] == "succeeded"
        assert await loan_status(core_db, loan["id"]) == "active"


async def test_a_repayment_collected_at_the_fallback_vendor_is_allocated_by_its_webhook(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, mcp: Client
) -> None:
    assert runtime.sandbox is not None
    loan, _ = await active_loan(client, principal, runtime, core_db)
    runtime.sandbox.vendor_down("paystack")
    try:
        args = {"loan": loan["id"], "amount": "5000.00", "idempotency_key": key()}
        charge = (await mcp.call_tool(COLLECT, args)).structured_content
    finally:
        runtime.sandbox.vendor_down("paystack", down=False)
    assert (charge["vendor"], charge["status"], charge["simulated"]) == ("flutterwave", "sent", True)
    async with httpx.AsyncClient() as http:  # the borrower pays on the vendor's page
        paid = await http.post(charge["authorization_url"], params={"outcome": "success"})
    assert paid.status_code == 200
    await runtime.sandbox.webhooks_idle()
    assert (await row(core_db, charge["id"]))["status"] == "succeeded"
    repaid = await core_db.fetchrow(
        "SELECT amount_minor FROM caas_core.loan_repayments WHERE loan_id = $1 AND reference = $2",
        uuid.UUID(loan["id"]),
        charge["reference"],
    )
    assert repaid is not None and repaid["amount_minor"] == 500_000
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True
