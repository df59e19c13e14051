"""A prepayment: principal repaid ahead of schedule, by the borrower's explicit choice.

Paying early is not a prepayment: by default a payment beyond what is due settles the next installments
in order (``repayments.allocate_payment``), as Apache Fineract's default strategy does. A borrower who
wants the extra money to repay principal says how the loan changes:

- ``reduce_term``: the principal comes off the last installments, last first. An installment whose
  principal is fully prepaid is cancelled with its interest; a partly prepaid one owes less principal.
  The installments before keep their amounts and dates, and the loan ends sooner.
- ``reduce_installment``: the installments still to come keep their number and dates, and are
  recalculated on the lower balance (``schedules.build_schedule`` with the loan's rate, method and
  frequency, the first of them due on its date): each owes less. An installment never owes more interest
  than it did before (interest it had paid ahead stays paid).

Either way the prepayment pays principal only: interest follows the (new) schedule, and the interest of
the next installment is not charged early. A prepayment that would repay all the principal without the
interest accrued since the last due date is refused: that is an early settlement, whose quote
(``quote_early_settlement``) says what it costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from tools.loans.domain.schedules import Frequency, Method, build_schedule

if TYPE_CHECKING:
    from tools.loans.domain.repayments import Outstanding

__all__ = ["LoanTerms", "Prepay", "reamortize"]


class Prepay(StrEnum):
    REDUCE_TERM = "reduce_term"
    REDUCE_INSTALLMENT = "reduce_installment"


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """What recalculates the installments still to come: the contract's rate, method and frequency."""

    annual_rate: Decimal
    method: Method | str
    frequency: Frequency | str


def reamortize(
    future: Sequence[Outstanding], prepaid: int, currency: str, terms: LoanTerms
) -> tuple[list[Outstanding], list[int]]:
    """``reduce_installment``: what each future installment owes once ``prepaid`` of principal is repaid,
    and the prepaid principal attributed to each (its principal's reduction; they sum to ``prepaid``).

    Raises ValueError when the new schedule would raise an installment's principal (a prepayment too
    small to spread, or an installment already partly paid ahead) or cannot be built."""
    balance = sum(item.principal for item in future) - prepaid
    schedule = build_schedule(
        balance,
        currency,
        terms.annual_rate,
        len(future),
        future[0].due_date,
        method=terms.method,
        frequency=terms.frequency,
    )
    owed: list[Outstanding] = []
    reductions: list[int] = []
    for item, line in zip(future, schedule.installments, strict=True):
        if line.principal > item.principal:
            raise ValueError(
                f"recalculated on the lower balance, installment {item.number} would owe more principal "
                "than it does now; prepay more, or choose reduce_term"
            )
        reductions.append(item.principal - line.principal)
        owed.append(replace(item, principal=line.principal, interest=min(item.interest, line.interest)))
    return owed, reductions
