"""The borrower's prepayment choices in the allocation of a payment (tools/loans/domain/prepay_choices.py
through ``repayments.allocate_payment``): reduce_term takes principal off the last installments,
reduce_installment recalculates those still to come, and neither raises what any installment owes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.tools.loans.domain.test_repayments import AS_OF, loan_from_installment_3
from tools.loans.domain.repayments import Component, LoanTerms, Outstanding, Prepay, allocate_payment


def test_reduce_term_prepays_principal_from_the_last_installment() -> None:
    # The same 1,554,404 beyond installment 3: installment 12's 927,056 (cancelled with its interest),
    # then 627,348 of installment 11's 908,877, which now owes 281,529 of principal.
    allocation = allocate_payment(
        3_000_000, loan_from_installment_3(), AS_OF, "NGN", prepay=Prepay.REDUCE_TERM
    )
    assert [line.explanation for line in allocation.lines[3:]] == [
        "₦9,270.56 prepays principal: installment 12 is cancelled with its interest",
        "₦6,273.48 prepays principal: installment 11 now owes ₦2,815.29 of principal",
    ]
    assert (allocation.prepaid_principal, allocation.cancelled, allocation.paid_ahead) == (
        1_554_404,
        (12,),
        0,
    )
    remaining = {item.number: item for item in allocation.remaining}
    assert remaining[4] == Outstanding(4, date(2025, 4, 30), 0, 154_364, 791_232)  # the next one unchanged
    assert remaining[11].principal == 281_529 and 12 not in remaining


def test_reduce_installment_recalculates_the_installments_still_to_come() -> None:
    # 1,000,000 beyond installment 3 leaves 7,718,178 - 1,000,000 = 6,718,178 over the 9 installments
    # still to come at 2% a month: A = 6,718,178 * 0.02 / (1 - 1.02^-9) = 823,080.52 -> 823,081 (was
    # 945,596); installment 4's interest 6,718,178 * 0.02 = 134,363.56 -> 134,364.
    terms = LoanTerms(Decimal("0.24"), "annuity", "monthly")
    allocation = allocate_payment(
        2_445_596, loan_from_installment_3(), AS_OF, "NGN", prepay="reduce_installment", terms=terms
    )
    future = [item for item in allocation.remaining if item.number > 3]
    assert [item.number for item in future] == list(range(4, 13)) and allocation.cancelled == ()
    assert {item.total for item in future[:-1]} == {823_081}
    assert future[0] == Outstanding(4, date(2025, 4, 30), 0, 134_364, 823_081 - 134_364)
    assert sum(item.principal for item in future) == 6_718_178
    prepaid = [line for line in allocation.lines if line.component is Component.PREPAYMENT]
    assert sum(line.amount for line in prepaid) == allocation.prepaid_principal == 1_000_000
    assert prepaid[0].explanation == "₦1,025.15 prepays principal: installment 4 now owes ₦8,230.81"
    with pytest.raises(ValueError, match="terms"):
        allocate_payment(2_445_596, loan_from_installment_3(), AS_OF, "NGN", prepay="reduce_installment")


def test_reduce_installment_keeps_an_installment_partly_paid_ahead_as_it_is() -> None:
    # Installment 4's interest and 500,000 of its principal were paid ahead: it keeps owing 291,232; the
    # 1,000,000 recalculates 5-12 on 7,718,178 - 791,232 - 1,000,000 = 5,926,946 over 8 months:
    # installment 5's interest 5,926,946 * 0.02 = 118,538.92 -> 118,539.
    items = loan_from_installment_3()
    items[1] = Outstanding(4, date(2025, 4, 30), 0, 0, 291_232, interest_paid=154_364)
    terms = LoanTerms(Decimal("0.24"), "annuity", "monthly")
    allocation = allocate_payment(
        2_445_596, items, AS_OF, "NGN", prepay=Prepay.REDUCE_INSTALLMENT, terms=terms
    )
    remaining = {item.number: item for item in allocation.remaining}
    assert remaining[4] == Outstanding(4, date(2025, 4, 30), 0, 0, 291_232)
    assert remaining[5].interest == 118_539 and len({remaining[n].total for n in range(5, 12)}) == 1
    assert sum(item.principal for item in allocation.remaining) == 7_718_178 - 500_000 - 1_000_000
    assert {line.installment for line in allocation.lines[3:]} == set(range(5, 13))
    fresh = [Outstanding(4, date(2025, 4, 30), 0, 1, 5, interest_paid=1)]  # nothing left to recalculate
    with pytest.raises(ValueError, match="choose reduce_term"):
        allocate_payment(1, fresh, AS_OF, "NGN", prepay=Prepay.REDUCE_INSTALLMENT, terms=terms)


@pytest.mark.parametrize("method", ["annuity", "flat", "declining_balance"])
def test_reduce_installment_after_reduce_term_lowers_every_installment(method: str) -> None:
    # A probe's find: reduce_term left installment 12 short; a reduce_installment then re-levelled 4-12,
    # lowering 4-11 and raising 12 (8,639.89 -> 21,748.66 on the loan the probe used).
    terms = LoanTerms(Decimal("0.24"), method, "monthly")
    shortened = allocate_payment(
        1_445_596 + 600_000, loan_from_installment_3(), AS_OF, "NGN", prepay="reduce_term"
    )
    before = {item.number: item for item in shortened.remaining if item.number > 3}
    assert before[12].total < before[11].total  # the last one is short
    again = allocate_payment(
        500_000, list(before.values()), AS_OF, "NGN", prepay="reduce_installment", terms=terms
    )
    after = {item.number: item for item in again.remaining}
    assert after.keys() == before.keys() and again.prepaid_principal == 500_000
    assert all(after[n].total < before[n].total for n in before), [
        (n, before[n].total, after[n].total) for n in before
    ]
    assert sum(i.principal for i in after.values()) == sum(i.principal for i in before.values()) - 500_000
    assert after[12].total < after[11].total  # it keeps its shape
