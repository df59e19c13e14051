"""A written-off loan, as every view shows it through an MCP client: it owes nothing and nothing of it is
due or overdue; what its installments still owed at the write-off is shown as written off (principal
and fees exactly the write_off journal's credit loss), and what was paid before stays paid.

The loan (250,000.00 NGN, 24%, 12 monthly installments of 23,639.90) is paid 33,639.90 on its first
day: installment 1 in full, 10,000.00 of installment 2 (its 4,627.20 interest, then 5,372.80 of its
principal). It is then aged 91 days past installment 2's due date, defaults and is written off."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    AGE,
    GET_LOAN,
    REPAY,
    SCHEDULE,
    WRITE_OFF,
    active_loan,
    balance,
    call,
    minor,
    money,
    paid_at,
)
from tests.helpers.risk import uid
from tools.platform.principal import Role

LIST = "credit_list_loans"
REASON = "borrower unreachable for four months; recovery agency returned the file"
PAID_FIRST_DAY = 3_363_990


def total(amounts: dict[str, Any]) -> int:
    return minor(amounts["total"])


async def written_off_loan(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, clock: MovableClock
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loan, provider): the module docstring's loan, written off by an admin."""
    loan, provider = await active_loan(client, principal, runtime, db)
    principal(uid("svc"), Role.SERVICE)
    pay = {"loan": loan["id"], "amount": "33639.90", "paid_at": paid_at(clock), "reference": uid("pay")}
    await call(client, REPAY, pay)
    principal(uid("op"), Role.OPERATOR)
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    second_due = date.fromisoformat(schedule["lines"][1]["due_date"])
    clock.move(days=(second_due - clock.today()).days + 91)
    report = await call(client, AGE, {})
    assert [x["status"] for x in report["loans"] if x["loan_id"] == loan["id"]] == ["defaulted"]
    principal(uid("admin"), Role.ADMIN)
    await call(client, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
    return loan, provider


async def test_a_written_off_loan_owes_nothing_and_shows_what_was_written_off(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await written_off_loan(client, principal, runtime, core_db, clock)
    credit_loss = await balance(core_db, "provider", "credit_losses", provider["id"])
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["status"], view["write_off_reason"]) == ("written_off", REASON)
    assert total(view["outstanding"]) == 0 and view["overdue"] == money(0)
    assert (view["next_due"], view["days_past_due"]) == (None, 0)
    gone = view["written_off"]
    # Principal and fees are exactly what the write_off journal moved to the lender's credit loss.
    assert minor(gone["principal"]) + minor(gone["fees"]) == credit_loss > 0
    assert minor(gone["principal"]) == 25_000_000 - (2_363_990 - 500_000) - 537_280
    assert gone["interest"] != money(0)  # the unpaid interest is forgone with it
    resource = json.loads((await client.read_resource(f"caas://loans/{loan['id']}"))[0].text)
    assert resource["written_off"] == gone and resource["outstanding"] == view["outstanding"]

    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    lines = schedule["lines"]
    assert [line["status"] for line in lines] == ["paid"] + ["written_off"] * 11
    assert all(total(line["outstanding"]) == 0 for line in lines)
    assert total(schedule["outstanding"]) == 0 and schedule["written_off"] == gone
    assert lines[0]["paid"]["total"] == money(2_363_990) and total(lines[0]["written_off"]) == 0
    second = lines[1]
    assert (minor(second["paid"]["interest"]), minor(second["paid"]["principal"])) == (462_720, 537_280)
    assert minor(second["written_off"]["principal"]) == minor(second["principal"]) - 537_280
    assert second["written_off"]["interest"] == money(0)
    # Every installment is exactly what was paid of it and what was written off of it.
    for line in lines:
        owed = minor(line["total"]) + minor(line["late_fee"])
        assert total(line["paid"]) + total(line["written_off"]) == owed, line["number"]
    assert sum(total(line["written_off"]) for line in lines) == total(gone)
    assert sum(minor(line["total"]) for line in lines) == minor(schedule["total_of_payments"])
    assert total(schedule["paid_to_date"]) == PAID_FIRST_DAY
    alone = json.loads((await client.read_resource(f"caas://loans/{loan['id']}/schedule"))[0].text)
    assert alone == schedule

    principal(loan["borrower_id"], Role.BORROWER)  # the borrower reads the same: nothing is owed
    assert await call(client, SCHEDULE, {"loan": loan["id"]}) == schedule
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["written_off"] == gone


async def test_listings_and_aging_no_longer_count_a_written_off_loan_as_owed_or_overdue(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await written_off_loan(client, principal, runtime, core_db, clock)
    principal(uid("op"), Role.OPERATOR)
    [listed] = (await call(client, LIST, {"provider": provider["id"]}))["items"]
    assert (listed["status"], listed["outstanding"], listed["next_due"]) == ("written_off", money(0), None)
    assert listed["days_past_due"] == 0
    past_due = await call(client, LIST, {"provider": provider["id"], "min_days_past_due": 1})
    assert past_due["items"] == []
    gone = (await call(client, GET_LOAN, {"loan": loan["id"]}))["written_off"]
    assert listed["written_off"] == gone["total"] != money(0)

    before = await call(client, SCHEDULE, {"loan": loan["id"]})
    clock.move(days=40)  # more installments fall due: none of them is owed or overdue
    report = await call(client, AGE, {})
    assert [x for x in report["loans"] if x["loan_id"] == loan["id"]] == []
    assert [f for f in report["late_fees"] if f["loan_id"] == loan["id"]] == []
    after = await call(client, SCHEDULE, {"loan": loan["id"]})
    assert {line["status"] for line in after["lines"]} == {"paid", "written_off"}
    assert after == {
        **before,
        "as_of": (date.fromisoformat(before["as_of"]) + timedelta(days=40)).isoformat(),
    }
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["overdue"], view["next_due"], view["written_off"]) == (money(0), None, gone)
