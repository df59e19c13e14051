"""Late fees a payment proves unearned.

A late fee is charged when an installment is still unpaid after its grace period as far as the platform
knows (``tools.loans.domain.aging``). Payments recorded later, but dated within that grace period, may
show the borrower paid in time: the fee was charged only because they were recorded late. Such a fee is
waived when the payments dated within the grace period (this one included) pay the installment's
interest and principal, and no payment dated after it paid any of them: allocated without the fee, so
the payment does not pay the fee itself.

A fee stays when the borrower already paid any of it (undoing it would be a refund: a person's
decision), when a payment dated after the grace period paid part of the installment (it was late), or
when the payment leaves the installment owing (the prepayment choices that send money to the last
installments included).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, date, timedelta

from tools.loans.domain.aging import days_past_due
from tools.loans.domain.loans import InstallmentRecord, RepaymentRecord
from tools.loans.domain.repayments import Allocation

__all__ = ["paid_after_grace", "unearned_late_fees", "waivable_late_fees", "without_late_fees"]

_OWED = ("interest", "principal")


def waivable_late_fees(installments: Sequence[InstallmentRecord], paid_on: date, grace_days: int) -> set[int]:
    """Installments whose unpaid late fee was charged after ``paid_on``, a day within their grace
    period, and that still owe interest or principal: a payment on ``paid_on`` may prove it unearned."""
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


def paid_after_grace(
    installments: Sequence[InstallmentRecord], repayments: Sequence[RepaymentRecord], grace_days: int
) -> set[int]:
    """Installments of which a repayment dated after their grace period paid interest or principal."""
    grace_ends = {i.number: i.due_date + timedelta(days=grace_days) for i in installments}
    return {
        number
        for r in repayments
        for line in r.lines
        if isinstance(number := line.get("installment"), int)
        and line.get("component") in _OWED
        and number in grace_ends
        and r.paid_at.astimezone(UTC).date() > grace_ends[number]
    }


def without_late_fees(
    installments: Sequence[InstallmentRecord], numbers: Collection[int]
) -> list[InstallmentRecord]:
    """The installments with the late fees of ``numbers`` taken off."""
    return [replace(i, fee_due_minor=0) if i.number in numbers else i for i in installments]


def unearned_late_fees(
    installments: Sequence[InstallmentRecord],
    candidates: Collection[int],
    allocate: Callable[[Sequence[InstallmentRecord]], Allocation],
) -> frozenset[int]:
    """Of ``candidates`` (``waivable_late_fees`` less ``paid_after_grace``), the installments whose
    interest and principal the payment, allocated (``allocate``) without those fees, pays in full. A fee
    left on changes how the payment is allocated, so the set is narrowed until it holds."""
    waived = set(candidates)
    while waived:
        allocation = allocate(without_late_fees(installments, waived))
        left = {o.number: o.interest + o.principal for o in allocation.remaining}
        paid = {n for n in waived if left.get(n, 0) == 0}
        if paid == waived:
            break
        waived = paid
    return frozenset(waived)
