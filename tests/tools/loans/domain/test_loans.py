"""The loan's domain: its status machine, first due dates, how an allocation folds into the installments,
the settlement quote and its payoff, and the journals a loan posts (each one balances)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.ledger.domain.ledger import check_balanced, sums_by_currency
from tools.loans.domain.aging import age
from tools.loans.domain.journals import (
    commission_journal,
    disbursement_journal,
    late_fee_journal,
    origination_fee_journal,
    repayment_journal,
    write_off_journal,
)
from tools.loans.domain.loans import (
    LOAN_TRANSITIONS,
    IllegalLoanTransition,
    InstallmentRecord,
    LoanRecord,
    LoanStatus,
    apply_allocation,
    arrears_cured,
    check_loan_transition,
    first_due_date,
    loan_terms,
    open_outstanding,
)
from tools.loans.domain.payoffs import payoff_accrued, settlement_quote
from tools.loans.domain.repayments import Prepay, allocate_payment
from tools.loans.domain.schedules import build_schedule

DISBURSED = date(2026, 1, 15)


def make_loan(
    principal: int = 25_000_000, rate: str = "0.24", count: int = 12, method: str = "annuity"
) -> tuple[LoanRecord, list[InstallmentRecord]]:
    first = first_due_date(DISBURSED, "monthly")
    schedule = build_schedule(principal, "NGN", Decimal(rate), count, first, method=method)
    at = datetime.combine(DISBURSED, datetime.min.time(), UTC)
    loan = LoanRecord(
        id=uuid.uuid4(),
        application_id=uuid.uuid4(),
        bid_id=uuid.uuid4(),
        provider_id=uuid.uuid4(),
        borrower_id="b-1",
        currency="NGN",
        principal_minor=principal,
        annual_rate=Decimal(rate),
        term_months=count,
        repayment_frequency="monthly",
        schedule_method=method,
        installment_count=count,
        origination_fee_minor=0,
        total_interest_minor=schedule.total_interest,
        total_of_payments_minor=schedule.total_of_payments,
        amount_financed_minor=principal,
        finance_charge_minor=schedule.total_interest,
        apr=Decimal(rate),
        apr_percent=Decimal(0),
        origination_date=DISBURSED,
        first_due_date=schedule.first_due_date,
        maturity_date=schedule.maturity_date,
        created_by="op",
        status="active",
        disbursement_reference="trf-1",
        disbursed_amount_minor=principal,
        disbursed_at=at,
        commission_plan={},
        commission_minor=0,
        credit_minor=0,
        days_past_due=0,
        aging_bucket="current",
        aged_on=None,
        closed_at=None,
        defaulted_at=None,
        written_off_at=None,
        write_off_reason=None,
        created_at=at,
        updated_at=at,
        version=1,
        application_reference="CAAS-2026-000001",
        application_created_by="b-1",
    )
    lines = [
        InstallmentRecord(
            number=i.number,
            due_date=i.due_date,
            scheduled_principal_minor=i.principal,
            scheduled_interest_minor=i.interest,
            principal_due_minor=i.principal,
            interest_due_minor=i.interest,
        )
        for i in schedule.installments
    ]
    return loan, lines


def merged(before: list[InstallmentRecord], changed: list[InstallmentRecord]) -> list[InstallmentRecord]:
    by_number = {i.number: i for i in before} | {i.number: i for i in changed}
    return [by_number[n] for n in sorted(by_number)]


def test_every_status_is_reachable_and_illegal_moves_name_the_legal_ones() -> None:
    reached, frontier = {LoanStatus.PENDING_DISBURSEMENT}, [LoanStatus.PENDING_DISBURSEMENT]
    while frontier:
        for nxt in LOAN_TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(LoanStatus)
    check_loan_transition(LoanStatus.DELINQUENT, LoanStatus.ACTIVE)
    with pytest.raises(IllegalLoanTransition, match="From active it can go to closed, delinquent"):
        check_loan_transition(LoanStatus.ACTIVE, LoanStatus.WRITTEN_OFF)
    with pytest.raises(IllegalLoanTransition, match="nothing: it is final"):
        check_loan_transition(LoanStatus.CLOSED, LoanStatus.ACTIVE)


def test_the_first_installment_is_one_unit_period_after_origination() -> None:
    assert first_due_date(date(2026, 1, 31), "monthly") == date(2026, 2, 28)
    assert first_due_date(date(2028, 1, 31), "monthly") == date(2028, 2, 29)
    assert first_due_date(date(2026, 1, 31), "biweekly") == date(2026, 2, 14)
    assert first_due_date(date(2026, 12, 29), "weekly") == date(2027, 1, 5)


def paid(line: InstallmentRecord) -> InstallmentRecord:
    return replace(
        line,
        fee_paid_minor=line.fee_due_minor,
        interest_paid_minor=line.interest_due_minor,
        principal_paid_minor=line.principal_due_minor,
    )


def cured(status: str, lines: list[InstallmentRecord], as_of: date) -> bool:
    """The predicate as aging and a repayment apply it: on the loan's aging from what it still owes."""
    return arrears_cured(status, age(open_outstanding(lines), as_of).days_past_due)


def test_a_loan_is_cured_once_no_overdue_installment_owes_anything() -> None:
    _, lines = make_loan()
    second = lines[1].due_date
    after = second + timedelta(days=1)
    one_open = [paid(lines[0]), *lines[1:]]  # installment 2 is due and unpaid
    assert not cured("delinquent", one_open, after)
    assert not cured("defaulted", one_open, after)
    # Due today is not past due; installments not yet due never hold the loan back.
    assert cured("delinquent", one_open, second)
    all_paid = [paid(lines[0]), paid(lines[1]), *lines[2:]]
    assert cured(LoanStatus.DELINQUENT, all_paid, after)
    assert cured("defaulted", all_paid, after)  # a default is cured too
    # A late fee left unpaid on a paid installment is still arrears.
    fee_open = [replace(paid(lines[0]), fee_due_minor=5_000, fee_paid_minor=0), paid(lines[1]), *lines[2:]]
    assert not cured("delinquent", fee_open, after)
    assert cured("delinquent", [paid(fee_open[0]), *fee_open[1:]], after)
    # Only a delinquent or defaulted loan moves back to active.
    for status in set(LoanStatus) - {LoanStatus.DELINQUENT, LoanStatus.DEFAULTED}:
        assert not cured(status, all_paid, after), status
    assert not arrears_cured("delinquent", 1)


@settings(max_examples=60, deadline=None)
@given(
    payments=st.lists(st.integers(min_value=1, max_value=9_000_000), min_size=1, max_size=6),
    day=st.integers(min_value=0, max_value=400),
    prepay=st.sampled_from([None, *Prepay]),
)
def test_allocations_keep_due_minus_paid_equal_to_what_is_still_owed(
    payments: list[int], day: int, prepay: Prepay | None
) -> None:
    loan, lines = make_loan()
    as_of = DISBURSED + timedelta(days=day)
    received = 0
    for amount in payments:
        owed = open_outstanding(lines)
        if not owed:
            break
        accrued = payoff_accrued(loan, lines, as_of)
        try:
            allocation = allocate_payment(
                amount, owed, as_of, "NGN", accrued_interest=accrued, prepay=prepay, terms=loan_terms(loan)
            )
        except ValueError as exc:  # all the principal without the accrued interest is a settlement's job;
            # too little balance left to spread over the installments cannot be recalculated
            assert prepay is not None
            assert any(
                why in str(exc) for why in ("settlement quote", "too small", "does not cover", "reduce_term")
            )
            continue
        lines = merged(lines, apply_allocation(lines, allocation, datetime.now(UTC)))
        received += amount - allocation.credit
        assert {o.number: o for o in open_outstanding(lines)} == {o.number: o for o in allocation.remaining}
        assert set(allocation.cancelled) <= {i.number for i in lines if i.cancelled}
    paid = sum(i.principal_paid_minor + i.interest_paid_minor + i.fee_paid_minor for i in lines)
    assert paid == received
    assert (
        sum(i.principal_paid_minor for i in lines) + sum(o.principal for o in open_outstanding(lines))
        == 25_000_000
    )


@pytest.mark.parametrize("days", [0, 10, 31, 45, 200, 400])
def test_paying_the_quote_settles_the_loan_exactly(days: int) -> None:
    loan, lines = make_loan()
    as_of = DISBURSED + timedelta(days=days)
    quote = settlement_quote(loan, lines, as_of)
    assert payoff_accrued(loan, lines, as_of) == quote.accrued_interest
    short = allocate_payment(  # one unit short: the accrued interest, and the loan owes that unit
        quote.total - 1,
        open_outstanding(lines),
        as_of,
        "NGN",
        accrued_interest=quote.accrued_interest,
        terms=loan_terms(loan),
    )
    assert (short.paid_off, short.to_accrued_interest) == (False, quote.accrued_interest)
    # That unit is owed, whether it is one of interest or, with nothing accrued, of principal (which an
    # advance once took as months of interest paid ahead: a probe's find).
    assert sum(item.principal + item.fees for item in short.remaining) == 1
    assert sum(item.interest for item in short.remaining) <= 1
    allocation = allocate_payment(
        quote.total, open_outstanding(lines), as_of, "NGN", accrued_interest=quote.accrued_interest
    )
    assert (allocation.paid_off, allocation.credit) == (True, 0)
    after = merged(lines, apply_allocation(lines, allocation, datetime.now(UTC)))
    assert open_outstanding(after) == []
    assert all(i.settled_at is not None for i in after)
    if as_of >= loan.maturity_date:  # past the last installment nothing accrues: late fees apply instead
        assert quote.accrued_interest == 0
    with pytest.raises(ValueError, match="before the disbursement"):
        settlement_quote(loan, lines, DISBURSED - timedelta(days=1))


def test_every_journal_a_loan_posts_balances() -> None:
    loan, _ = make_loan()
    drafts = [
        disbursement_journal(loan, "trf-1"),
        commission_journal(loan, 2_125_000),
        late_fee_journal(loan, 3, 118_200),
        repayment_journal(
            loan,
            "rep-1",
            amount=3_000_000,
            fees=118_200,
            interest=500_000,
            principal=2_000_000,
            credit_to_borrower=381_800,
            commission=50_000,
        ),
        write_off_journal(loan, 20_000_000, 118_200, "unrecoverable after collections"),
    ]
    for draft in drafts:
        check_balanced(draft)
        assert sums_by_currency(draft.postings) == {"NGN": 0}
    check_balanced(origination_fee_journal(replace(loan, origination_fee_minor=500_000)))
    codes = {p.account.code.split(":")[-2] for p in drafts[3].postings}
    assert codes == {
        "onasis",
        "fees_receivable",
        "interest_income",
        "principal_receivable",
        "payable",
        "commission_expense",
        "commission_income",
    }
