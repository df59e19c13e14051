"""Late fees a payment proves unearned.

A late fee is charged when an installment is still unpaid after its grace period as far as the platform
knows (``tools.loans.domain.aging``). A payment recorded later, but dated within that grace period, shows
the borrower paid in time: the fee was charged only because the payment was recorded late. Such a fee
is waived when that payment pays the installment's interest and principal, before anything is allocated
(so the payment does not pay the fee itself). A fee the borrower paid (even in part) stays: undoing it
would be a refund, which is a person's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import date

from tools.loans.domain.aging import days_past_due
from tools.loans.domain.loans import InstallmentRecord
from tools.loans.domain.repayments import Allocation

__all__ = ["unearned_late_fees", "without_late_fees"]


def _candidates(installments: Sequence[InstallmentRecord], paid_on: date, grace_days: int) -> set[int]:
    """Installments with an unpaid late fee charged after ``paid_on``, which was within their grace
    period, still owing interest or principal (this payment may be what pays them)."""
    return {
        i.number
        for i in installments
        if not i.cancelled
        and i.late_fee_assessed_on is not None
        and i.late_fee_assessed_on > paid_on
        and i.fee_due_minor > 0
        and i.fee_paid_minor == 0
        and days_past_due(i.due_date, paid_on) <= grace_days
        and i.interest_due_minor + i.principal_due_minor > i.interest_paid_minor + i.principal_paid_minor
    }


def without_late_fees(
    installments: Sequence[InstallmentRecord], numbers: Collection[int]
) -> list[InstallmentRecord]:
    """The installments with the late fees of ``numbers`` taken off."""
    return [replace(i, fee_due_minor=0) if i.number in numbers else i for i in installments]


def unearned_late_fees(
    installments: Sequence[InstallmentRecord],
    paid_on: date,
    grace_days: int,
    allocate: Callable[[Sequence[InstallmentRecord]], Allocation],
) -> frozenset[int]:
    """The installments whose late fee a payment dated ``paid_on`` makes unearned: each a candidate
    whose interest and principal the payment, allocated (``allocate``) without those fees, pays in full.
    A fee left on changes how the payment is allocated, so the set is narrowed until it holds."""
    waived = _candidates(installments, paid_on, grace_days)
    while waived:
        remaining = {o.number: o for o in allocate(without_late_fees(installments, waived)).remaining}
        paid = {
            n for n in waived if n not in remaining or remaining[n].interest + remaining[n].principal == 0
        }
        if paid == waived:
            break
        waived = paid
    return frozenset(waived)
