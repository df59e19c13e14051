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
  than it did before, and one partly paid ahead of its date keeps what it owes. Where recalculating would
  raise one (the last installment an earlier ``reduce_term`` left short), each installment's principal
  and interest fall in proportion instead, so the schedule keeps its shape and none owes more.

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
from tools.platform.domain.money_format import format_money

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
    and the prepaid principal attributed to each (they sum to ``prepaid``).

    An installment partly paid ahead of its date (some of its interest paid) keeps what it owes; the
    others are recalculated on their principal less ``prepaid``, each attributed the fall of its
    principal (a rounding rise is attributed nothing, the excess coming off the last ones). Raises
    ValueError when every installment still to come is partly paid, or when no schedule can be built on
    the lower balance (see ``schedules.build_schedule``)."""
    fresh = [item for item in future if not item.interest_paid]
    if not fresh:
        raise ValueError(
            "every installment still to come is partly paid, so none can be recalculated; choose reduce_term"
        )
    recalculable = sum(item.principal for item in fresh)
    if prepaid >= recalculable:
        raise ValueError(
            f"this prepayment of {format_money(prepaid, currency)} is at least the principal of the "
            f"installments that can be recalculated ({format_money(recalculable, currency)}; those partly "
            "paid ahead keep what they owe): choose reduce_term, or prepay less"
        )
    schedule = build_schedule(
        recalculable - prepaid,
        currency,
        terms.annual_rate,
        len(fresh),
        fresh[0].due_date,
        method=terms.method,
        frequency=terms.frequency,
    )
    new = {
        item.number: (line.principal, line.interest)
        for item, line in zip(fresh, schedule.installments, strict=True)
    }
    if any(sum(new[item.number]) > item.principal + item.interest for item in fresh):
        new = _in_proportion(fresh, prepaid)
    reductions = [
        max(0, item.principal - new[item.number][0]) if item.number in new else 0 for item in future
    ]
    excess = sum(reductions) - prepaid  # never negative: the falls sum to ``prepaid`` before clipping
    for k in reversed(range(len(reductions))):
        take = min(excess, reductions[k])
        reductions[k] -= take
        excess -= take
    owed = [
        replace(item, principal=new[item.number][0], interest=min(item.interest, new[item.number][1]))
        if item.number in new
        else item
        for item in future
    ]
    return owed, reductions


def _in_proportion(fresh: Sequence[Outstanding], prepaid: int) -> dict[int, tuple[int, int]]:
    """Each installment's (principal, interest) scaled by the principal left over the principal before:
    interest on a declining balance scales with it. Principal rounded down, the minor units that leaves
    going to the first installments; interest half-up."""
    before = sum(item.principal for item in fresh)
    after = before - prepaid
    principal = {item.number: item.principal * after // before for item in fresh}
    short = after - sum(principal.values())
    for item in fresh:
        if short and principal[item.number] < item.principal:
            principal[item.number] += 1
            short -= 1
    return {
        item.number: (principal[item.number], (item.interest * after * 2 + before) // (2 * before))
        for item in fresh
    }
