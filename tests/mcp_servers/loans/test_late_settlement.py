"""A settlement quote paid a day late: the loan is settled but for a day's interest, never charged the
interest of installments it no longer has (a probe's find, fourteenth pass)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    AGE,
    QUOTE,
    RECONCILE,
    REPAY,
    SCHEDULE,
    active_loan,
    balance,
    call,
    money,
    paid_at,
)
from tests.helpers.payments import COLLECT
from tests.helpers.risk import uid
from tools.platform.principal import Role


async def repay(client: Client, loan: dict[str, Any], amount: str, clock: MovableClock) -> Any:
    args = {"loan": loan["id"], "amount": amount, "paid_at": paid_at(clock), "reference": uuid.uuid4().hex}
    return await call(client, REPAY, args)


async def test_a_quote_paid_a_day_late_leaves_one_days_interest_then_closes(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    clock.move(days=10)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    assert (quote["total"], quote["per_diem"]) == (money(25_164_384), money(16_438))
    clock.move(days=1)  # paid the next day: 250,000.00 at 24% for 11/365 is 1,808.22 of interest
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, quote["total"]["amount"], clock)
    assert (paid["loan_status"], paid["to_accrued_interest"]) == ("active", money(180_822))
    assert (paid["paid_ahead"], paid["prepaid_principal"]) == (money(0), money(25_000_000 - 16_438))
    days_left = (date.fromisoformat(loan["first_due_date"]) - clock.today()).days
    interest = int((16_438 * Decimal("0.24") * days_left / 365).to_integral_value(ROUND_HALF_UP))
    assert interest > 0  # interest on the day's shortfall to the first due date, and on nothing else
    assert paid["outstanding_after"] == money(16_438 + interest)
    assert any("settles the loan but for" in line for line in paid["summary"]), paid["summary"]
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert [line["status"] for line in lines[1:]] == ["cancelled"] * 11
    assert lines[0]["outstanding"]["principal"] == money(16_438)
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == 16_438
    assert await balance(core_db, "provider", "interest_income", provider["id"]) == 180_822

    principal(loan["borrower_id"], Role.BORROWER)
    rest = await call(client, QUOTE, {"loan": loan["id"]})
    # The shortfall alone: its interest since disbursement is within the interest already paid ahead.
    assert rest["total"] == money(16_438)
    principal(uid("svc"), Role.SERVICE)
    closed = await repay(client, loan, rest["total"]["amount"], clock)
    assert (closed["loan_status"], closed["credit"]) == ("closed", money(0))
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == 0
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_quote_paid_on_the_next_due_date_settles_the_loan_but_for_a_days_interest(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: quoted the day before installment 1 fell due, paid on it, the payment went
    ahead to installments 2-12 with their scheduled interest and left 28,747.28 owed."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days - 1)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    clock.move(days=1)
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, quote["total"]["amount"], clock)
    assert (paid["paid_ahead"], paid["loan_status"]) == (money(0), "active")
    assert (
        0
        < int(paid["outstanding_after"]["amount"].replace(".", ""))
        < 2 * int(quote["per_diem"]["amount"].replace(".", ""))
    )
    principal(loan["borrower_id"], Role.BORROWER)
    rest = await call(client, QUOTE, {"loan": loan["id"]})
    principal(uid("svc"), Role.SERVICE)
    assert (await repay(client, loan, rest["total"]["amount"], clock))["loan_status"] == "closed"
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_quote_good_across_a_due_date_closes_the_loan_on_its_last_day(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: a flat loan's quote good for 2 days across installment 2's due date said it
    settled the loan if paid by its last day; paid then, the loan stayed active owing 50,178.08."""
    loan, _ = await active_loan(client, principal, runtime, core_db, method="flat")
    principal(uid("op"), Role.OPERATOR)
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    clock.move(days=(date.fromisoformat(lines[0]["due_date"]) - clock.today()).days)
    principal(uid("svc"), Role.SERVICE)
    await repay(client, loan, lines[0]["total"]["amount"], clock)
    clock.move(days=(date.fromisoformat(lines[1]["due_date"]) - clock.today()).days - 1)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"], "valid_days": 2})
    clock.move(days=2)
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, quote["total"]["amount"], clock)
    assert paid["loan_status"] == "closed", paid["summary"]


async def test_a_quote_paid_one_unit_short_on_a_day_nothing_accrued_leaves_that_unit(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    # A probe's find: on the disbursement day the quote is the principal alone, and a payment one unit
    # short of it paid installments 1-11 ahead, 33,215.26 of their interest included: the borrower
    # still owed 33,678.80. It lacks one unit of principal, far less than that interest: a settlement.
    loan, provider = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    assert (quote["total"], quote["accrued_interest"]) == (money(25_000_000), money(0))
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, money(25_000_000 - 1)["amount"], clock)
    assert (paid["loan_status"], paid["paid_ahead"], paid["outstanding_after"]) == (
        "active",
        money(0),
        money(1),
    )
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert [line["status"] for line in lines[1:]] == ["cancelled"] * 11
    assert await balance(core_db, "provider", "interest_income", provider["id"]) == 0
    closed = await repay(client, loan, money(1)["amount"], clock)
    assert (closed["loan_status"], closed["credit"]) == ("closed", money(0))
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_payoff_short_by_the_interest_due_says_it_settles_and_cancels(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: 250,000.00 paid on installment 1's due date (no interest accrued that day) is a
    payoff short of installment 1's 5,000.00 of interest: it cancelled installments 3-12, and its
    summary said nothing of it."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days)
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, "250000.00", clock)
    assert (paid["loan_status"], paid["to_accrued_interest"]) == ("active", money(0))
    settles = [line for line in paid["summary"] if "settles the loan but for" in line]
    assert settles and "later installments are cancelled" in settles[0], paid["summary"]
    assert f"₦{Decimal(paid['outstanding_after']['amount']):,}" in settles[0]
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert [line["status"] for line in lines] == ["paid", "upcoming"] + ["cancelled"] * 10


async def test_a_quote_good_for_days_includes_a_late_fee_falling_due_within_them(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: a quote good for 7 days from two days past a due date, paid on its fifth day
    after aging charged installment 1's late fee, left the loan owing the fee (866.69 net)."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 2)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"], "valid_days": 7})
    assert any("includes the late fees aging charges" in line for line in quote["lines"]), quote["lines"]
    clock.move(days=5)
    principal(uid("op-aging"), Role.OPERATOR)
    fees = (await call(client, AGE, {}))["late_fees"]
    assert [f["installment"] for f in fees if f["loan_id"] == loan["id"]] == [1]
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, quote["total"]["amount"], clock)
    assert paid["loan_status"] == "closed" and paid["outstanding_after"] == money(0), paid["summary"]
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_todays_quote_is_what_settles_today_and_may_be_collected(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: a day past installment 1's grace period, before aging ran, today's quote counted
    the late fee aging had yet to charge: collect_repayment refused the quote's total (more than settles
    today), and recording it closed the loan with the fee as a credit."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 6)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    assert not any("late fees aging charges" in line for line in quote["lines"]), quote["lines"]
    collect = {"loan": loan["id"], "amount": quote["total"]["amount"], "idempotency_key": uuid.uuid4().hex}
    assert (await call(client, COLLECT, collect))["status"] == "sent"
    principal(uid("svc"), Role.SERVICE)
    paid = await repay(client, loan, quote["total"]["amount"], clock)
    assert (paid["loan_status"], paid["credit"]) == ("closed", money(0))
