"""Quote what a payment would do to a loan before it is made: with no prepay choice it settles the next
installments in order; with ``reduce_term`` or ``reduce_installment`` it repays principal and changes the
installments still to come (tools/loans/domain/prepay_choices.py). Nothing is written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import partial

from tools.loans.domain.late_fees import without_late_fees
from tools.loans.domain.loans import SERVICING, InstallmentRecord, LoanRecord, LoanStatus, apply_allocation
from tools.loans.domain.repayments import Allocation, Outstanding, Prepay
from tools.loans.late_fee_waivers import unearned_fees
from tools.loans.loans import can_view_loan, loan_not_found
from tools.loans.models.loans import (
    AllocationLineView,
    PrepaymentQuoteView,
    RemainingInstallmentView,
)
from tools.loans.ports import LoanDeps
from tools.loans.servicing import allocate, minor_amount, not_servicing
from tools.platform.domain.money_format import format_money
from tools.platform.errors import InvalidArgument
from tools.platform.models import Money
from tools.platform.principal import Principal

__all__ = ["quote_prepayment"]


def _owing(installments: Sequence[InstallmentRecord]) -> list[Outstanding]:
    return [i.outstanding for i in installments if not i.cancelled and i.outstanding.total > 0]


def _next(owing: Sequence[Outstanding], as_of: date) -> int | None:
    return next((o.total for o in owing if o.due_date > as_of), None)


def _saved(allocation: Allocation, before: list[Outstanding], after: list[Outstanding]) -> int:
    """The interest the loan no longer charges: cancelled or recalculated away. Not the interest this
    payment pays, which is paid, not saved: paying installments ahead saves nothing."""
    paid = allocation.to_interest + allocation.to_accrued_interest
    return sum(o.interest for o in before) - sum(o.interest for o in after) - paid


def _summary(
    currency: str, allocation: Allocation, before: list[Outstanding], after: list[Outstanding]
) -> list[str]:
    m = format_money
    saved = _saved(allocation, before, after)
    text = [f"{m(allocation.amount, currency)} paid on {allocation.as_of.isoformat()}"]
    if allocation.paid_ahead:
        text.append(
            f"{m(allocation.paid_ahead, currency)} settles the next installments ahead of their dates"
        )
    if allocation.prepaid_principal:
        text.append(f"{m(allocation.prepaid_principal, currency)} repays principal ahead of schedule")
    text.append(f"{len(before)} installments owing before, {len(after)} after")
    if saved:
        text.append(f"{m(saved, currency)} less interest to pay over the rest of the loan")
    if allocation.credit:
        text.append(f"{m(allocation.credit, currency)} more than the loan owes would be a credit")
    return text


async def _as_recorded(
    deps: LoanDeps, loan: LoanRecord, minor: int, day: date, prepay: Prepay | None
) -> tuple[list[InstallmentRecord], Allocation]:
    """The installments and the allocation as recording the payment would make them: without a late
    fee it proves unearned (``tools.loans.late_fee_waivers``)."""
    installments = await deps.reader.installments(loan.id)

    def paying(lines: Sequence[InstallmentRecord]) -> Allocation:
        return allocate(loan, lines, minor, day, prepay)

    history = partial(deps.reader.repayments, loan.id)
    waived = await unearned_fees(deps, loan, installments, day, history, paying)
    installments = without_late_fees(installments, waived)
    return installments, paying(installments)


async def quote_prepayment(
    deps: LoanDeps,
    principal: Principal,
    handle: str,
    amount: Decimal,
    prepay: Prepay | None = None,
    as_of: date | None = None,
) -> PrepaymentQuoteView:
    """What paying ``amount`` on ``as_of`` (default today) would do, with the borrower's ``prepay`` choice."""
    loan = await deps.reader.get(handle)
    if loan is None or not can_view_loan(principal, loan):
        raise loan_not_found(handle)
    if LoanStatus(loan.status) not in SERVICING:
        raise not_servicing(loan, "a prepayment")
    day = as_of or deps.clock.today()
    if loan.disbursed_on is not None and day < loan.disbursed_on:
        raise InvalidArgument(f"as_of is before the loan was disbursed on {loan.disbursed_on}")
    cur = loan.currency
    minor = minor_amount(amount, cur)
    installments, allocation = await _as_recorded(deps, loan, minor, day, prepay)
    changed = {i.number: i for i in apply_allocation(installments, allocation, deps.clock.now())}
    after_rows = [changed.get(i.number, i) for i in installments]
    before, after = _owing(installments), _owing(after_rows)
    nxt_before, nxt_after = _next(before, day), _next(after, day)
    interest_before, interest_after = sum(o.interest for o in before), sum(o.interest for o in after)
    return PrepaymentQuoteView(
        loan_id=loan.id,
        as_of=day,
        amount=Money.from_minor(allocation.amount, cur),
        prepay=prepay,
        allocation=[
            AllocationLineView(
                component=line.component,
                installment=line.installment,
                amount=Money.from_minor(line.amount, cur),
                explanation=line.explanation,
            )
            for line in allocation.lines
        ],
        prepaid_principal=Money.from_minor(allocation.prepaid_principal, cur),
        paid_ahead=Money.from_minor(allocation.paid_ahead, cur),
        credit=Money.from_minor(allocation.credit, cur),
        installments_before=len(before),
        installments_after=len(after),
        next_installment_before=None if nxt_before is None else Money.from_minor(nxt_before, cur),
        next_installment_after=None if nxt_after is None else Money.from_minor(nxt_after, cur),
        interest_before=Money.from_minor(interest_before, cur),
        interest_after=Money.from_minor(interest_after, cur),
        interest_saved=Money.from_minor(_saved(allocation, before, after), cur),
        maturity_before=before[-1].due_date if before else None,
        maturity_after=after[-1].due_date if after else None,
        remaining=[
            RemainingInstallmentView(
                number=o.number,
                due_date=o.due_date,
                principal=Money.from_minor(o.principal, cur),
                interest=Money.from_minor(o.interest, cur),
                fees=Money.from_minor(o.fees, cur),
                total=Money.from_minor(o.total, cur),
            )
            for o in after
        ],
        summary=_summary(cur, allocation, before, after),
    )
