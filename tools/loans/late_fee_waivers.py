"""Waiving the late fees a payment proves unearned (``tools.loans.domain.late_fees``), in the
repayment's transaction: each fee's journal reversed, the installments without it, one
``loan.late_fees_waived`` event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from tools.ledger.domain.ledger import JournalKind, reversal_of
from tools.ledger.ledger import post_journal
from tools.loans.domain.journals import late_fee_source
from tools.loans.domain.late_fees import unearned_late_fees, without_late_fees
from tools.loans.domain.loans import InstallmentRecord, LoanRecord
from tools.loans.domain.repayments import Allocation
from tools.loans.loans import loan_event
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.platform.ports import AuditRecord, Invocation

__all__ = ["waive_unearned_late_fees"]


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
    grace = deps.policy.late_fees(loan.currency).grace_days
    numbers = unearned_late_fees(installments, paid_on, grace, allocate)
    if not numbers:
        return list(installments)
    why = f"payment {reference} was made on {paid_on}, within the {grace}-day grace period"
    for number in sorted(numbers):
        fee = await uow.ledger.journal_of(JournalKind.FEE, late_fee_source(loan, number))
        assert fee is not None  # an installment's late fee is charged with its journal
        await post_journal(uow, call, reversal_of(fee, f"late fee on installment {number} waived: {why}"))
    said = f"late fee(s) on installment(s) {', '.join(map(str, sorted(numbers)))} waived: {why}"
    await uow.record(AuditRecord(call, "loan", str(loan.id)), [loan_event(loan, "late_fees_waived", said)])
    return without_late_fees(installments, numbers)
