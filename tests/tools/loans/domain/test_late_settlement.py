"""A settlement quote paid after the day it was good for: the loan is settled short of the days since,
not paid ahead (``repayments.allocate_payment``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.tools.loans.domain.test_repayments import AS_OF, allocated, loan_from_installment_3, loans, payoff
from tools.loans.domain.repayments import (
    Component,
    LoanTerms,
    Outstanding,
    accrued_interest,
    allocate_payment,
    quote_early_settlement,
)
from tools.loans.domain.schedules import build_schedule

TERMS = LoanTerms(Decimal("0.24"), "annuity", "monthly")


def test_a_quote_paid_a_day_late_settles_all_but_one_days_interest() -> None:
    # The quote on 10 April is 9,219,624 (test_repayments). Paid on 11 April, 11 days have accrued:
    # 8,493,896 * 0.24 * 11 / 365 = 61,434.70 -> 61,435. After 1,445,596 due, 7,774,028 is left: the
    # accrued 61,435, then 7,712,593 of the 7,718,178 principal to come. Installment 4 keeps the 5,585
    # short (one day's interest, the quote's per diem) and interest on it to 30 April: 5,585 * 0.24 *
    # 19 / 365 = 69.77 -> 70: 56.55 owed in all. Paid ahead (the old rule) it left 7,363.37 to pay.
    items = loan_from_installment_3()
    quote = quote_early_settlement(
        8_493_896, Decimal("0.24"), date(2025, 3, 31), AS_OF, "NGN", interest_due=169_878, unpaid_fees=500_000
    )
    late = date(2025, 4, 11)
    accrued = accrued_interest(8_493_896, Decimal("0.24"), date(2025, 3, 31), late)
    assert (quote.total, quote.per_diem, accrued) == (9_219_624, 5_585, 61_435)
    allocation = allocate_payment(quote.total, items, late, "NGN", accrued_interest=accrued, terms=TERMS)
    assert [(line.component, line.installment, line.amount) for line in allocation.lines[3:]][:2] == [
        (Component.ACCRUED_INTEREST, 4, 61_435),
        (Component.PREPAYMENT, 12, 927_056),
    ]
    assert allocation.lines[-1].explanation == (
        "₦7,856.47 prepays principal: installment 4 now owes ₦55.85 of principal, with interest on that alone"
    )
    assert allocation.remaining == (Outstanding(4, date(2025, 4, 30), 0, 70, 5_585),)
    assert allocation.cancelled == tuple(range(5, 13))
    assert (allocation.to_accrued_interest, allocation.prepaid_principal, allocation.paid_ahead) == (
        61_435,
        7_712_593,
        0,
    )


def test_a_payment_of_less_than_the_fees_and_principal_owed_is_still_paid_ahead() -> None:
    # One unit short of the late fee and all the principal (due and to come), 216,879 short of the
    # payoff: more than the interest it owed (216,878) or the next installment's (154,364), so not a
    # settlement: after the 1,445,596 due, the 7,548,299 left pays the next installments in order.
    allocation = allocate_payment(
        500_000 + 8_493_896 - 1, loan_from_installment_3(), AS_OF, "NGN", accrued_interest=47_000, terms=TERMS
    )
    assert allocation.cancelled == () and allocation.to_accrued_interest == 0
    assert allocation.paid_ahead == 7_548_299


def test_whole_installments_paid_ahead_on_the_disbursement_day_stay_an_advance() -> None:
    # 1, 2 or 10 of 12 installments paid the day the loan was made: each lacks far more of the payoff
    # than the next installment's interest, so the schedule stands and nothing is cancelled (a probe
    # found 10 of 12 settled short for a while, leaving the rest due next month instead of in ten).
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2026, 2, 15))
    items = [Outstanding(i.number, i.due_date, 0, i.interest, i.principal) for i in schedule.installments]
    for count in (1, 2, 10):
        ahead = sum(i.interest + i.principal for i in items[:count])
        allocation = allocate_payment(ahead, items, date(2026, 1, 15), "NGN", terms=TERMS)
        assert (allocation.cancelled, allocation.paid_ahead, allocation.credit) == ((), ahead, 0), count
        assert [i.number for i in allocation.remaining] == list(range(count + 1, 13))


def test_a_payoff_short_by_less_than_the_next_installments_interest_settles_all_but_that() -> None:
    # Nothing accrued, nothing due (the disbursement day): the payoff is the principal alone. A payment
    # short of it by up to installment 1's 200,000 of interest is a settlement short of what it lacks,
    # never installments 1-11 paid ahead with their interest; a unit more short is an advance.
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2026, 2, 15))
    items = [Outstanding(i.number, i.due_date, 0, i.interest, i.principal) for i in schedule.installments]
    day = date(2026, 1, 15)
    for short in (1, 200_000):
        allocation = allocate_payment(10_000_000 - short, items, day, "NGN", terms=TERMS)
        interest = accrued_interest(short, Decimal("0.24"), day, date(2026, 2, 15))
        assert allocation.remaining == (Outstanding(1, date(2026, 2, 15), 0, interest, short),)
        assert (allocation.cancelled, allocation.paid_ahead) == (tuple(range(2, 13)), 0)
    allocation = allocate_payment(10_000_000 - 200_001, items, day, "NGN", terms=TERMS)
    assert allocation.cancelled == () and allocation.paid_ahead == 10_000_000 - 200_001


def test_a_quote_paid_after_an_installment_fell_due_settles_all_but_the_days_interest() -> None:
    # A probe's find. N100,000.00 at 24% from 31 December, quoted on 30 January: 30 days' interest,
    # 10,000,000 * 0.24 * 30 / 365 = 197,260.27 -> 197,260, total 10,197,260. Paid on 31 January, when
    # installment 1 falls due with 200,000 of scheduled interest: 2,740 short. It paid installments 2-12
    # ahead, leaving their interest owed again; now installment 2 owes the 2,740 and interest on it to
    # 28 February: 2,740 * 0.24 * 28 / 365 = 50.45 -> 50.
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31))
    items = [Outstanding(i.number, i.due_date, 0, i.interest, i.principal) for i in schedule.installments]
    quote = quote_early_settlement(10_000_000, Decimal("0.24"), date(2024, 12, 31), date(2025, 1, 30), "NGN")
    assert quote.total == 10_197_260
    allocation = allocate_payment(quote.total, items, date(2025, 1, 31), "NGN", terms=TERMS)
    assert (allocation.to_interest, allocation.paid_ahead) == (200_000, 0)
    assert allocation.remaining == (Outstanding(2, date(2025, 2, 28), 0, 50, 2_740),)
    assert allocation.cancelled == tuple(range(3, 13))


@given(loans(), st.data())
def test_a_settlement_short_of_accrued_interest_leaves_only_the_shortfall(
    case: dict[str, Any], data: st.DataObject
) -> None:
    items, as_of = case["items"], case["as_of"]
    future = [item for item in items if item.due_date > as_of]
    due = sum(item.total for item in items if item.due_date <= as_of)
    due_interest = sum(item.interest for item in items if item.due_date <= as_of)
    full = payoff(items, as_of, case["accrued"])
    start = max(due + 1, due - due_interest + sum(item.principal for item in future))
    assume(future and start < full)  # some interest (due or accrued) to fall short of
    case = {**case, "amount": data.draw(st.integers(start, full - 1)), "prepay": None}
    allocation = allocated(case)
    assert allocation is not None
    (nearest,) = allocation.remaining
    assert nearest.number == future[0].number and nearest.fees == 0
    interest_on_it = accrued_interest(nearest.principal, case["terms"].annual_rate, as_of, nearest.due_date)
    assert nearest.principal + nearest.interest - interest_on_it == full - case["amount"]
    assert allocation.cancelled == tuple(item.number for item in future[1:])
    assert allocation.credit == allocation.paid_ahead == 0
