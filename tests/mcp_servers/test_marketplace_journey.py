"""The whole marketplace journey through MCP tools (real PostgreSQL): a borrower
applies, an operator verifies the documents, scoring opens bidding, three matched lenders bid, the
borrower compares and accepts the best offer, an operator approves, the loan is originated, disbursed
(the use case the payments webhook will call), repaid twice, settled early and closed; the ledger then
reconciles, balances to zero per currency, and holds the commission the provider's plan sets.

The market lends ZAR in a country of the test's own (the ``country`` fixture, tests/helpers/markets.py),
so matching invites exactly the three lenders the test made there.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, COMPARE, INVITE, PLACE, as_borrower, as_provider, bid_body
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    GET_LOAN,
    ORIGINATE,
    QUOTE,
    RECONCILE,
    REPAY,
    SCHEDULE,
    balance,
    disburse,
    journals,
    minor,
    paid_at,
)
from tests.helpers.providers import ONBOARD, provider_body
from tests.helpers.risk import APPROVE, APPROVE_BUREAU, SCORE, SUBMIT, TIMELINE, body, uid, verify_kyc
from tools.loans.domain.commissions import DEFAULT_TERMS, disbursement_commission
from tools.platform.principal import Role

CURRENCY = "ZAR"
PRINCIPAL_MINOR = 25_000_000  # 250000.00 ZAR over 12 months


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, (tool, result.structured_content)
    return result.structured_content


async def lender(client: Client, principal: Any, country: str) -> dict[str, Any]:
    """A ZAR lender serving ``country`` on the default plan (8.5% of the principal), rates 18% to 30%."""
    principal(uid("op-onboard"), Role.OPERATOR)
    terms = provider_body(currency=CURRENCY, countries=[country], min_amount="500.00")
    return dict((await call(client, ONBOARD, {"provider": terms}))["provider"])


def money(minor_units: int) -> dict[str, str]:
    return {"amount": str(Decimal(minor_units).scaleb(-2).quantize(Decimal("0.01"))), "currency": CURRENCY}


@pytest.mark.slow
async def test_an_application_goes_from_submission_through_bidding_to_a_settled_loan(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    country: str,
) -> None:
    a, b, c = [await lender(client, principal, country) for _ in range(3)]
    app = await apply_and_open_bidding(client, principal, country, (a, b, c))
    best = await bid_and_compare(client, principal, app, (a, b, c))
    loan = await accept_approve_originate(client, principal, app, best)
    lendable, commission = await disburse_and_earn(runtime, core_db, loan, a)
    lines, quote, closed = await repay_and_settle(client, principal, core_db, clock, app, loan)
    await check_ledger(client, principal, core_db, (a, b, c), closed, lendable, commission, lines, quote)
    await check_timeline(client, principal, app)


async def apply_and_open_bidding(
    client: Client, principal: Any, country: str, lenders: tuple[Any, ...]
) -> Any:
    """The borrower applies from the test's country; an operator who uploaded nothing verifies identity
    and income; scoring opens bidding and matching invites exactly the three lenders."""
    borrower = principal(uid("b-journey"), Role.BORROWER)
    payload = body(40, currency=CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": payload})
    assert (app["status"], app["borrower_id"]) == ("submitted", borrower.subject)
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")

    principal(uid("op-score"), Role.OPERATOR)
    scored = await call(client, SCORE, {"application": app["reference"], "bureau": APPROVE_BUREAU})
    assert (scored["application_status"], scored["grade"]) == ("open_for_bids", "A"), scored

    principal(uid("op-match"), Role.OPERATOR)
    report = await call(client, INVITE, {"application": app["id"]})
    assert sorted(r["provider_id"] for r in report["ranking"]) == sorted(p["id"] for p in lenders)
    return app


async def bid_and_compare(client: Client, principal: Any, app: Any, lenders: tuple[Any, ...]) -> Any:
    """Three offers: A 24% annuity, no fee (APR 24.00%); B 22% with a 5000.00 fee (25.95%); C 20% flat
    (35.07%). The lowest nominal rate is not the cheapest loan."""
    a, b, c = lenders
    bids = {}
    for provider, terms in (
        (c, {"annual_rate": "0.20", "schedule_method": "flat"}),
        (b, {"annual_rate": "0.22", "origination_fee": "5000.00"}),
        (a, {"annual_rate": "0.24"}),
    ):
        as_provider(principal, provider["id"])
        bid = bid_body(currency=CURRENCY, **terms)
        bids[provider["id"]] = await call(client, PLACE, {"application": app["id"], "bid": bid})

    as_borrower(principal, app)
    comparison = await call(client, COMPARE, {"application": app["reference"]})
    offers = comparison["offers"]
    assert [o["bid"]["provider_id"] for o in offers] == [a["id"], b["id"], c["id"]]
    assert [o["rank"] for o in offers] == [1, 2, 3]
    assert [o["apr_percent"] for o in offers] == ["24.00", "25.95", "35.07"]
    assert Decimal(offers[0]["apr"]) == min(Decimal(o["apr"]) for o in offers)
    best = bids[a["id"]]
    assert comparison["best_bid_id"] == best["id"]
    assert comparison["explanation"].startswith(f"{a['name']} is best of 3 live offers: a lower APR: 24.00%")
    assert f"against 25.95% for {b['name']}" in comparison["explanation"]
    assert all(o["why"] for o in offers[1:])
    return best


async def accept_approve_originate(client: Client, principal: Any, app: Any, best: Any) -> Any:
    """The borrower accepts (a replay answers the same); an operator who neither verified, scored nor
    matched approves; another originates."""
    accept = {"application": app["id"], "bid": best["id"], "idempotency_key": f"accept-{uuid.uuid4()}"}
    accepted = await call(client, ACCEPT, accept)
    assert (accepted["application_status"], accepted["accepted"]["status"]) == ("offer_accepted", "accepted")
    assert accepted["capital_reserved"] == money(PRINCIPAL_MINOR)
    assert {o["status"] for o in accepted["other_bids"]} == {"rejected"}
    assert await call(client, ACCEPT, accept) == {**accepted, "replayed": True}

    principal(uid("op-approve"), Role.OPERATOR)
    approved = await call(
        client, APPROVE, {"application": app["id"], "comment": "income and identity verified"}
    )
    assert approved["status"] == "approved"
    principal(uid("op-loans"), Role.OPERATOR)
    loan = await call(client, ORIGINATE, {"application": app["id"]})
    assert (loan["status"], loan["bid_id"], loan["principal"]) == (
        "pending_disbursement",
        best["id"],
        money(PRINCIPAL_MINOR),
    )
    assert loan["net_disbursement"] == money(PRINCIPAL_MINOR)  # the best offer has no fee
    return loan


async def disburse_and_earn(
    runtime: Runtime, core_db: asyncpg.Connection, loan: Any, a: Any
) -> tuple[int, int]:
    """Disbursement activates the loan and books the plan's commission (8.5% of the principal)."""
    active = await disburse(runtime, loan)
    assert active["status"] == "active"
    lendable = await balance(core_db, "provider", "capital_available", a["id"], CURRENCY)
    expected_commission = disbursement_commission(DEFAULT_TERMS, PRINCIPAL_MINOR, CURRENCY)
    assert expected_commission == PRINCIPAL_MINOR * 85 // 1000 == 2_125_000
    assert minor(active["commission_earned"]) == expected_commission
    assert ("commission", loan["id"]) in await journals(core_db, loan["id"])
    expense = await balance(core_db, "provider", "commission_expense", a["id"], CURRENCY)
    assert expense == expected_commission
    return lendable, expected_commission


async def repay(client: Client, loan: Any, amount: str, clock: MovableClock) -> Any:
    args = {"loan": loan["id"], "amount": amount, "paid_at": paid_at(clock), "reference": uid("pay")}
    return await call(client, REPAY, args)


async def repay_and_settle(
    client: Client, principal: Any, core_db: asyncpg.Connection, clock: MovableClock, app: Any, loan: Any
) -> tuple[Any, Any, Any]:
    """Two installments fall due (the clock moves on) and are paid exactly; the borrower then settles
    early at the quoted amount and the loan closes."""
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    second_due = date.fromisoformat(lines[1]["due_date"])
    clock.move(days=(second_due - clock.today()).days + 1)
    principal(uid("svc-pay"), Role.SERVICE)
    for line, overdue_after in ((lines[0], lines[1]["total"]), (lines[1], money(0))):
        paid = await repay(client, loan, line["total"]["amount"], clock)
        assert (paid["loan_status"], paid["overdue_after"], paid["credit"]) == (
            "active",
            overdue_after,
            money(0),
        )
    paid_lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert [line["status"] for line in paid_lines[:3]] == ["paid", "paid", "upcoming"]

    principal(app["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    outstanding = PRINCIPAL_MINOR - sum(minor(line["principal"]) for line in lines[:2])
    assert minor(quote["principal"]) == outstanding
    principal(uid("svc-pay"), Role.SERVICE)
    settled = await repay(client, loan, quote["total"]["amount"], clock)
    assert (settled["loan_status"], settled["credit"]) == ("closed", money(0))
    closed = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (closed["status"], closed["outstanding"]["total"]) == ("closed", money(0))
    assert await balance(core_db, "loan", "principal_receivable", loan["id"], CURRENCY) == 0
    return lines, quote, closed


async def check_ledger(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    lenders: tuple[Any, ...],
    closed: Any,
    lendable: int,
    commission: int,
    lines: Any,
    quote: Any,
) -> None:
    """The ledger: consistent, zero per currency, and the commission is exactly the plan's."""
    principal(uid("op-recon"), Role.OPERATOR)
    reconciled = await call(client, RECONCILE, {})
    assert reconciled["consistent"] is True
    assert (reconciled["differences"], reconciled["unbalanced_journals"]) == ([], [])
    unbalanced = await core_db.fetch(
        "SELECT currency, sum(amount_minor) AS net FROM caas_ledger.postings GROUP BY currency "
        "HAVING sum(amount_minor) <> 0"
    )
    assert [tuple(r) for r in unbalanced] == []
    a = lenders[0]
    assert await balance(core_db, "provider", "commission_expense", a["id"], CURRENCY) == commission
    # What the borrower paid went on to the lender as it came in, less the platform's interest share.
    interest_share = minor(closed["commission_earned"]) - commission
    paid_total = sum(minor(line["total"]) for line in lines[:2]) + minor(quote["total"])
    settled = await balance(core_db, "provider", "capital_available", a["id"], CURRENCY) - lendable
    assert settled == paid_total - interest_share
    for provider in lenders:  # matching reads the row: it must hold what the ledger says is free to lend
        row = await core_db.fetchval(
            "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(provider["id"])
        )
        assert row == await balance(core_db, "provider", "capital_available", provider["id"], CURRENCY)


async def check_timeline(client: Client, principal: Any, app: Any) -> None:
    """Submission creates the application already submitted (no stored draft step), then each move."""
    as_borrower(principal, app)
    entries = (await call(client, TIMELINE, {"application": app["id"]}))["entries"]
    assert [(e["from_status"], e["to_status"]) for e in entries] == [
        (None, "submitted"),
        ("submitted", "open_for_bids"),
        ("open_for_bids", "offer_accepted"),
        ("offer_accepted", "approved"),
        ("approved", "disbursed"),
    ]
    moments = [e["occurred_at"] for e in entries]
    assert moments == sorted(moments)
