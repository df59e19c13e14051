"""Webhooks over real HTTP: the app served by uvicorn, the in-process sandbox posting its signed webhooks
to it, payments driven through MCP tools over HTTP. A signed webhook activates the loan or allocates the
repayment; duplicates have one effect; forged, missing and stale signatures are refused with nothing
stored; events out of order never move a payment backwards; providers' own events reach the bidding
use cases (a bid, a declined invitation)."""

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

from mcp_servers.app import build_server
from mcp_servers.runtime import Runtime
from tests.bidding_support import BIDS, INVITATIONS, as_provider, bid_body, events, market, place
from tests.loans_support import GET_LOAN, RECONCILE, active_loan, call
from tests.payments_support import (
    COLLECT,
    DISBURSE,
    GET_PAYMENT,
    disburse,
    key,
    loan_status,
    payment_deps,
    pending_loan,
    row,
    send,
    transfers,
)
from tests.risk_support import uid
from tests.support import SERVICE_KEY, serving
from tools.domain.signatures import caas_signature, paystack_signature, stripe_signature_header
from tools.jobs import relay_outbox, run_queue
from tools.principal import Principal, Role
from tools.providers import provider_signing_secret


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client]:
    """One in-memory client for arranging (the money path itself goes over HTTP)."""
    async with Client(server) as c:
        yield c


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    """The platform over HTTP, and the sandbox posting its webhooks to it (CAAS_SANDBOX_WEBHOOK_URL)."""
    assert runtime.sandbox is not None
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url:
        before = runtime.sandbox.webhook_base_url
        runtime.sandbox.webhook_base_url = url
        try:
            yield url
        finally:
            runtime.sandbox.webhook_base_url = before


@pytest.fixture
async def mcp(base_url: str) -> AsyncIterator[Client]:
    async with Client(f"{base_url}/mcp", auth=SERVICE_KEY) as c:
        yield c


async def run_payments(runtime: Runtime) -> None:
    """The outbox relay and the payments queue (its registered handler), until nothing is due, then
    every webhook the sandbox sent in the meantime."""
    store, handler = runtime.workers.store, runtime.workers.handlers["payments"]
    while await relay_outbox(store) + await run_queue(store, "payments", handler):
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


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers={"Content-Type": "application/json", **headers})


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
    payment = (
        await mcp.call_tool(DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    ).structured_content
    assert (payment["status"], payment["simulated"]) == ("requested", True)
    await run_payments(runtime)
    done = (await mcp.call_tool(GET_PAYMENT, {"payment_id": payment["id"]})).structured_content
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
    answer = await post(
        f"{base_url}/webhooks/stripe",
        body,
        {"Stripe-Signature": stripe_signature_header(body, secret, int(time.time()))},
    )
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
    assert outcomes == [(200, "applied"), (200, "ignored"), (200, "ignored")]
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"
    assert await loan_status(core_db, loan["id"]) == "active"
    recorded = await inbox(core_db, payment["id"])
    assert [r["outcome"] for r in recorded] == ["applied", "ignored", "ignored"]
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
    again = (await mcp.call_tool(DISBURSE, {"loan": loan["id"], "idempotency_key": key()})).structured_content
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
    from adapters.onasis_gateway import OnasisGateway

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


async def provider_post(
    runtime: Runtime,
    base_url: str,
    provider_id: str,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    age: int = 0,
) -> httpx.Response:
    body = json.dumps(event).encode()
    secret = secret or await provider_signing_secret(runtime.deps.providers, uuid.UUID(provider_id))
    timestamp = int(time.time()) - age
    headers = {
        "X-CaaS-Signature": caas_signature(body, secret, timestamp),
        "X-CaaS-Timestamp": str(timestamp),
    }
    return await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)


async def test_a_providers_signed_bid_submitted_event_places_the_bid_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    app, (provider_id,) = await market(client, principal, core_db, lenders=1)
    event = {
        "id": f"evt-{uuid.uuid4()}",
        "type": "bid.submitted",
        "data": {"application": app["id"], "bid": bid_body()},
    }
    first = await provider_post(runtime, base_url, provider_id, event)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    again = await provider_post(runtime, base_url, provider_id, event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    as_provider(principal, provider_id)
    bids = (await call(client, BIDS, {"application": app["id"]}))["items"]
    assert [(b["provider_id"], b["version"], b["status"]) for b in bids] == [(provider_id, 1, "active")]
    assert bids[0]["created_by"] == f"provider-webhook:{provider_id}"


async def test_a_provider_event_the_use_case_refuses_is_422_with_its_code_and_recorded(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    app, (provider_id,) = await market(client, principal, core_db, lenders=1)
    too_much = {"application": app["id"], "bid": bid_body(amount="999999999.00")}
    answer = await provider_post(
        runtime,
        base_url,
        provider_id,
        {"id": f"evt-{uuid.uuid4()}", "type": "bid.submitted", "data": too_much},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_argument")
    # A decision no use case acts on (only a decline does) is kept for operators.
    decision = {"application": app["id"], "decision": "interested"}
    recorded = await provider_post(
        runtime,
        base_url,
        provider_id,
        {"id": f"evt-{uuid.uuid4()}", "type": "application.decision", "data": decision},
    )
    assert (recorded.status_code, recorded.json()["outcome"]) == (200, "recorded")
    outcomes = await core_db.fetch(
        "SELECT event_type, outcome FROM caas_core.webhook_inbox WHERE source = $1 ORDER BY received_at",
        f"provider:{provider_id}",
    )
    assert [tuple(o) for o in outcomes] == [
        ("bid.submitted", "rejected"),
        ("application.decision", "recorded"),
    ]


def decision(provider_decision: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{uuid.uuid4()}",
        "type": "application.decision",
        "data": {"decision": provider_decision, **data},
    }


async def test_a_providers_signed_decision_to_decline_declines_its_invitation_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    app, (p1, p2) = await market(client, principal, core_db, lenders=2)
    declines = decision("decline", application_id=app["id"], reason="outside our appetite")
    first = await provider_post(runtime, base_url, p1, declines)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    again = await provider_post(runtime, base_url, p1, declines)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    # Another event saying the same: nothing changes (the use case's already_declined).
    same = decision("declined", reference=app["reference"], reason="still outside our appetite")
    repeated = await provider_post(runtime, base_url, p1, same)
    assert (repeated.status_code, repeated.json()["outcome"]) == (200, "ignored")

    as_provider(principal, p1)
    invitations = await call(client, INVITATIONS, {"application": app["id"]})
    assert [i["status"] for i in invitations["items"]] == ["declined"]
    counts = await core_db.fetchrow(
        "SELECT decided_count, approved_count FROM caas_core.providers WHERE id = $1", uuid.UUID(p1)
    )
    assert tuple(counts) == (1, 0)
    told = await events(core_db, app, "provider.invitation_declined")
    assert [e["payload"]["reason"] for e in told] == ["outside our appetite"]
    by = await core_db.fetchval(
        "SELECT principal_id FROM caas_audit.audit_log WHERE provider_id = $1 AND object_type = $2",
        p1,
        "provider_invitation",
    )
    assert by == f"provider-webhook:{p1}"

    # Refused declines answer 422 with the use case's code, like a refused bid, and change nothing.
    await place(client, principal, app, p2)
    for data, code in (
        ({"application_id": app["id"], "reason": "changed our mind"}, "conflict"),  # it bid: withdraw
        ({"application_id": app["id"], "reason": "no"}, "invalid_argument"),  # the reason is too short
        ({"reason": "changed our mind"}, "invalid_argument"),  # which application?
    ):
        refused = await provider_post(runtime, base_url, p2, decision("decline", **data))
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), data
    p2_invitation = await core_db.fetchrow(
        "SELECT i.status, p.decided_count, p.approved_count FROM caas_core.provider_invitations i "
        "JOIN caas_core.providers p ON p.id = i.provider_id "
        "WHERE i.application_id = $1 AND i.provider_id = $2",
        uuid.UUID(app["id"]),
        uuid.UUID(p2),
    )
    assert tuple(p2_invitation) == ("bid_submitted", 1, 1)
    outcomes = await core_db.fetch(
        "SELECT source, outcome FROM caas_core.webhook_inbox WHERE source = ANY($1::text[]) "
        "ORDER BY received_at",
        [f"provider:{p1}", f"provider:{p2}"],
    )
    assert [(o["source"].removeprefix("provider:"), o["outcome"]) for o in outcomes] == [
        (p1, "applied"),
        (p1, "ignored"),
        (p2, "rejected"),
        (p2, "rejected"),
        (p2, "rejected"),
    ]
    assert len(await events(core_db, app, "provider.invitation_declined")) == 1


@pytest.mark.parametrize("forgery", ["other secret", "stale", "unknown provider", "not a uuid", "missing"])
async def test_a_provider_event_without_a_valid_signature_is_401_and_nothing_is_stored(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str, forgery: str
) -> None:
    app, (provider_id,) = await market(client, principal, core_db, lenders=1)
    event = {
        "id": f"evt-{uuid.uuid4()}",
        "type": "bid.submitted",
        "data": {"application": app["id"], "bid": bid_body()},
    }
    before = await core_db.fetchval("SELECT count(*) FROM caas_core.webhook_inbox")
    if forgery == "other secret":
        answer = await provider_post(runtime, base_url, provider_id, event, secret="whsec_guessed")
    elif forgery == "stale":
        answer = await provider_post(runtime, base_url, provider_id, event, age=301)
    elif forgery == "missing":
        answer = await post(f"{base_url}/webhooks/providers/{provider_id}", json.dumps(event).encode(), {})
    else:
        target = str(uuid.uuid4()) if forgery == "unknown provider" else "lender-1"
        secret = await provider_signing_secret(runtime.deps.providers, uuid.UUID(provider_id))
        body = json.dumps(event).encode()
        now = int(time.time())
        headers = {"X-CaaS-Signature": caas_signature(body, secret, now), "X-CaaS-Timestamp": str(now)}
        answer = await post(f"{base_url}/webhooks/providers/{target}", body, headers)
    assert answer.status_code == 401
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.webhook_inbox") == before
    bids = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.bids WHERE application_id = $1", uuid.UUID(app["id"])
    )
    assert bids == 0
