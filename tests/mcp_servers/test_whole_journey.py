"""The whole journey over HTTP against the sandbox, driven by real webhooks and real background workers.

Every call is an MCP tool call over Streamable HTTP with the caller's own bearer token (a JWT per
borrower, operator and lender; the service key for the Onasis MCP server). The workers run as they do
in ``caas serve``: the relay, the payments worker, the Supabase sync and the notifications. Money
moves only through the in-process sandbox gateway, which answers the transfer and the charge and posts
its signed webhooks back to the platform's ``/webhooks/paystack``. Nothing is arranged with SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, make_jwt
from tests.helpers.confirm import person_confirms
from tests.helpers.payments import platform_over_http
from tests.helpers.providers import ONBOARD, provider_body
from tests.helpers.risk import APPROVE, APPROVE_BUREAU, SCORE, SUBMIT, body, uid, verify_kyc
from tools.platform.principal import Principal, Role

CURRENCY = "KES"  # paystack first on the default routes
PATIENCE = 90.0  # seconds: how long the workers may take, not a speed requirement


class HttpActors:
    """Client-like: ``call_tool`` goes over HTTP as whoever ``__call__`` last named (the test helpers
    written for the in-memory client take it as client and principal switch alike)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.token = SERVICE_KEY

    def __call__(self, subject: str, role: Role, provider_id: str | None = None) -> Principal:
        if role is Role.SERVICE:
            self.token = SERVICE_KEY
            return Principal("onasis-mcp", role)
        self.token = make_jwt(subject, role=role.value, provider_id=provider_id)
        return Principal(subject, role, provider_id)

    async def call_tool(self, name: str, args: dict[str, Any], raise_on_error: bool = True) -> Any:
        # The person behind each token answers yes when a money move asks them.
        async with Client(f"{self.url}/mcp", auth=self.token, elicitation_handler=person_confirms) as client:
            return await client.call_tool(name, args, raise_on_error=raise_on_error)


async def call(actors: HttpActors, tool: str, args: dict[str, Any]) -> Any:
    result = await actors.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, (tool, result.structured_content)
    return result.structured_content


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll until ``check`` returns something truthy: the workers and webhooks run on their own."""
    with anyio.move_on_after(PATIENCE):
        while True:
            found = await check()
            if found:
                return found
            await anyio.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
async def platform(runtime: Runtime) -> AsyncIterator[HttpActors]:
    """The composed server over HTTP, the sandbox's webhooks aimed at it, and the workers running."""
    async with platform_over_http(runtime) as url:
        # A task, not a task group: the fixture's setup and teardown run in different tasks.
        workers = asyncio.create_task(runtime.workers.run())
        try:
            yield HttpActors(url)
        finally:
            workers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await workers


@pytest.mark.slow
async def test_an_application_reaches_its_first_repayment_through_tools_webhooks_and_workers(
    platform: HttpActors, runtime: Runtime, country: str
) -> None:
    as_ = platform
    lender = await onboard_the_only_lender_of_the_market(as_, country)
    app, borrower = await submit_and_score_an_application_then_invite_lenders(as_, country, lender)
    loan = await the_lenders_bid_is_accepted_approved_and_becomes_a_loan(as_, app, lender, borrower)
    active = await the_disbursement_webhook_activates_the_loan(as_, runtime, loan)
    await the_borrower_pays_the_first_installment_on_the_vendors_page(as_, borrower, loan, active)
    await the_ledger_reconciles(as_)
    await the_supabase_mirror_shows_every_step_in_order(runtime, app)
    await the_borrower_is_told_of_every_step_in_order(as_, borrower)


async def onboard_the_only_lender_of_the_market(as_: HttpActors, country: str) -> Any:
    """The one lender of the test's market (KES, ``country``)."""
    as_(uid("op-onboard"), Role.OPERATOR)
    terms = provider_body(currency=CURRENCY, countries=[country], min_amount="500.00")
    return (await call(as_, ONBOARD, {"provider": terms}))["provider"]


async def submit_and_score_an_application_then_invite_lenders(
    as_: HttpActors, country: str, lender: Any
) -> tuple[Any, Principal]:
    borrower = as_(uid("b-whole"), Role.BORROWER)
    application = body(40, currency=CURRENCY)
    application["applicant"] = {**application["applicant"], "country": country}
    app = await call(as_, SUBMIT, {"application": application})
    await verify_kyc(as_, as_, app, "national_id", "proof_of_income")  # type: ignore[arg-type]
    as_(uid("op-score"), Role.OPERATOR)
    scored = await call(as_, SCORE, {"application": app["reference"], "bureau": APPROVE_BUREAU})
    assert scored["application_status"] == "open_for_bids"
    as_(uid("op-match"), Role.OPERATOR)
    report = await call(as_, "providers_invite_providers", {"application": app["id"]})
    assert [r["provider_id"] for r in report["ranking"]] == [lender["id"]]
    return app, borrower


async def the_lenders_bid_is_accepted_approved_and_becomes_a_loan(
    as_: HttpActors, app: Any, lender: Any, borrower: Principal
) -> Any:
    as_(uid("lender-user"), Role.PROVIDER, lender["id"])
    bid = {
        "currency": CURRENCY,
        "amount": "250000.00",
        "annual_rate": "0.24",
        "term_months": 12,
        "origination_fee": "2500.00",
        "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
    }
    placed = await call(as_, "providers_place_bid", {"application": app["id"], "bid": bid})
    as_(borrower.subject, Role.BORROWER)
    accept = {"application": app["id"], "bid": placed["id"], "idempotency_key": f"accept-{uuid.uuid4()}"}
    await call(as_, "providers_accept_offer", accept)
    as_(uid("op-approve"), Role.OPERATOR)
    await call(as_, APPROVE, {"application": app["id"], "comment": "identity and income verified"})
    as_(uid("op-loans"), Role.OPERATOR)
    return await call(as_, "credit_originate_loan", {"application": app["id"]})


async def the_disbursement_webhook_activates_the_loan(as_: HttpActors, runtime: Runtime, loan: Any) -> Any:
    # The money goes out: a payment intent, the worker, the sandbox transfer, its signed webhook.
    disbursement = await call(
        as_, "payments_disburse_loan", {"loan": loan["id"], "idempotency_key": f"disburse-{uuid.uuid4()}"}
    )
    assert disbursement["simulated"] is True

    async def active() -> Any:
        as_(uid("op-watch"), Role.OPERATOR)
        found = await call(as_, "credit_get_loan", {"loan": loan["id"]})
        return found if found["status"] == "active" else None

    activated = await eventually(active, "the transfer webhook activates the loan")
    assert activated["disbursement_reference"] == disbursement["reference"]
    transfers = await _sandbox(runtime, "/sandbox/transfers", reference=disbursement["reference"])
    assert len(transfers) == 1  # one intent, one transfer
    assert transfers[0]["amount_minor"] == 25_000_000 - 250_000  # the fee is withheld
    return activated


async def the_borrower_pays_the_first_installment_on_the_vendors_page(
    as_: HttpActors, borrower: Principal, loan: Any, active: Any
) -> None:
    schedule = await call(as_, "credit_get_repayment_schedule", {"loan": loan["id"]})
    first = schedule["lines"][0]["total"]["amount"]
    as_(borrower.subject, Role.BORROWER)
    charge = await call(
        as_,
        "payments_collect_repayment",
        {"loan": loan["id"], "amount": first, "idempotency_key": f"collect-{uuid.uuid4()}"},
    )
    async with httpx.AsyncClient() as http:
        paid = await http.post(charge["authorization_url"], params={"outcome": "success"})
    assert paid.status_code == 200

    async def repaid() -> Any:
        as_(borrower.subject, Role.BORROWER)
        payment = await call(as_, "payments_get_payment", {"payment": charge["id"]})
        return payment if payment["status"] == "succeeded" else None

    await eventually(repaid, "the charge webhook settles the collection")
    after = await call(as_, "credit_get_loan", {"loan": loan["id"]})
    # Paid before its due date, the installment's amount settles installment 1 (its interest, then its
    # principal: issue 10, item 11), not principal of the last one.
    owed_before, owed_after = (Decimal(v["outstanding"]["principal"]["amount"]) for v in (active, after))
    assert owed_before - owed_after == Decimal(schedule["lines"][0]["principal"]["amount"])
    assert after["next_due"]["number"] == 2


async def the_ledger_reconciles(as_: HttpActors) -> None:
    as_(uid("op-recon"), Role.OPERATOR)
    reconciled = await call(as_, "admin_reconcile_ledger", {})
    assert (reconciled["consistent"], reconciled["differences"], reconciled["unbalanced_journals"]) == (
        True,
        [],
        [],
    )


async def the_supabase_mirror_shows_every_step_in_order(runtime: Runtime, app: Any) -> None:
    """The borrower's side: the application's status row and its activity feed."""
    assert runtime.targets is not None
    supa = await asyncpg.connect(runtime.targets.supabase)
    try:
        app_id = uuid.UUID(app["id"])

        async def mirrored() -> Any:
            row = await supa.fetchrow(
                "SELECT status, progress_percent, loan_status FROM public.application_status "
                "WHERE application_id = $1",
                app_id,
            )
            feed = await supa.fetch(
                "SELECT kind FROM public.user_activities WHERE application_id = $1 ORDER BY id", app_id
            )
            kinds = [r["kind"] for r in feed]
            return (row, kinds) if row and "loan.repayment_recorded" in kinds else None

        row, kinds = await eventually(mirrored, "the mirror shows the repayment")
        assert (row["status"], row["loan_status"], row["progress_percent"]) == ("disbursed", "active", 90)
        steps = [
            "application.submitted",
            "application.open_for_bids",
            "application.offer_accepted",
            "application.approved",
            "loan.originated",
            "application.disbursed",  # one transaction with the loan's activation, written first
            "loan.active",
            "loan.repayment_recorded",
        ]
        assert [k for k in kinds if k in steps] == steps
    finally:
        await supa.close()


async def the_borrower_is_told_of_every_step_in_order(as_: HttpActors, borrower: Principal) -> None:
    async def told() -> Any:
        as_(borrower.subject, Role.BORROWER)
        page = await call(as_, "notifications_list_notifications", {"limit": 50})
        kinds = [n["kind"] for n in reversed(page["items"])]
        return kinds if "repayment_received" in kinds else None

    kinds = await eventually(told, "the borrower is told of the repayment")
    assert kinds == [
        "application_received",
        "application_approved",
        "offer_received",
        "loan_disbursed",
        "repayment_received",
    ]


async def _sandbox(runtime: Runtime, path: str, **params: str) -> Any:
    assert runtime.sandbox is not None
    async with httpx.AsyncClient(base_url=runtime.sandbox.gateway_url, timeout=10) as http:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()
