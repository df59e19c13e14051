"""Repayments and early settlement through MCP clients: allocation (fees, interest, principal), partial,
early and over-payments explained, settlement that closes the loan, idempotency and refusals.

The test loan (tests/helpers/loans.py): 250,000.00 NGN at 24% over 12 monthly annuity installments of
23,639.90; the first is 5,000.00 interest and 18,639.90 principal."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    GET_LOAN,
    QUOTE,
    RECONCILE,
    REPAY,
    SCHEDULE,
    active_loan,
    balance,
    call,
    minor,
    money,
    originated,
    paid_at,
    refused,
)
from tests.helpers.risk import uid
from tools.platform.principal import Role


def ref() -> str:
    return f"pay-{uuid.uuid4().hex[:12]}"


def first_due_days_ago(clock: MovableClock, loan: dict[str, Any], days: int) -> None:
    """Move the clock to ``days`` after the loan's first installment fell due."""
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + days)


async def counts(db: asyncpg.Connection) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        await db.fetchrow(
            "SELECT (SELECT count(*) FROM caas_core.loan_repayments), "
            "(SELECT count(*) FROM caas_ledger.journals)"
        )
    )


async def test_a_partial_then_an_early_payment_are_allocated_and_explained(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    first_due_days_ago(clock, loan, 3)
    principal(uid("svc"), Role.SERVICE)

    first = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "10000.00", "paid_at": paid_at(clock), "reference": ref()},
    )
    assert [(a["component"], a["installment"], a["amount"]["amount"]) for a in first["allocation"]] == [
        ("interest", 1, "5000.00"),
        ("principal", 1, "5000.00"),
    ]
    assert (first["to_interest"], first["to_principal"], first["overdue_after"]) == (
        money(500_000), money(500_000), money(1_363_990),
    )  # fmt: skip
    assert any(s.startswith("Partial payment: ₦13,639.90") for s in first["summary"])
    assert first["loan_status"] == "active" and first["replayed"] is False

    second = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "20000.00", "paid_at": paid_at(clock), "reference": ref()},
    )
    # Issue 10, item 11: the 6,360.10 beyond installment 1 pays installment 2 ahead (its interest
    # 4,627.20, then principal), never the last installment's principal.
    assert [(a["component"], a["installment"], a["amount"]["amount"]) for a in second["allocation"]] == [
        ("principal", 1, "13639.90"),
        ("interest", 2, "4627.20"),
        ("principal", 2, "1732.90"),
    ]
    assert second["allocation"][1]["explanation"].endswith("paid ahead of its due date")
    assert any(s.startswith("Paid ahead: ₦6,360.10") for s in second["summary"])
    assert (second["overdue_after"], second["credit"], second["prepaid_principal"]) == (money(0),) * 3
    assert (second["paid_ahead"], second["prepay"]) == (money(636_010), None)

    lines = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"]
    assert (lines[0]["status"], lines[0]["paid"]["total"]) == ("paid", money(2_363_990))
    assert minor(lines[1]["outstanding"]["principal"]) == minor(lines[1]["principal"]) - 173_290
    assert lines[1]["outstanding"]["interest"] == money(0)
    assert lines[11]["outstanding"]["principal"] == lines[11]["principal"]
    principal_left = 25_000_000 - 1_863_990 - 173_290
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == principal_left
    assert await balance(core_db, "provider", "interest_income", provider["id"]) == 500_000 + 462_720
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (minor(view["outstanding"]["principal"]), view["next_due"]["number"]) == (principal_left, 2)


async def test_paying_the_early_settlement_quote_closes_the_loan(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    clock.move(days=10)  # disbursed 10 days ago; nothing is due yet
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    # 250,000.00 at 24% for 10/365 of a year: 1,643.835... -> 1,643.84
    assert (quote["principal"], quote["interest_due"], quote["accrued_interest"]) == (
        money(25_000_000), money(0), money(164_384),
    )  # fmt: skip
    assert (quote["accrued_days"], quote["total"], quote["valid_until"]) == (
        10,
        money(25_164_384),
        clock.today().isoformat(),
    )
    later = await call(client, QUOTE, {"loan": loan["id"], "valid_days": 5})
    # Good five more days: interest to the last of them, rounded once (2,465.7534... -> 2,465.75).
    assert (later["accrued_days"], minor(later["total"])) == (15, 25_000_000 + 246_575)

    principal(uid("svc"), Role.SERVICE)
    paid = await call(
        client,
        REPAY,
        {
            "loan": loan["id"],
            "amount": quote["total"]["amount"],
            "paid_at": paid_at(clock),
            "reference": ref(),
        },
    )
    assert (paid["loan_status"], paid["credit"], paid["to_accrued_interest"]) == (
        "closed",
        money(0),
        money(164_384),
    )
    assert paid["prepaid_principal"] == money(25_000_000)
    assert "The loan is paid off and closed" in paid["summary"]
    closed = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (closed["status"], closed["outstanding"]["total"], closed["next_due"]) == (
        "closed",
        money(0),
        None,
    )
    assert closed["closed_at"] is not None
    assert await balance(core_db, "loan", "principal_receivable", loan["id"]) == 0
    assert await balance(core_db, "provider", "interest_income", provider["id"]) == 164_384
    assert (
        await refused(
            client,
            REPAY,
            {"loan": loan["id"], "amount": "1.00", "paid_at": paid_at(clock), "reference": ref()},
        )
        == "conflict"
    )
    assert await refused(client, QUOTE, {"loan": loan["id"]}) == "conflict"
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_an_over_payment_closes_the_loan_and_is_held_as_the_borrowers_credit(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    paid = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "260000.00", "paid_at": paid_at(clock), "reference": ref()},
    )
    assert (paid["loan_status"], paid["credit"]) == ("closed", money(1_000_000))
    assert paid["allocation"][-1]["component"] == "credit"
    assert any(s.startswith("Over-payment: ₦10,000.00") for s in paid["summary"])
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["credit"] == money(1_000_000)
    assert await balance(core_db, "borrower", "payable", loan["borrower_id"]) == 1_000_000


async def test_a_repayment_records_once_by_reference_or_idempotency_key(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    first_due_days_ago(clock, loan, 1)
    principal(uid("svc"), Role.SERVICE)
    args = {"loan": loan["id"], "amount": "1000.00", "paid_at": paid_at(clock), "reference": ref()}
    first = await call(client, REPAY, args)
    before = await counts(core_db)
    again = await call(client, REPAY, args)  # the webhook delivered twice
    assert (again["id"], again["replayed"], again["allocation"]) == (first["id"], True, first["allocation"])
    assert await refused(client, REPAY, {**args, "amount": "2000.00"}) == "conflict"
    keyed = {**args, "reference": ref(), "idempotency_key": f"key-{uuid.uuid4().hex}"}
    once = await call(client, REPAY, keyed)
    assert (await call(client, REPAY, keyed))["id"] == once["id"]
    # The same payment written otherwise is a replay (a probe's find: "1000" for "1000.00" was a
    # conflict under its key, though its reference alone replayed it): the loan by its application's
    # reference, the amount without its decimals, the instant in another offset.
    instant = datetime.fromisoformat(keyed["paid_at"]).astimezone(timezone(timedelta(hours=-5)))
    written_otherwise = {
        **keyed,
        "loan": loan["application_reference"],
        "amount": "1000",
        "paid_at": instant.isoformat(),
    }
    assert (await call(client, REPAY, written_otherwise))["id"] == once["id"]
    assert await refused(client, REPAY, {**keyed, "amount": "3.00"}) == "conflict"
    assert await counts(core_db) == (before[0] + 1, before[1] + 2)  # its repayment and settlement journals
    assert minor((await call(client, GET_LOAN, {"loan": loan["id"]}))["overdue"]) == 2_363_990 - 200_000


async def test_bad_repayments_are_refused_with_a_code_and_store_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    pending, _ = await originated(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    good = {"loan": loan["id"], "amount": "100.00", "paid_at": paid_at(clock), "reference": ref()}
    before = await counts(core_db)
    cases = [
        ({**good, "amount": "0"}, "invalid_argument"),
        ({**good, "amount": "-5.00"}, "invalid_argument"),
        ({**good, "amount": "1.001"}, "invalid_argument"),  # NGN has two decimals
        ({**good, "paid_at": "2026-01-01T10:00:00"}, "invalid_argument"),  # no offset
        ({**good, "paid_at": paid_at(clock, -timedelta(hours=1))}, "invalid_argument"),  # the future
        (
            {**good, "paid_at": paid_at(clock, timedelta(days=3))},
            "invalid_argument",
        ),  # before the disbursement
        ({**good, "reference": "no spaces allowed"}, "invalid_argument"),
        ({**good, "loan": str(uuid.uuid4())}, "not_found"),
        ({**good, "loan": pending["id"]}, "conflict"),  # not disbursed yet
    ]
    for args, code in cases:
        assert await refused(client, REPAY, args) == code, args
    principal(loan["borrower_id"], Role.BORROWER)
    assert await refused(client, REPAY, good) == "permission_denied"
    assert await refused(client, QUOTE, {"loan": loan["id"], "as_of": "2001-01-01"}) == "invalid_argument"
    assert await refused(client, QUOTE, {"loan": loan["id"], "valid_days": 31}) == "invalid_argument"
    assert await counts(core_db) == before


async def test_money_paid_ahead_is_not_also_said_to_pay_what_was_due(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: one installment paid five days after disbursement (nothing due) was summarised
    as "Due amounts ...: 5,000.00 to interest due, 18,639.90 to principal due" and as paid ahead."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=5)
    principal(uid("svc"), Role.SERVICE)
    args = {"loan": loan["id"], "amount": "23639.90", "paid_at": paid_at(clock), "reference": ref()}
    paid = await call(client, REPAY, args)
    assert not any(line.startswith("Due amounts") for line in paid["summary"]), paid["summary"]
    assert any(line.startswith("Paid ahead: ₦23,639.90") for line in paid["summary"])
    first_due_days_ago(clock, loan, 40)  # installment 2 is due: a payment of it and some ahead
    args = {"loan": loan["id"], "amount": "30000.00", "paid_at": paid_at(clock), "reference": ref()}
    mixed = await call(client, REPAY, args)
    [due] = [line for line in mixed["summary"] if line.startswith("Due amounts")]
    assert minor(mixed["paid_ahead"]) == 3_000_000 - 2_363_990
    assert due.endswith(": ₦4,627.20 to interest due, ₦19,012.70 to principal due")  # installment 2
