"""Helpers for the payment tests: a loan awaiting disbursement, the sandbox's records, the payments
worker run by hand (with a gateway or router of the test's choosing), and payment rows."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.platform.workers import worker_invocation
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, serving
from tests.helpers.loans import call, originated
from tools.payments.domain.payments import GatewayEvent
from tools.payments.domain.routing import VendorRouter
from tools.payments.ports import PaymentDeps
from tools.payments.transfers import send_disbursement
from tools.payments.vendor_events import receive_gateway_event
from tools.platform.jobs import Job
from tools.platform.principal import Principal, Role

DISBURSE = "payments_disburse_loan"
COLLECT = "payments_collect_repayment"
GET_PAYMENT = "payments_get_payment"
LIST_PAYMENTS = "payments_list_payments"
VERIFY = "payments_verify_payment"


def key() -> str:
    return f"key-{uuid.uuid4()}"


async def pending_loan(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loan, provider): a loan pending disbursement; the caller is left an operator."""
    loan, provider = await originated(client, principal, runtime, db)
    principal(f"op-pay-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    return loan, provider


async def disburse(client: Client, loan: dict[str, Any], **extra: Any) -> dict[str, Any]:
    args = {"loan": loan["id"], "idempotency_key": key(), **extra}
    return dict(await call(client, DISBURSE, args))


async def sandbox_get(runtime: Runtime, path: str, **params: str) -> Any:
    assert runtime.sandbox is not None
    async with httpx.AsyncClient(base_url=runtime.sandbox.gateway_url) as http:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def transfers(runtime: Runtime, reference: str) -> list[dict[str, Any]]:
    return list(await sandbox_get(runtime, "/sandbox/transfers", reference=reference))


def payment_deps(runtime: Runtime, **changes: Any) -> PaymentDeps:
    """The runtime's payment dependencies with some replaced (a gateway that fails, a private router)."""
    return replace(runtime.deps.payments, **changes)


def private_router(runtime: Runtime, failures: int = 1) -> VendorRouter:
    """A router of the test's own, so that breakers it trips do not pause vendors for other tests."""
    return VendorRouter.from_text(runtime.settings.payment_routes, failures=failures, reset_seconds=600)


def job(payment_id: str, attempts: int = 0) -> Job:
    return Job(
        id=0,
        queue="payments",
        ordering_key=f"payment:{payment_id}",
        event_id=uuid.uuid4(),
        event_type="payment.requested",
        payload={"payment_id": payment_id},
        attempts=attempts,
        created_at=datetime.now(UTC),
    )


async def send(deps: PaymentDeps, payment_id: str) -> None:
    """One run of the payments worker for this payment, as the queue would run it."""
    await send_disbursement(deps, worker_invocation("payments"), job(payment_id))


async def failed_payout(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(loan, payout, its amount in minor units): a loan whose payout the vendor refused."""
    loan, _ = await pending_loan(client, principal, runtime, db)
    payout = await disburse(client, loan, simulate="rejected")
    await send(runtime.deps.payments, payout["id"])
    amount = await db.fetchval("SELECT amount_minor FROM caas_core.payments WHERE id = $1", payout["id"])
    return loan, payout, int(amount)


async def vendor_says(runtime: Runtime, reference: str, kind: str, amount: int) -> Any:
    """The gateway's webhook event ``kind`` (transfer.success, transfer.failed...) for ``reference``."""
    event = GatewayEvent(uuid.uuid4().hex, kind, reference, amount, "NGN", None)
    return await receive_gateway_event(payment_deps(runtime), "paystack", event, "0" * 64)


async def row(db: asyncpg.Connection, payment_id: str) -> Mapping[str, Any]:
    found = await db.fetchrow("SELECT * FROM caas_core.payments WHERE id = $1", uuid.UUID(payment_id))
    assert found is not None
    return found


async def loan_status(db: asyncpg.Connection, loan_id: str) -> str:
    return str(await db.fetchval("SELECT status FROM caas_core.loans WHERE id = $1", uuid.UUID(loan_id)))


@contextlib.asynccontextmanager
async def platform_over_http(runtime: Runtime) -> AsyncIterator[str]:
    """The composed server over HTTP (service key auth), with the sandbox posting its signed webhooks
    to it; yields its base URL."""
    assert runtime.sandbox is not None, "no ONASIS_GATEWAY_URL in the tests: the runtime runs the sandbox"
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url:
        before = runtime.sandbox.webhook_base_url
        runtime.sandbox.webhook_base_url = url
        try:
            yield url
        finally:
            runtime.sandbox.webhook_base_url = before


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers={"Content-Type": "application/json", **headers})
