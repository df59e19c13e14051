"""A settlement quote good for some days settles the loan on every one of them (``domain.payoffs``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tools.loans.domain.test_loans import DISBURSED, make_loan
from tools.loans.domain.loans import loan_terms, open_outstanding
from tools.loans.domain.payoffs import payoff_accrued, settlement_quote
from tools.loans.domain.repayments import allocate_payment


def test_a_flat_loans_quote_across_a_due_date_is_its_payoff_on_that_date() -> None:
    # A probe's find: quoted the day before installment 2 fell due, good for 2 days, a flat loan's
    # quote counted interest accrued on the balance, less than the scheduled (flat) interest due the
    # next day: paid on its last day it left 50,178.08 owed. The quote is the costliest day's payoff.
    loan, lines = make_loan(method="flat")
    day = lines[1].due_date - timedelta(days=1)
    quote = settlement_quote(loan, lines, day, valid_days=2)
    on_due = settlement_quote(loan, lines, lines[1].due_date)
    assert quote.total >= on_due.total > settlement_quote(loan, lines, day).total
    assert quote.valid_until == day + timedelta(days=2) and quote.lines[-1].endswith(str(quote.valid_until))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["annuity", "flat", "declining_balance"]),
    st.integers(0, 400),
    st.integers(0, 30),
    st.data(),
)
def test_paying_a_quote_on_any_day_it_is_good_for_settles_the_loan(
    method: str, offset: int, valid_days: int, data: st.DataObject
) -> None:
    loan, lines = make_loan(method=method)
    as_of = DISBURSED + timedelta(days=offset)
    quote = settlement_quote(loan, lines, as_of, valid_days=valid_days)
    paid_on = as_of + timedelta(days=data.draw(st.integers(0, valid_days)))
    allocation = allocate_payment(
        quote.total,
        open_outstanding(lines),
        paid_on,
        "NGN",
        accrued_interest=payoff_accrued(loan, lines, paid_on),
        terms=loan_terms(loan),
    )
    assert allocation.paid_off, (method, as_of, valid_days, paid_on)
    assert allocation.credit == quote.total - settlement_quote(loan, lines, paid_on).total


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["annuity", "flat", "declining_balance"]), st.integers(1, 29), st.integers(0, 117_999))
def test_a_quote_for_a_day_before_a_due_date_charged_a_late_fee_settles_the_loan(
    method: str, days_before: int, fee_paid: int
) -> None:
    # A probe's find: aging charged installment 1 a late fee, part of it was paid, and then a quote
    # back-dated before its due date left that installment's interest out, while the repayment dated
    # that day counted it due (it carries a fee): 5,108.49 stayed owed. The quote now counts an
    # installment charged a fee as due, as the repayment does, with nothing accrued before it.
    loan, lines = make_loan(method=method)
    first = lines[0]
    lines[0] = replace(
        first, fee_due_minor=118_000, fee_paid_minor=fee_paid, late_fee_assessed_on=first.due_date
    )
    day = first.due_date - timedelta(days=days_before)
    quote = settlement_quote(loan, lines, day)
    assert quote.interest_due == first.interest_due_minor and quote.accrued_interest == 0
    allocation = allocate_payment(
        quote.total,
        open_outstanding(lines),
        day,
        "NGN",
        accrued_interest=payoff_accrued(loan, lines, day),
        terms=loan_terms(loan),
    )
    assert (allocation.paid_off, allocation.credit) == (True, 0)
