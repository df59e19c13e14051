"""A defaulted loan whose arrears are all paid is cured: active again, and no longer written off while
current (a probe's find: it stayed defaulted for good and could be written off while current)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
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
    SCHEDULE,
    WRITE_OFF,
    call,
    defaulted,
    paid_at,
    refused,
)
from tests.helpers.risk import uid
from tests.mcp_servers.monitoring.test_benchmarks import benchmarks_of
from tools.platform.principal import Role

REASON = "borrower unreachable for four months; recovery agency returned the file"


async def repay(
    client: Client, principal: Any, loan: dict[str, Any], amount: str, clock: MovableClock
) -> Any:
    principal(uid("svc"), Role.SERVICE)
    args = {"loan": loan["id"], "amount": amount, "paid_at": paid_at(clock), "reference": uid("pay")}
    return await call(client, REPAY, args)


async def test_paying_every_arrear_cures_a_default_and_a_cured_loan_is_not_written_off(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan = await defaulted(client, principal, runtime, core_db, clock)
    overdue = (await call(client, GET_LOAN, {"loan": loan["id"]}))["overdue"]["amount"]
    part = await repay(client, principal, loan, "1000.00", clock)
    assert part["loan_status"] == "defaulted"  # a partial payment cures nothing
    rest = str(Decimal(overdue) - 1000)
    cured = await repay(client, principal, loan, rest, clock)
    assert (cured["loan_status"], cured["overdue_after"]["amount"]) == ("active", "0.00")
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["status"], view["days_past_due"]) == ("active", 0)
    assert view["defaulted_at"] is not None  # it defaulted: that stays on record
    last = view["timeline"][-1]
    assert (last["from_status"], last["to_status"]) == ("defaulted", "active")
    assert last["reason"].endswith("the default is cured"), last["reason"]
    principal(uid("admin"), Role.ADMIN)
    assert await refused(client, WRITE_OFF, {"loan": loan["id"], "reason": REASON}) == "conflict"
    principal(uid("op"), Role.OPERATOR)  # the lender's record still counts a loan that defaulted
    [row] = (await benchmarks_of(client, [loan["provider_id"]])).values()
    assert (row["loans"], row["defaulted"]) == (1, 1)
    book = await runtime.deps.loans.reader.book(uuid.UUID(loan["provider_id"]))  # commission pricing
    assert (book.loans, book.defaulted) == (1, 1)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_aging_cures_a_loan_left_defaulted_with_nothing_past_due(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A loan an earlier version left defaulted after its arrears were paid: the next aging cures it."""
    loan = await defaulted(client, principal, runtime, core_db, clock)
    overdue = (await call(client, GET_LOAN, {"loan": loan["id"]}))["overdue"]["amount"]
    await repay(client, principal, loan, overdue, clock)
    await core_db.execute(  # as the earlier version left it
        "UPDATE caas_core.loans SET status = 'defaulted', aged_on = NULL WHERE id = $1", loan["id"]
    )
    principal(uid("op-aging"), Role.OPERATOR)
    report = await call(client, AGE, {})
    moves = [(m["from_status"], m["to_status"]) for m in report["moves"] if m["loan_id"] == loan["id"]]
    assert moves == [("defaulted", "active")]
    [move] = [m for m in report["moves"] if m["loan_id"] == loan["id"]]
    assert move["reason"].endswith("the arrears were paid; the default is cured")
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "active"


async def test_neither_a_past_days_aging_nor_a_payment_dated_back_cures_a_default(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's finds: aging run for a day before the loan fell due wound it back to active ("the
    arrears were paid"); a payment dated before installment 2 fell due but recorded now (after aging
    charged it a late fee) was refused, and once allocable it would have cured the loan as of its date."""
    loan = await defaulted(client, principal, runtime, core_db, clock)
    principal(uid("op-aging"), Role.OPERATOR)
    report = await call(client, AGE, {"as_of": loan["first_due_date"]})
    assert not [m for m in report["moves"] if m["loan_id"] == loan["id"]]
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["status"], view["aged_on"]) == ("defaulted", clock.today().isoformat())
    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    day = date.fromisoformat(lines[1]["due_date"]) - timedelta(days=1)
    assert lines[1]["outstanding"]["fees"] != "0.00"  # charged by the aging that ran since
    principal(uid("svc"), Role.SERVICE)
    args = {
        "loan": loan["id"],
        "amount": "30000.00",
        "paid_at": f"{day}T10:00:00+00:00",
        "reference": uid("p"),
    }
    paid = await call(client, REPAY, args)
    assert paid["loan_status"] == "defaulted" and paid["overdue_after"] != "0.00"
    assert paid["allocation"][0]["installment"] == 1  # the oldest arrears first, then installment 2's fee
