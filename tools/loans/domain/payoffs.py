"""What settles a loan: the early-settlement quote of a loan's installments.

**Settlement** (``settlement_quote``): outstanding principal + interest of installments due by then
+ unpaid fees + interest accrued daily from the last due date (or the disbursement date) on the
outstanding principal, less interest of installments not yet due already paid ahead, and never more than
those installments' unpaid interest. Past the last open installment nothing more accrues (late fees apply
instead). A quote good for some days is the payoff of the costliest of them, with the late fees aging
charges by that day on installments still unpaid (given the loan's late-fee policy; on the quote's own
day only those already charged): paying it on any day of its window settles the loan, and paid before
a fee falls due the fee's part is a credit. A
repayment pays accrued
interest only when it settles the loan, in full or a little short (``domain.repayments``); short of
that, money beyond what is due pays the next installments in order (or, by the borrower's
explicit choice, prepays principal: ``domain.prepay_choices``), so interest is never charged twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from tools.loans.domain.aging import LateFee, LateFeePolicy, assess_late_fees
from tools.loans.domain.loans import InstallmentRecord, LoanRecord, open_outstanding
from tools.loans.domain.repayments import SettlementQuote, quote_early_settlement
from tools.platform.domain.money_format import format_money

__all__ = ["payoff_accrued", "settlement_quote"]


def _accrual(loan: LoanRecord, installments: Sequence[InstallmentRecord], as_of: date) -> tuple[date, bool]:
    """(accrual start, whether interest accrues): the last open due date by ``as_of``, else the
    disbursement date; nothing accrues once no open installment is still to come."""
    owing = [i for i in installments if not i.cancelled]
    future = [i for i in owing if i.due_date > as_of and i.outstanding.total > 0]
    past = [i.due_date for i in owing if i.due_date <= as_of]
    start = max(past) if past else loan.disbursed_on or loan.origination_date
    return start, bool(future)


def settlement_quote(
    loan: LoanRecord,
    installments: Sequence[InstallmentRecord],
    as_of: date,
    valid_days: int = 0,
    late_fees: LateFeePolicy | None = None,
) -> SettlementQuote:
    """What settles the loan on any day from ``as_of`` to ``valid_days`` later; see the module
    docstring. The payoff of the day that costs most: within a period it grows with the accrued
    interest, and on a due date that installment's scheduled interest is due instead, which may be
    more (a flat loan's, a short month's), so the quote is good on every day of its window; with
    ``late_fees``, so is a late fee aging charges meanwhile. Raises ValueError for a date before the
    disbursement."""
    disbursed = loan.disbursed_on or loan.origination_date
    if as_of < disbursed:
        raise ValueError(f"as_of {as_of} is before the disbursement on {disbursed}")
    end = as_of + timedelta(days=valid_days)
    quotes = []
    for day in (as_of + timedelta(days=k) for k in range(valid_days + 1)):
        # Not on the quote's own day: what settles today is what the loan owes now (collect_repayment
        # caps a collection at it); a fee aging has yet to charge today is in the days after.
        charged = _charged_by(loan, installments, day, late_fees) if day > as_of else ()
        quote = _payoff_on(loan, _with_fees(installments, charged, day), as_of, day, end)
        if charged:
            fees = ", ".join(
                f"{format_money(f.amount, loan.currency)} on installment {f.installment}" for f in charged
            )
            note = (
                f"includes the late fees aging charges by {day.isoformat()} if still unpaid ({fees}): "
                "paid before then, that part is a credit for the borrower"
            )
            quote = replace(quote, lines=(*quote.lines, note))
        quotes.append(quote)
    return max(quotes, key=lambda q: q.total)


def _charged_by(
    loan: LoanRecord, installments: Sequence[InstallmentRecord], day: date, policy: LateFeePolicy | None
) -> tuple[LateFee, ...]:
    """The late fees aging charges by ``day`` that it has not charged yet (none without a policy)."""
    if policy is None:
        return ()
    charged = {i.number for i in installments if i.late_fee_assessed_on is not None}
    return assess_late_fees(
        policy, open_outstanding(installments), day, loan.currency, already_charged=charged
    )


def _with_fees(
    installments: Sequence[InstallmentRecord], fees: Sequence[LateFee], day: date
) -> Sequence[InstallmentRecord]:
    amounts = {f.installment: f.amount for f in fees}
    return [
        replace(i, fee_due_minor=i.fee_due_minor + amounts[i.number], late_fee_assessed_on=day)
        if i.number in amounts
        else i
        for i in installments
    ]


def _payoff_on(
    loan: LoanRecord, installments: Sequence[InstallmentRecord], as_of: date, day: date, end: date
) -> SettlementQuote:
    """What settles the loan if paid on ``day``, quoted on ``as_of`` and shown good through ``end``."""
    owing = [i for i in installments if not i.cancelled]
    # An installment charged a late fee is due whatever the day, as a repayment allocates it
    # (repayments.allocate_payment): its interest is owed in full, and none accrues before its due date.
    cutoff = max([day, *(i.due_date for i in owing if i.outstanding.fees)])
    start, accrues = _accrual(loan, installments, cutoff)
    if not accrues or start > day:
        start = day  # nothing accrues past the last installment, nor before a due one
    to_come = [i for i in owing if i.due_date > cutoff]
    return quote_early_settlement(
        sum(i.outstanding.principal for i in owing),
        loan.annual_rate,
        start,
        as_of,
        loan.currency,
        interest_due=sum(i.outstanding.interest for i in owing if i.due_date <= cutoff),
        unpaid_fees=sum(i.outstanding.fees for i in owing),
        valid_days=(day - as_of).days,
        interest_paid_ahead=sum(i.interest_paid_minor for i in to_come),
        interest_to_come=sum(i.outstanding.interest for i in to_come) if to_come else None,
        good_until=end,
    )


def payoff_accrued(loan: LoanRecord, installments: Sequence[InstallmentRecord], paid_on: date) -> int:
    """The interest accrued by ``paid_on`` since the last due date, as the settlement quote counts it: a
    payment pays it only when it settles the loan in full (``repayments.allocate_payment`` decides)."""
    return settlement_quote(loan, installments, paid_on).accrued_interest
