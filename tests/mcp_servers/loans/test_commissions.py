"""Commission through MCP clients: a preview that stores nothing, the commission posted at disbursement
and on each repayment's interest per the provider's plan, a provider's statement and the platform's
revenue, both read from the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import every_page
from tests.helpers.ledger import post
from tests.helpers.loans import (
    COMMISSION,
    GET_LOAN,
    REPAY,
    REVENUE,
    STATEMENT,
    active_loan,
    balance,
    booked_on,
    call,
    lender,
    minor,
    money,
    paid_at,
    refused,
)
from tests.helpers.risk import uid
from tools.ledger.domain.chart import account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import posting_cursor
from tools.platform.cursor import keyset
from tools.platform.principal import Role

SHARING = {"commission_plan": {"interest_share": "0.10"}}  # 8.5% of the principal + 10% of the interest


async def stored(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM caas_ledger.journals), (SELECT count(*) FROM caas_core.loans), "
        "(SELECT count(*) FROM caas_audit.audit_log)"
    )
    return tuple(row)


async def test_a_preview_explains_the_plan_and_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    plain = await lender(client, principal)
    sharing = await lender(client, principal, **SHARING)
    before = await stored(core_db)
    principal(uid("op"), Role.OPERATOR)
    preview = await call(client, COMMISSION, {"provider": plain["id"], "amount": "250000.00"})
    assert (preview["upfront"], preview["interest_share"], preview["total"]) == (
        money(2_125_000), money(0), money(2_125_000),
    )  # fmt: skip
    assert [(x["label"], x["rate"], x["amount"]) for x in preview["lines"]] == [
        ("band 1", "0.085", money(2_125_000))
    ]
    assert preview["lines"][0]["explanation"] == "₦21,250.00: 8.5% of ₦250,000.00"
    assert preview["stored"] is False
    terms = {"amount": "250000.00", "annual_rate": "0.24", "term_months": 12}
    shared = await call(client, COMMISSION, {"provider": sharing["id"], **terms})
    # The schedule's interest is 33,678.79; 10% of it is 3,367.88.
    assert (shared["expected_interest"], shared["interest_share"]) == (money(3_367_879), money(336_788))
    assert shared["total"] == money(2_125_000 + 336_788)
    assert [x["label"] for x in shared["lines"]] == ["band 1", "interest share"]
    assert await stored(core_db) == before

    for args, code in (
        ({"provider": plain["id"], "amount": "1.001"}, "invalid_argument"),  # NGN has two decimals
        ({"provider": plain["id"], "amount": "100", "term_months": 12}, "invalid_argument"),  # no rate
        ({"provider": str(uuid.uuid4()), "amount": "100"}, "not_found"),
    ):
        assert await refused(client, COMMISSION, args) == code, args
    principal(uid("prov"), Role.PROVIDER, sharing["id"])  # previews are for staff, even of one's own plan
    assert (
        await refused(client, COMMISSION, {"provider": sharing["id"], "amount": "1000"})
        == "permission_denied"
    )
    principal(uid("b"), Role.BORROWER)
    assert (
        await refused(client, COMMISSION, {"provider": plain["id"], "amount": "1000"}) == "permission_denied"
    )


async def test_commission_accrues_at_disbursement_and_on_interest_and_the_ledger_reports_it(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db, provider=SHARING)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 1)
    principal(uid("svc"), Role.SERVICE)
    paid = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "23639.90", "paid_at": paid_at(clock), "reference": uid("pay")},
    )
    assert paid["commission"] == money(50_000)  # 10% of the 5,000.00 interest

    # The ledger books both on the database's day, which moving the clock does not change.
    booked = booked_on(loan)
    period = {
        "provider": provider["id"],
        "period_start": booked.isoformat(),
        "period_end": booked.isoformat(),
    }
    principal(uid("op"), Role.OPERATOR)
    statement = await call(client, STATEMENT, period)
    assert (statement["at_disbursement"], statement["interest_share"], statement["reversals"]) == (
        money(2_125_000), money(50_000), money(0),
    )  # fmt: skip
    assert (statement["total"], statement["postings"], statement["next_cursor"]) == (
        money(2_175_000),
        2,
        None,
    )
    assert [(x["kind"], x["loan_id"], x["amount"]) for x in statement["lines"]] == [
        ("disbursement", loan["id"], money(2_125_000)),
        ("interest_share", loan["id"], money(50_000)),
    ]
    yesterday = (booked - timedelta(days=1)).isoformat()
    empty = await call(client, STATEMENT, {**period, "period_start": yesterday, "period_end": yesterday})
    assert (empty["total"], empty["lines"]) == (money(0), [])
    assert await refused(client, STATEMENT, {**period, "provider": str(uuid.uuid4())}) == "not_found"
    days = {k: period[k] for k in ("period_start", "period_end")}
    revenue = await call(client, REVENUE, {"currency": "NGN", **days})
    # The providers come a page at a time: this one is on one of the pages.
    everyone = [
        x for p in await every_page(client, REVENUE, {"currency": "NGN", **days}) for x in p["by_provider"]
    ]
    assert {"provider_id": provider["id"], "commission": money(2_175_000)} in everyone
    assert len(everyone) == revenue["providers"]
    kinds = ("commission_at_disbursement", "commission_on_interest", "commission_reversals")
    assert sum(minor(revenue[k]) for k in kinds) == minor(revenue["commission"])
    assert minor(revenue["commission_on_interest"]) >= 50_000
    assert minor(revenue["total"]) == minor(revenue["commission"]) + minor(revenue["fee_income"])
    bad = {"currency": "NGN", "period_start": period["period_end"], "period_end": yesterday}
    assert await refused(client, REVENUE, bad) == "invalid_argument"  # the period ends before it starts
    assert await refused(client, REVENUE, {**days, "currency": "ZZZ"}) == "invalid_argument"
    principal(uid("prov"), Role.PROVIDER, provider["id"])  # a provider reads its own statement only
    assert await call(client, STATEMENT, period) == statement
    assert await refused(client, STATEMENT, {**period, "provider": str(uuid.uuid4())}) == "not_found"
    assert await refused(client, REVENUE, {"currency": "NGN", **days}) == "permission_denied"


def _commission(provider_id: str, minor_units: int, currency: str = "NGN") -> JournalDraft:
    """A commission journal as a disbursement posts it (tools.loans.domain.journals), for a loan the
    statement's line does not need to name."""
    return JournalDraft(
        JournalKind.COMMISSION,
        f"loan-{uuid.uuid4()}",
        "commission at disbursement",
        (
            debit(account("provider", "commission_expense", currency, provider_id), minor_units),
            credit(account("platform", "commission_income", currency), minor_units),
        ),
    )


async def test_a_statement_pages_its_lines_and_every_page_carries_the_whole_periods_totals(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    provider = await lender(client, principal)
    amounts = [10_000 + n for n in range(5)]
    # Three in one transaction share their posting time: the pages still split them by posting id.
    await post(runtime, *(_commission(provider["id"], a) for a in amounts[:3]))
    for a in amounts[3:]:
        await post(runtime, _commission(provider["id"], a))
    today = (await core_db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")).isoformat()
    period = {"provider": provider["id"], "period_start": today, "period_end": today}
    principal(uid("op"), Role.OPERATOR)

    whole = await call(client, STATEMENT, period)  # the default page holds all five
    assert [minor(x["amount"]) for x in whole["lines"]] == amounts and whole["next_cursor"] is None
    pages = await every_page(client, STATEMENT, {**period, "limit": 2})
    assert [len(p["lines"]) for p in pages] == [2, 2, 1]
    assert [minor(x["amount"]) for p in pages for x in p["lines"]] == amounts  # oldest first, none twice
    for p in pages:  # every page: the period's totals and count, not the page's
        assert (minor(p["total"]), p["postings"]) == (sum(amounts), 5)
        assert p["at_disbursement"] == whole["at_disbursement"]

    before = await stored(core_db)
    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 101}):
        assert await refused(client, STATEMENT, {**period, **bad}) == "invalid_argument"
    assert await stored(core_db) == before


async def test_the_revenue_report_pages_its_providers_largest_first_with_the_periods_totals(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # Shillings: no other test books commission in KES, so these five providers are the period's all.
    owners = sorted(str(uuid.uuid4()) for _ in range(5))
    amounts = dict(zip(owners, (30_000, 50_000, 50_000, 10_000, 90_000), strict=True))
    await post(runtime, *(_commission(owner, minor_units, "KES") for owner, minor_units in amounts.items()))
    today = (await core_db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")).isoformat()
    period = {"currency": "KES", "period_start": today, "period_end": today}
    principal(uid("op"), Role.OPERATOR)

    pages = await every_page(client, REVENUE, {**period, "limit": 2})
    assert [len(p["by_provider"]) for p in pages] == [2, 2, 1]
    got = [(x["provider_id"], minor(x["commission"])) for p in pages for x in p["by_provider"]]
    # Largest first; a tie in amount by provider id, the larger first: every provider once.
    assert got == sorted(amounts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    for p in pages:  # every page: the period's totals and the count of providers, not the page's
        assert (minor(p["commission"]), p["providers"]) == (sum(amounts.values()), 5)
    whole = await call(client, REVENUE, period)
    assert len(whole["by_provider"]) == 5 and whole["next_cursor"] is None

    # Another list's position, not this one's: a ledger statement's.
    statement_cursor = posting_cursor(keyset("account_postings"), (datetime.now(UTC), 1))
    for bad in ({"cursor": "not-a-cursor"}, {"cursor": statement_cursor}, {"limit": 0}, {"limit": 101}):
        assert await refused(client, REVENUE, {**period, **bad}) == "invalid_argument"


async def test_a_reversed_commission_leaves_the_loan_as_well_as_the_ledger(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """The loan row shows the commission earned and caps the interest shares by it: a reversal that
    moved only the ledger left the loan claiming a commission the platform had given back."""
    loan, provider = await active_loan(client, principal, runtime, core_db)
    journal = await core_db.fetchval(
        "SELECT id FROM caas_ledger.journals WHERE kind = 'commission' AND source_id = $1", loan["id"]
    )
    principal("admin-1", Role.ADMIN)
    reason = {"journal": str(journal), "reason": "commission waived for the pilot"}
    await call(client, "admin_reverse_journal", reason)
    principal(uid("op"), Role.OPERATOR)
    assert minor((await call(client, GET_LOAN, {"loan": loan["id"]}))["commission_earned"]) == 0
    assert await balance(core_db, "provider", "commission_expense", provider["id"]) == 0
