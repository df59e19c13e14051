"""Waiving the late fees a payment proves unearned (``tools.loans.domain.late_fees``), in the
repayment's transaction: each fee's journal reversed, the installments without it, one
``loan.late_fees_waived`` event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from tools.ledger.domain.ledger import JournalKind, reversal_of
from tools.ledger.ledger import post_journal
from tools.loans.domain.journals import late_fee_source
from tools.loans.domain.late_fees import (
    paid_after_grace,
    unearned_late_fees,
    waivable_late_fees,
    without_late_fees,
)
from tools.loans.domain.loans import InstallmentRecord, LoanRecord, RepaymentRecord
from tools.loans.domain.repayments import Allocation
from tools.loans.loans import loan_event
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.platform.ports import AuditRecord, Invocation

__all__ = ["unearned_fees", "waive_unearned_late_fees"]

History = Callable[[], Awaitable[Sequence[RepaymentRecord]]]


async def unearned_fees(
    deps: LoanDeps,
    loan: LoanRecord,
    installments: Sequence[InstallmentRecord],
    paid_on: date,
    history: History,
    allocate: Callable[[Sequence[InstallmentRecord]], Allocation] | None,
) -> frozenset[int]:
    """The installments whose late fee a payment on ``paid_on`` proves unearned (``allocate``: how it
    would be allocated; None for a payoff, which pays every installment). ``history``: the loan's
    repayments, read only when a fee may be waived (rarely). The repayment and both quotes ask this,
    so a quote says what recording the payment does."""
    grace = deps.policy.late_fees(loan.currency).grace_days
    candidates = waivable_late_fees(installments, paid_on, grace)
    if candidates:
        candidates -= paid_after_grace(installments, await history(), grace)
    if allocate is None:
        return frozenset(candidates)
    return unearned_late_fees(installments, candidates, allocate)


async def waive_unearned_late_fees(
    deps: LoanDeps,
    uow: LoanUnitOfWork,
    call: Invocation,
    loan: LoanRecord,
    installments: Sequence[InstallmentRecord],
    paid_on: date,
    reference: str,
    allocate: Callable[[Sequence[InstallmentRecord]], Allocation],
) -> list[InstallmentRecord]:
    """The installments as the payment is allocated over them: without the late fees it proves
    unearned, whose journals are reversed here. Unchanged when it proves none."""
    numbers = await unearned_fees(
        deps, loan, installments, paid_on, lambda: uow.loans.repayments(loan.id), allocate
    )
    if not numbers:
        return list(installments)
    grace = deps.policy.late_fees(loan.currency).grace_days
    why = f"payment {reference} was made on {paid_on}, within the {grace}-day grace period"
    for number in sorted(numbers):
        fee = await uow.ledger.journal_of(JournalKind.FEE, late_fee_source(loan, number))
        assert fee is not None  # an installment's late fee is charged with its journal
        await post_journal(uow, call, reversal_of(fee, f"late fee on installment {number} waived: {why}"))
    said = f"late fee(s) on installment(s) {', '.join(map(str, sorted(numbers)))} waived: {why}"
    await uow.record(AuditRecord(call, "loan", str(loan.id)), [loan_event(loan, "late_fees_waived", said)])
    return without_late_fees(installments, numbers)
