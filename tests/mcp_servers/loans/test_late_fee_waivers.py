"""A late fee charged only because a payment was recorded late is waived: the payment, dated within the
installment's grace period, pays its interest and principal and not the fee, the fee's journal is
reversed, and the borrower is current. A payment dated after the grace period, or short of the
installment, pays the fee as before.

Policy in the tests: 5% of what the installment owes, 5 days' grace. The test loan's installments are
23,639.90 (5,000.00 interest and 18,639.90 principal first), so a late fee is 1,182.00.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import AGE, GET_LOAN, QUOTE, RECONCILE, REPAY, SCHEDULE, active_loan, balance, call
from tests.helpers.notifications import inbox, settle
from tests.helpers.risk import uid
from tools.platform.principal import Role

LATE_FEE = 118_200
ORIGINATION_FEE = 500_000


async def charged(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, clock: MovableClock, days: int
) -> tuple[dict[str, Any], dict[str, Any], list[date]]:
    """An active loan ``days`` after its first due date, aged: a late fee on each installment past its
    grace period. The installments' due dates."""
    loan, provider = await active_loan(client, principal, runtime, db)
    first = date.fromisoformat(loan["first_due_date"])
    clock.move(days=(first - clock.today()).days + days)
    principal(uid("op-aging"), Role.OPERATOR)
    await call(client, AGE, {})
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    return loan, provider, [date.fromisoformat(line["due_date"]) for line in schedule["lines"]]


async def repay(client: Client, principal: Any, loan: dict[str, Any], amount: str, on: date) -> Any:
    principal(uid("svc"), Role.SERVICE)
    # The start of the day: a payment dated today is never ahead of the clock, whatever the hour.
    at = datetime.combine(on, time(0), UTC).isoformat()
    args = {"loan": loan["id"], "amount": amount, "paid_at": at, "reference": uid("pay")}
    return await call(client, REPAY, args)


def allocated(paid: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(a["component"], a["installment"], a["amount"]["amount"]) for a in paid["allocation"]]


async def waivers(db: asyncpg.Connection, loan: dict[str, Any]) -> list[str]:
    """The reversed late-fee journals' source ids."""
    rows = await db.fetch(
        "SELECT f.source_id FROM caas_ledger.journals r "
        "JOIN caas_ledger.journals f ON f.id = r.reverses_journal_id "
        "WHERE f.kind = 'fee' AND f.source_id LIKE $1 ORDER BY f.source_id",
        f"late-fee:{loan['id']}:%",
    )
    return [r["source_id"] for r in rows]


async def test_a_payment_made_in_the_grace_period_but_recorded_late_does_not_pay_the_late_fee(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider, due = await charged(client, principal, runtime, core_db, clock, 10)
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == LATE_FEE

    paid = await repay(client, principal, loan, "23639.90", due[0] + timedelta(days=3))
    assert allocated(paid) == [("interest", 1, "5000.00"), ("principal", 1, "18639.90")]
    assert paid["loan_status"] == "active"  # it was never really late
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 0
    assert await balance(core_db, "provider", "fee_income", provider["id"]) == ORIGINATION_FEE
    assert await waivers(core_db, loan) == [f"late-fee:{loan['id']}:1"]
    said = await core_db.fetchval(
        "SELECT payload ->> 'reason' FROM caas_core.outbox WHERE event_type = 'loan.late_fees_waived' "
        "AND aggregate_id = $1",
        loan["id"],
    )
    assert said.startswith("late fee(s) on installment(s) 1 waived") and "within the 5-day grace" in said
    principal(uid("op"), Role.OPERATOR)
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["status"], view["overdue"]["amount"]) == ("active", "0.00")
    assert (await call(client, RECONCILE, {"full": True}))["consistent"] is True
    await settle(runtime)
    told = [n["kind"] for n in await inbox(client, principal, loan["borrower_id"])]
    assert told.index("late_fee") < told.index("late_fee_waived")  # told of the fee, then of its waiver


async def test_of_two_late_fees_only_the_one_the_payment_was_on_time_for_is_waived(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _, due = await charged(client, principal, runtime, core_db, clock, 45)
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 2 * LATE_FEE
    # Two days after the second due date: the first installment was long overdue, the second in grace.
    paid = await repay(client, principal, loan, "48461.80", due[1] + timedelta(days=2))
    assert [(c, n) for c, n, _ in allocated(paid)] == [
        ("fee", 1),
        ("interest", 1),
        ("principal", 1),
        ("interest", 2),
        ("principal", 2),
    ]
    assert await waivers(core_db, loan) == [f"late-fee:{loan['id']}:2"]
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 0


async def test_a_payment_after_the_grace_period_or_short_of_the_installment_pays_the_fee(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    late, _, due = await charged(client, principal, runtime, core_db, clock, 10)
    paid = await repay(client, principal, late, "24821.90", due[0] + timedelta(days=6))
    assert allocated(paid)[0] == ("fee", 1, "1182.00")

    short, _, due = await charged(client, principal, runtime, core_db, clock, 10)
    paid = await repay(client, principal, short, "20000.00", due[0] + timedelta(days=1))
    assert allocated(paid)[0] == ("fee", 1, "1182.00")  # on time, but it did not pay the installment
    assert await waivers(core_db, late) == await waivers(core_db, short) == []
    assert uuid.UUID(paid["loan_id"]) == uuid.UUID(short["id"])


async def test_a_fee_stays_when_part_of_the_installment_was_paid_after_the_grace_period(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    # 12,000.00 paid (and recorded) on day 7, after the grace period; aging on day 10 charges 5% of the
    # 11,639.90 still owed. The rest, dated day 3, arrives later: at the end of the grace period only it
    # was paid, so the installment was late and the fee earned.
    loan, provider = await active_loan(client, principal, runtime, core_db)
    first = date.fromisoformat(loan["first_due_date"])
    clock.move(days=(first - clock.today()).days + 7)
    await repay(client, principal, loan, "12000.00", first + timedelta(days=7))
    clock.move(days=3)
    principal(uid("op-aging"), Role.OPERATOR)
    await call(client, AGE, {})
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 58_200
    paid = await repay(client, principal, loan, "11639.90", first + timedelta(days=3))
    assert allocated(paid)[0] == ("fee", 1, "582.00")
    assert await waivers(core_db, loan) == []
    assert await balance(core_db, "provider", "fee_income", provider["id"]) == ORIGINATION_FEE + 58_200


async def test_quotes_for_a_day_in_grace_say_what_recording_that_payment_does(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: both quotes for a day in the grace period included the fee the payment would not
    pay, so paying the settlement quote left a credit and the prepayment quote's allocation was not the
    repayment's."""
    loan, _, due = await charged(client, principal, runtime, core_db, clock, 10)
    day = (due[0] + timedelta(days=3)).isoformat()
    principal(uid("op"), Role.OPERATOR)
    preview = await call(
        client, "credit_quote_prepayment", {"loan": loan["id"], "amount": "23639.90", "as_of": day}
    )
    assert allocated(preview) == [("interest", 1, "5000.00"), ("principal", 1, "18639.90")]
    quote = await call(client, QUOTE, {"loan": loan["id"], "as_of": day})
    assert quote["fees"]["amount"] == "0.00"
    paid = await repay(client, principal, loan, quote["total"]["amount"], due[0] + timedelta(days=3))
    assert (paid["loan_status"], paid["credit"]["amount"]) == ("closed", "0.00")
    # A window reaching past the grace period is good on its last day too: the fee is in it.
    late, _, due = await charged(client, principal, runtime, core_db, clock, 10)
    principal(uid("op"), Role.OPERATOR)
    args = {"loan": late["id"], "as_of": (due[0] + timedelta(days=3)).isoformat(), "valid_days": 3}
    assert (await call(client, QUOTE, args))["fees"]["amount"] == "1182.00"
