"""What a written-off loan shows: it owes nothing, and what it owed is shown as written off.

The write-off (``tools.loans.loans.write_off_loan``) removes what the loan's open installments still owe:
their principal and late fees become the lender's credit loss (the write_off journal, which credits
exactly those receivables), and their unpaid interest, never income until it is paid, is forgone.
The loan is final: no repayment, quote or aging applies to it any more, so its installments keep the
figures they had at the write-off, and those figures are what was written off, never an amount still
due or overdue. What was paid before stays paid.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.loans.domain.loans import InstallmentRecord, LoanStatus, open_outstanding
from tools.loans.domain.repayments import Outstanding

__all__ = ["is_written_off", "owes_nothing", "still_owed", "written_off"]


def is_written_off(status: str) -> bool:
    return status == LoanStatus.WRITTEN_OFF


def owes_nothing(status: str) -> bool:
    """A loan ended without a debt: written off, or cancelled before its payout (nothing was lent, so
    its schedule was never owed)."""
    return status in (LoanStatus.WRITTEN_OFF, LoanStatus.CANCELLED)


def still_owed(status: str, installments: Sequence[InstallmentRecord]) -> list[Outstanding]:
    """What each installment still owes, in order: nothing once the loan is written off or cancelled."""
    return [] if owes_nothing(status) else open_outstanding(installments)


def written_off(status: str, installments: Sequence[InstallmentRecord]) -> list[Outstanding]:
    """What the write-off removed of each installment, in order: nothing unless the loan is written off."""
    return open_outstanding(installments) if is_written_off(status) else []
