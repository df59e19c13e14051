"""Issue 10, item 11 through MCP clients on the real database: a payment made before its due date settles
the installments in due-date order; prepayment (reduce_term | reduce_installment) is an explicit choice
with its own quote (credit_quote_prepayment); and after an early, a partial and an over-payment and a
prepayment either way the ledger agrees with the installment rows and the commission.

The test loan (tests/helpers/loans.py): 250,000.00 NGN at 24% over 12 monthly annuity installments of
23,639.90, disbursed today; installment 1 owes 5,000.00 interest and 18,639.90 principal."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.errors import error_code, error_message
from tests.helpers.loans import (
    GET_LOAN,
    RECONCILE,
    REPAY,
    SCHEDULE,
    active_loan,
    balance,
    call,
    minor,
    money,
    paid_at,
    refused,
)
from tests.helpers.risk import uid
from tools.platform.principal import Role

PREPAY_QUOTE = "credit_quote_prepayment"
SHARING = {"commission_plan": {"interest_share": "0.10"}}  # 8.5% of the principal + 10% of the interest


def ref() -> str:
    return f"pay-{uuid.uuid4().hex[:12]}"


async def counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        await db.fetchrow(
            "SELECT (SELECT count(*) FROM caas_core.loan_repayments), "
            "(SELECT count(*) FROM caas_ledger.journals), "
            "(SELECT sum(principal_paid_minor + interest_paid_minor) FROM caas_core.loan_installments)"
        )
    )


async def books_agree(
    client: Client, principal: Any, db: asyncpg.Connection, loan_id: str, provider_id: str
) -> dict[str, Any]:
    """The ledger says what the installment rows and the loan say; returns the schedule."""
    principal(uid("op"), Role.OPERATOR)
    schedule = await call(client, SCHEDULE, {"loan": loan_id})
    loan = await call(client, GET_LOAN, {"loan": loan_id})
    paid_interest = sum(minor(line["paid"]["interest"]) for line in schedule["lines"])
    assert await balance(db, "loan", "principal_receivable", loan_id) == minor(
        schedule["outstanding"]["principal"]
    )
    assert await balance(db, "provider", "interest_income", provider_id) == paid_interest
    assert await balance(db, "borrower", "payable", loan["borrower_id"]) == minor(loan["credit"])
    commission = await balance(db, "provider", "commission_expense", provider_id)
    assert commission == minor(loan["commission_earned"]) > 0
    principal_paid = sum(minor(line["paid"]["principal"]) for line in schedule["lines"])
    assert principal_paid + minor(schedule["outstanding"]["principal"]) == 25_000_000
    assert (await call(client, RECONCILE, {}))["consistent"] is True
    return dict(schedule)


async def test_paying_one_installment_early_settles_installment_one(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db, provider=SHARING)
    clock.move(days=5)  # nothing is due for another month
    principal(uid("svc"), Role.SERVICE)
    paid = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "23639.90", "paid_at": paid_at(clock), "reference": ref()},
    )
    assert [(a["component"], a["installment"], minor(a["amount"])) for a in paid["allocation"]] == [
        ("interest", 1, 500_000),
        ("principal", 1, 1_863_990),
    ]
    assert (paid["paid_ahead"], paid["prepaid_principal"], paid["to_accrued_interest"]) == (
        money(2_363_990),
        money(0),
        money(0),
    )
    assert paid["commission"] == money(50_000)  # 10% of the 5,000.00 of interest, paid ahead
    schedule = await books_agree(client, principal, core_db, loan["id"], provider["id"])
    statuses = [line["status"] for line in schedule["lines"]]
    assert statuses == ["paid"] + ["upcoming"] * 11  # installment 1 settled; none cancelled
    assert schedule["lines"][11]["outstanding"]["total"] == schedule["lines"][11]["total"]
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["next_due"]["number"], view["maturity_date"]) == (2, loan["maturity_date"])


async def test_a_partial_then_an_over_payment_keep_the_books_consistent(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 2)
    principal(uid("svc"), Role.SERVICE)
    partial = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "10000.00", "paid_at": paid_at(clock), "reference": ref()},
    )
    assert (minor(partial["overdue_after"]), minor(partial["paid_ahead"])) == (1_363_990, 0)
    await books_agree(client, principal, core_db, loan["id"], provider["id"])
    principal(uid("svc"), Role.SERVICE)
    over = await call(
        client,
        REPAY,
        {"loan": loan["id"], "amount": "300000.00", "paid_at": paid_at(clock), "reference": ref()},
    )
    assert over["loan_status"] == "closed" and minor(over["credit"]) > 0
    await books_agree(client, principal, core_db, loan["id"], provider["id"])


@pytest.mark.parametrize("prepay", ["reduce_term", "reduce_installment"])
async def test_a_prepayment_is_quoted_then_recorded_as_quoted(
    prepay: str,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    clock.move(days=5)
    principal(loan["borrower_id"], Role.BORROWER)
    before = await counts(core_db)
    args = {"loan": loan["id"], "amount": "60000.00", "as_of": clock.today().isoformat()}
    advance = await call(client, PREPAY_QUOTE, args)
    quote = await call(client, PREPAY_QUOTE, {**args, "prepay": prepay})
    assert await counts(core_db) == before  # a quote writes nothing
    assert (advance["prepay"], minor(advance["paid_ahead"]), minor(advance["prepaid_principal"])) == (
        None,
        6_000_000,
        0,
    )
    assert (advance["installments_after"], advance["next_installment_after"]) == (
        10,
        money(2_363_990 - 1_272_020),
    )
    assert (quote["prepay"], minor(quote["prepaid_principal"]), quote["installments_before"]) == (
        prepay,
        6_000_000,
        12,
    )
    assert minor(quote["interest_saved"]) > 0
    if prepay == "reduce_term":  # the loan ends sooner; the next installment is unchanged
        assert quote["installments_after"] < 12 and quote["maturity_after"] < quote["maturity_before"]
        assert quote["next_installment_after"] == quote["next_installment_before"] == money(2_363_990)
    else:  # as many installments, each lower
        assert quote["installments_after"] == 12 and quote["maturity_after"] == quote["maturity_before"]
        assert minor(quote["next_installment_after"]) < 2_363_990

    principal(uid("svc"), Role.SERVICE)
    repay = {
        "loan": loan["id"],
        "amount": "60000.00",
        "paid_at": paid_at(clock),
        "reference": ref(),
        "prepay": prepay,
    }
    paid = await call(client, REPAY, repay)
    assert paid["allocation"] == quote["allocation"] and paid["prepay"] == prepay
    assert any(s.startswith("Early payment: ₦60,000.00") and prepay in s for s in paid["summary"])
    schedule = await books_agree(client, principal, core_db, loan["id"], provider["id"])
    owed = [
        (line["number"], line["outstanding"]["total"])
        for line in schedule["lines"]
        if line["status"] == "upcoming"
    ]
    assert owed == [(r["number"], r["total"]) for r in quote["remaining"]]
    principal(uid("svc"), Role.SERVICE)
    assert await refused(client, REPAY, {**repay, "prepay": None}) == "conflict"  # one reference, one payment
    assert (await call(client, REPAY, repay))["replayed"] is True


async def test_a_prepayment_of_all_the_principal_is_a_settlement_and_is_refused(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=10)  # 1,643.84 of interest accrued: 250,000.00 alone does not settle the loan
    principal(uid("svc"), Role.SERVICE)
    before = await counts(core_db)
    for prepay in ("reduce_term", "reduce_installment"):
        args = {"loan": loan["id"], "amount": "250000.00", "paid_at": paid_at(clock), "reference": ref()}
        assert await refused(client, REPAY, {**args, "prepay": prepay}) == "invalid_argument"
        assert await refused(
            client, PREPAY_QUOTE, {"loan": loan["id"], "amount": "250000.00", "prepay": prepay}
        ) == ("invalid_argument")
    assert await refused(client, REPAY, {**args, "prepay": "shorter"}) == "invalid_argument"
    assert await counts(core_db) == before
    principal(uid("b"), Role.BORROWER)  # another borrower's loan is not found
    assert await refused(client, PREPAY_QUOTE, {"loan": loan["id"], "amount": "10.00"}) == "not_found"


async def test_a_reduce_installment_larger_than_what_can_be_recalculated_says_so(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: installment 1 partly paid ahead keeps what it owes, so only 2-12 can be
    recalculated; prepaying more than their principal was refused as "principal must be a positive
    whole number of minor units; got -363990"."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=3)
    principal(uid("svc"), Role.SERVICE)
    first = {"loan": loan["id"], "amount": "10000.00", "paid_at": paid_at(clock), "reference": ref()}
    await call(client, REPAY, first)
    args = {"loan": loan["id"], "amount": "235000.00", "paid_at": paid_at(clock), "reference": ref()}
    result = await client.call_tool(REPAY, {**args, "prepay": "reduce_installment"}, raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    assert "choose reduce_term" in error_message(result) and "got -" not in error_message(result)


async def test_interest_a_payment_pays_is_not_quoted_as_saved(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    """A probe's find: installment 1 paid the day after its due date was quoted as saving its 5,000.00
    of interest, and paying ahead as saving the interest it pays ahead: paid, not saved."""
    loan, _ = await active_loan(client, principal, runtime, core_db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 1)
    principal(loan["borrower_id"], Role.BORROWER)
    for amount in ("23639.90", "30000.00"):  # installment 1; then part of installment 2, ahead
        quote = await call(client, PREPAY_QUOTE, {"loan": loan["id"], "amount": amount})
        assert quote["interest_saved"] == money(0), amount
        assert not any("less interest" in line for line in quote["summary"]), quote["summary"]
    shorter = await call(
        client, PREPAY_QUOTE, {"loan": loan["id"], "amount": "60000.00", "prepay": "reduce_term"}
    )
    cancelled = {line["installment"] for line in shorter["allocation"] if "cancelled" in line["explanation"]}
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    # What the cancelled installments would have charged, and nothing of installment 1's, paid now.
    assert cancelled and minor(shorter["interest_saved"]) == sum(
        minor(line["interest"]) for line in schedule["lines"] if line["number"] in cancelled
    )
