"""Aging through MCP clients: days past due and buckets, a late fee once per installment (also when two
runs overlap), delinquency cured by a repayment, default past the threshold, and write-off by an admin.

Policy in the tests: the defaults (5% of what the installment owes, 5 days' grace, default beyond 90
days past due). The first installment of the test loan is 23,639.90, so its late fee is 1,182.00
(1,181.995 rounded half-up)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    AGE,
    GET_LOAN,
    RECONCILE,
    REPAY,
    WRITE_OFF,
    active_loan,
    balance,
    call,
    money,
    paid_at,
    refused,
)
from tests.helpers.risk import uid
from tools.loans.aging import age_loans
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

LATE_FEE = 118_200
REASON = "borrower unreachable for four months; recovery agency returned the file"


def overdue_by(clock: MovableClock, loan: dict[str, Any], days: int) -> None:
    """Move the clock to ``days`` after the loan's first installment fell due."""
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + days)


def mine(report: dict[str, Any], loan: dict[str, Any], part: str) -> list[dict[str, Any]]:
    return [x for x in report[part] if x["loan_id"] == loan["id"]]


async def test_aging_puts_a_loan_in_its_bucket_charges_the_late_fee_once_and_a_repayment_cures_it(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    overdue_by(clock, loan, 10)
    principal(uid("op-aging"), Role.OPERATOR)
    report = await call(client, AGE, {})
    assert report["as_of"] == clock.today().isoformat() and report["loans_aged"] >= 1
    [aged] = mine(report, loan, "loans")
    assert (aged["status"], aged["days_past_due"], aged["bucket"], aged["overdue"]) == (
        "delinquent", 10, "1-30", money(2_363_990 + LATE_FEE),
    )  # fmt: skip
    [fee] = mine(report, loan, "late_fees")
    assert (fee["installment"], fee["amount"], fee["days_past_due"]) == (1, money(LATE_FEE), 10)
    assert "beyond the 5-day grace period" in fee["explanation"]
    assert [(m["from_status"], m["to_status"]) for m in mine(report, loan, "moves")] == [
        ("active", "delinquent")
    ]
    assert sum(report["buckets"].values()) == report["loans_aged"]

    again = await call(client, AGE, {})  # a second run changes nothing for this loan
    assert (mine(again, loan, "late_fees"), mine(again, loan, "moves")) == ([], [])
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == LATE_FEE
    assert await balance(core_db, "provider", "fee_income", provider["id"]) == 500_000 + LATE_FEE

    principal(uid("svc"), Role.SERVICE)
    paid = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "24821.90", "paid_at": paid_at(clock), "reference": uid("pay")},
    )
    assert [(a["component"], a["amount"]["amount"]) for a in paid["allocation"]] == [
        ("fee", "1182.00"),
        ("interest", "5000.00"),
        ("principal", "18639.90"),
    ]
    assert paid["loan_status"] == "active"  # the arrears are paid: cured
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["status"], view["days_past_due"], view["aging_bucket"]) == ("active", 0, "current")
    assert [t["to_status"] for t in view["timeline"]] == [
        "pending_disbursement",
        "active",
        "delinquent",
        "active",
    ]
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 0


async def test_buckets_follow_the_oldest_unpaid_installment(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    overdue_by(clock, loan, 45)
    principal(uid("op-aging"), Role.OPERATOR)
    [aged] = mine(await call(client, AGE, {}), loan, "loans")
    assert (aged["days_past_due"], aged["bucket"], aged["status"]) == (45, "31-60", "delinquent")
    # A run for an earlier day (a missed day caught up) never winds a loan aged since back to it.
    older = await call(client, AGE, {"as_of": (clock.today() - timedelta(days=40)).isoformat()})
    assert mine(older, loan, "loans") == []
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["days_past_due"], view["aging_bucket"], view["aged_on"]) == (45, "31-60", str(clock.today()))
    # Not aged since that day (as a loan the scheduler missed): the run ages it as of the day.
    await core_db.execute("UPDATE caas_core.loans SET aged_on = NULL WHERE id = $1", loan["id"])
    [then] = mine(await call(client, AGE, {"as_of": str(clock.today() - timedelta(days=40))}), loan, "loans")
    assert (then["days_past_due"], then["bucket"]) == (5, "1-30")
    assert (
        await refused(client, AGE, {"as_of": (clock.today() + timedelta(days=1)).isoformat()})
        == "invalid_argument"
    )
    principal(loan["borrower_id"], Role.BORROWER)
    assert await refused(client, AGE, {}) == "permission_denied"


async def test_overlapping_runs_charge_each_installment_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    overdue_by(clock, loan, 40)  # installments 1 and 2 are both beyond their grace
    scheduler = Invocation(Principal("scheduler", Role.SERVICE), "tests.age_loans", "0" * 64)
    reports = await asyncio.gather(*(age_loans(runtime.deps.loans, scheduler) for _ in range(3)))
    fees = [f for r in reports for f in r.late_fees if str(f.loan_id) == loan["id"]]
    assert sorted(f.installment for f in fees) == [1, 2]
    charged = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'fee' AND source_id LIKE $1",
        f"late-fee:{loan['id']}:%",
    )
    assert charged == 2


async def test_a_loan_defaults_past_the_threshold_and_only_an_admin_writes_it_off(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    overdue_by(clock, loan, 91)
    healthy, _ = await active_loan(client, principal, runtime, core_db)  # made today: nothing is due
    principal(uid("op-aging"), Role.OPERATOR)
    report = await call(client, AGE, {})
    assert [(m["from_status"], m["to_status"]) for m in mine(report, loan, "moves")] == [
        ("active", "delinquent"),
        ("delinquent", "defaulted"),
    ]
    [aged] = mine(report, loan, "loans")
    assert (aged["status"], aged["days_past_due"], aged["bucket"]) == ("defaulted", 91, "90+")
    fees = sum(int(f["amount"]["amount"].replace(".", "")) for f in mine(report, loan, "late_fees"))
    assert len(mine(report, loan, "late_fees")) == 3  # installments 1-3 are beyond their grace

    args = {"loan": loan["id"], "reason": REASON}
    assert await refused(client, WRITE_OFF, args) == "permission_denied"  # operators cannot
    principal(uid("admin"), Role.ADMIN)
    assert await refused(client, WRITE_OFF, {**args, "reason": "bad"}) == "invalid_argument"
    assert await refused(client, WRITE_OFF, {**args, "loan": healthy["id"]}) == "conflict"  # not defaulted
    done = await call(client, WRITE_OFF, args)
    assert (done["status"], done["write_off_reason"]) == ("written_off", REASON)
    assert done["written_off_at"] is not None
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == 0
    assert await balance(core_db, "loan", "fees_receivable", loan["id"]) == 0
    assert await balance(core_db, "provider", "credit_losses", provider["id"]) == 25_000_000 + fees
    assert await refused(client, WRITE_OFF, args) == "conflict"  # final
    principal(uid("svc"), Role.SERVICE)
    pay = {"loan": loan["id"], "amount": "100.00", "paid_at": paid_at(clock), "reference": uid("pay")}
    assert await refused(client, REPAY, pay) == "conflict"
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_current_loan_is_neither_examined_nor_touched(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    current, _ = await active_loan(client, principal, runtime, core_db)  # made today: nothing is due
    late, _ = await active_loan(client, principal, runtime, core_db)
    await core_db.execute(  # its first installment fell due yesterday and is unpaid
        "UPDATE caas_core.loan_installments SET due_date = $2 WHERE loan_id = $1 AND number = 1",
        late["id"],
        clock.today() - timedelta(days=1),
    )
    before = await core_db.fetchrow("SELECT * FROM caas_core.loans WHERE id = $1", current["id"])
    # Counted before the run, which changes what it ages.
    examined = await core_db.fetchval(
        "SELECT count(DISTINCT l.id) FROM caas_core.loans l "
        "LEFT JOIN caas_core.loan_installments i ON i.loan_id = l.id AND NOT i.cancelled "
        "AND i.settled_at IS NULL AND i.due_date < $1 "
        "WHERE l.status IN ('active', 'delinquent', 'defaulted') AND (l.aged_on IS NULL OR l.aged_on < $1) "
        "AND (i.loan_id IS NOT NULL OR l.status <> 'active' OR l.days_past_due > 0)",
        clock.today(),
    )
    servicing = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.loans WHERE status IN ('active', 'delinquent', 'defaulted')"
    )
    principal(uid("op-aging"), Role.OPERATOR)
    report = await call(client, AGE, {})
    assert mine(report, current, "loans") == []
    [aged] = mine(report, late, "loans")
    assert (aged["days_past_due"], aged["status"]) == (1, "delinquent")
    assert report["loans_aged"] <= report["loans_examined"]
    # Examined: the loans whose aging could change (the late one among them), not every loan repaid.
    assert report["loans_examined"] == examined < servicing
    after = await core_db.fetchrow("SELECT * FROM caas_core.loans WHERE id = $1", current["id"])
    assert after == before
    # Aged for today: the day's next run moves on through the book instead of ageing it again.
    again = await call(client, AGE, {})
    assert mine(again, late, "loans") == [] and again["loans_examined"] < report["loans_examined"]


async def test_the_hourly_job_ages_every_loan_due_then_finds_nothing_left_for_the_day(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    overdue_by(clock, loan, 3)
    [job] = [p for p in runtime.workers.periodic if p.name == "age_loans"]
    assert await job.run() >= 1  # type: ignore[operator]
    aged_on = await core_db.fetchval("SELECT aged_on FROM caas_core.loans WHERE id = $1", loan["id"])
    assert aged_on == clock.today()
    assert await job.run() == 0  # everything due today is aged: the loop ends
