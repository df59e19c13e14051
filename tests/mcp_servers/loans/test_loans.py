"""Loans through MCP clients (real PostgreSQL): origination from an approved
application with an accepted bid (arranged in SQL: tests/helpers/loans.py), the schedule and APR,
disbursement, the ledger it posts, visibility, the schedule resource and refusals."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    GET_APPLICATION,
    GET_LOAN,
    ORIGINATE,
    RECONCILE,
    SCHEDULE,
    SUBMIT,
    accept_bid,
    approved_application,
    balance,
    call,
    decided_application,
    disburse,
    journals,
    lender,
    minor,
    originated,
    refused,
)
from tests.helpers.risk import body, uid
from tools.loans.domain.apr import disclose
from tools.loans.domain.loans import first_due_date
from tools.loans.domain.schedules import build_schedule
from tools.marketplace.domain.bids import installment_count
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.principal import Role


def expected_schedule(loan: dict[str, Any], *, fee: int, rate: str, term: int, freq: str, method: str) -> Any:
    return build_schedule(
        minor(loan["principal"]),
        loan["currency"],
        Decimal(rate),
        installment_count(term, freq),
        first_due_date(date.fromisoformat(loan["origination_date"]), freq),
        method=method,
        frequency=freq,
    )


async def test_an_approved_application_with_an_accepted_bid_becomes_a_loan_then_is_disbursed(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    provider = await lender(client, principal)
    app = await decided_application(client, principal, core_db)
    bid_id = await accept_bid(runtime, core_db, app, provider)
    principal(uid("op-loans"), Role.OPERATOR)
    loan = await call(client, ORIGINATE, {"application": app["reference"]})
    await the_loan_has_the_bids_terms_its_schedule_and_disclosure(client, app, bid_id, loan, clock)
    await originating_again_replays_the_one_loan(client, core_db, app, loan)
    await disbursing_activates_it_and_posts_its_journals_once(
        client, principal, runtime, core_db, app, provider, loan
    )


async def the_loan_has_the_bids_terms_its_schedule_and_disclosure(
    client: Client, app: dict[str, Any], bid_id: uuid.UUID, loan: dict[str, Any], clock: MovableClock
) -> None:
    assert (loan["status"], loan["application_id"], loan["bid_id"]) == (
        "pending_disbursement",
        app["id"],
        str(bid_id),
    )
    assert (loan["principal"], loan["origination_fee"]) == (
        {"amount": "250000.00", "currency": "NGN"},
        {"amount": "5000.00", "currency": "NGN"},
    )
    assert loan["origination_date"] == clock.today().isoformat()
    assert loan["first_due_date"] == first_due_date(clock.today(), "monthly").isoformat()
    plan = expected_schedule(loan, fee=500_000, rate="0.24", term=12, freq="monthly", method="annuity")
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    got = [
        (line["due_date"], minor(line["principal"]), minor(line["interest"])) for line in schedule["lines"]
    ]
    assert got == [(i.due_date.isoformat(), i.principal, i.interest) for i in plan.installments]
    assert sum(minor(line["total"]) for line in schedule["lines"]) == 25_000_000 + plan.total_interest
    assert minor(schedule["total_of_payments"]) == plan.total_of_payments == minor(loan["total_of_payments"])
    assert {line["status"] for line in schedule["lines"]} == {"upcoming"}
    disclosed = disclose(plan, prepaid_finance_charge=500_000, loan_date=clock.today())
    assert Decimal(loan["disclosure"]["apr"]) == disclosed.apr > Decimal("0.24")
    assert Decimal(loan["disclosure"]["apr_percent"]) == disclosed.apr_percent
    assert (
        loan["net_disbursement"]
        == loan["disclosure"]["amount_financed"]
        == {"amount": "245000.00", "currency": "NGN"}
    )


async def originating_again_replays_the_one_loan(
    client: Client, core_db: asyncpg.Connection, app: dict[str, Any], loan: dict[str, Any]
) -> None:
    again = await call(client, ORIGINATE, {"application": app["id"]})
    assert (again["id"], again["replayed"]) == (loan["id"], True)
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.loans WHERE application_id = $1", uuid.UUID(app["id"])
        )
        == 1
    )


async def disbursing_activates_it_and_posts_its_journals_once(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    app: dict[str, Any],
    provider: dict[str, Any],
    loan: dict[str, Any],
) -> None:
    reference = f"trf-{uuid.uuid4().hex[:10]}"
    active = await disburse(runtime, loan, reference)
    assert (active["status"], active["disbursement_reference"]) == ("active", reference)
    assert [t["to_status"] for t in active["timeline"]] == ["pending_disbursement", "active"]
    assert (await call(client, GET_APPLICATION, {"application": app["id"]}))["status"] == "disbursed"
    commission = 2_125_000  # 8.5% of 250,000.00, the default plan
    assert minor(active["commission_earned"]) == commission
    assert await journals(core_db, loan["id"], f"origination-fee:{loan['id']}") == [
        ("commission", loan["id"]),
        ("disbursement", loan["id"]),
        ("fee", f"origination-fee:{loan['id']}"),
    ]
    p = provider["id"]
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == 25_000_000
    assert await balance(core_db, "provider", "capital_reserved", p) == 0  # the reservation became the loan
    assert await balance(core_db, "provider", "fee_income", p) == 500_000
    assert await balance(core_db, "provider", "commission_expense", p) == commission
    row_capital = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(p)
    )
    assert row_capital == await balance(core_db, "provider", "capital_available", p)  # what matching reads
    replay = await disburse(runtime, loan, reference)  # the webhook delivered twice
    assert (replay["replayed"], minor(replay["commission_earned"])) == (True, commission)
    assert await balance(core_db, "provider", "commission_expense", p) == commission
    assert row_capital == await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(p)
    )
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


@pytest.mark.parametrize(
    ("rate", "term", "freq", "method"),
    [
        ("0.18", 6, "monthly", "flat"),
        ("0.30", 9, "biweekly", "declining_balance"),
        ("0.24", 3, "weekly", "annuity"),
        ("0", 12, "monthly", "annuity"),
    ],
)
async def test_every_method_and_frequency_sums_exactly_and_a_zero_rate_works(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    rate: str,
    term: int,
    freq: str,
    method: str,
) -> None:
    terms = {"annual_rate": rate, "term_months": term, "frequency": freq, "method": method}
    loan, _ = await originated(
        client, principal, runtime, core_db, amount_minor=10_000_001, fee_minor=0, **terms
    )
    plan = expected_schedule(loan, fee=0, rate=rate, term=term, freq=freq, method=method)
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert len(lines) == loan["installments"] == installment_count(term, freq)
    assert [(minor(x["principal"]), minor(x["interest"])) for x in lines] == [
        (i.principal, i.interest) for i in plan.installments
    ]
    assert sum(minor(x["principal"]) for x in lines) == 10_000_001
    assert sum(minor(x["total"]) for x in lines) == minor(loan["total_of_payments"]) == plan.total_of_payments
    assert minor(lines[-1]["balance_after"]) == 0
    if rate == "0":  # no interest, no fee: the APR is zero and every installment repays principal only
        assert (Decimal(loan["disclosure"]["apr"]), minor(loan["total_interest"])) == (0, 0)


async def test_origination_needs_an_approved_application_with_an_accepted_bid_and_stores_nothing_else(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    provider = await lender(client, principal)
    principal(uid("b"), Role.BORROWER)
    submitted = await call(client, SUBMIT, {"application": body()})
    approved = await approved_application(client, principal, core_db)
    before = await core_db.fetchval("SELECT count(*) FROM caas_core.loans")
    principal(uid("op"), Role.OPERATOR)
    assert await refused(client, ORIGINATE, {"application": submitted["id"]}) == "conflict"
    assert await refused(client, ORIGINATE, {"application": approved["id"]}) == "conflict"  # no accepted bid
    assert await refused(client, ORIGINATE, {"application": str(uuid.uuid4())}) == "not_found"
    assert await refused(client, ORIGINATE, {"application": ""}) == "invalid_argument"
    await accept_bid(runtime, core_db, approved, provider)
    principal(approved["borrower_id"], Role.BORROWER)
    assert await refused(client, ORIGINATE, {"application": approved["id"]}) == "permission_denied"
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.loans") == before


async def test_disbursement_is_checked_and_idempotent_by_gateway_reference(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await originated(client, principal, runtime, core_db)
    journals_before = await core_db.fetchval("SELECT count(*) FROM caas_ledger.journals")
    wrong = {**loan, "net_disbursement": {"amount": "250000.00", "currency": "NGN"}}
    with pytest.raises(InvalidArgument):  # the fee is withheld: the gateway pays out 245,000.00
        await disburse(runtime, wrong)
    with pytest.raises(InvalidArgument):
        await disburse(runtime, {**loan, "net_disbursement": {"amount": "245000.00", "currency": "KES"}})
    assert await core_db.fetchval("SELECT count(*) FROM caas_ledger.journals") == journals_before
    first = f"trf-{uuid.uuid4().hex[:10]}"
    done = await disburse(runtime, loan, first)
    with pytest.raises(Conflict):  # a second payout under another reference
        await disburse(runtime, loan, f"trf-{uuid.uuid4().hex[:10]}")
    other, _ = await originated(client, principal, runtime, core_db)
    with pytest.raises(Conflict):  # one reference, one loan
        await disburse(runtime, other, first)
    assert done["status"] == "active"
    assert (await call(client, GET_LOAN, {"loan": other["id"]}))["status"] == "pending_disbursement"


async def test_each_party_sees_only_its_loans_and_the_schedule_resource_matches_the_tool(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await originated(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    mine = await call(client, GET_LOAN, {"loan": loan["application_reference"]})  # by the application, too
    assert mine["id"] == loan["id"]
    tool = await call(client, SCHEDULE, {"loan": loan["id"]})
    contents = await client.read_resource(f"caas://loans/{loan['id']}/schedule")
    assert json.loads(contents[0].text) == tool
    async with Client(build_server(runtime, "credit")) as alone:  # one address, alone or composed
        assert json.loads((await alone.read_resource(f"caas://loans/{loan['id']}/schedule"))[0].text) == tool
    principal(uid("b-other"), Role.BORROWER)
    assert await refused(client, GET_LOAN, {"loan": loan["id"]}) == "not_found"
    with pytest.raises(Exception, match="not_found"):
        await client.read_resource(f"caas://loans/{loan['id']}/schedule")
    principal(uid("agent"), Role.AGENT)  # an agent sees the loans of applications it filed, not this one
    assert await refused(client, SCHEDULE, {"loan": loan["id"]}) == "not_found"
    principal(uid("prov-user"), Role.PROVIDER, provider["id"])  # the provider that made the loan
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["id"] == loan["id"]
    assert json.loads((await client.read_resource(f"caas://loans/{loan['id']}/schedule"))[0].text) == tool
    principal(uid("prov-user"), Role.PROVIDER, str(uuid.uuid4()))  # any other provider
    assert await refused(client, GET_LOAN, {"loan": loan["id"]}) == "not_found"
    with pytest.raises(Exception, match="not_found"):
        await client.read_resource(f"caas://loans/{loan['id']}/schedule")
    principal(uid("op"), Role.OPERATOR)
    assert await refused(client, GET_LOAN, {"loan": "not-a-loan"}) == "not_found"
