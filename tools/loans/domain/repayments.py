"""Where a borrower's payment goes, and what it costs to settle a loan early.

The early-settlement quote is ``settlement`` (re-exported here).

Allocation of a payment (amounts in minor units), for the installments due on or before ``as_of``:

- ``installment_first`` (the default, Apache Fineract's standard strategy): installment by installment,
  oldest due date first; within each, late fee -> interest -> principal. An old installment is cleared
  before a newer one is touched, so a partial payment cures the oldest arrears first.
- ``component_first``: every due late fee (oldest first), then every due interest, then every due
  principal.

Whatever is left after everything due:

- When it covers the interest accrued since the last due date (``accrued_interest``, computed by
  ``accrued_interest``) and all the principal still to come, the payment SETTLES the loan, exactly as
  ``quote_early_settlement`` quotes: the accrued interest (paid ahead as part of the next installment's
  interest), then all future principal; every future installment is cancelled with the rest of its
  interest (interest is not earned on money already repaid), and anything beyond is a ``credit`` for the
  borrower (to refund, or hold for later). Past the last due date there is no next installment: accrued
  interest the payment does not cover is added to the last installment's interest, now due.
- When it covers every late fee and all the principal, due or to come, but not all the interest (that
  due and that accrued since the last due date): a settlement quote paid after the day it was good
  for, even after an installment fell due meanwhile. So too when it lacks no more of the payoff than
  the next installment's interest (a payoff tolerance): a quote paid a little short, even by a minor
  unit of principal, on a day no interest had accrued. It is the settlement it was meant to be, SHORT
  of what it lacks: what is due as above, then the accrued interest, then principal
  (from the last installment), so that the shortfall is principal; every future installment but the
  next is cancelled with its interest, and the next owes only the principal left unpaid (the
  shortfall), interest on that shortfall to its due date (the loan's rate, ``accrued_interest``) and
  any accrued interest the payment did not reach. Taken as a payment ahead instead, it would pay the
  next installments' scheduled interest, for months the borrower no longer has the money, and leave
  the loan owing most of that interest again.
- Otherwise, by default (an ADVANCE payment), it settles the next installments in due-date order, each
  interest then principal, exactly as if they were due: nothing is cancelled and the loan's term and
  installments do not change. Paying early never shortens the loan by itself.
- Only when the borrower chooses a prepayment (``prepay``: ``reduce_term`` or ``reduce_installment``,
  see ``prepay_choices``) does it repay principal ahead of schedule and change the installments still to
  come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import date
from enum import StrEnum
from itertools import pairwise

from tools.loans.domain.prepay_choices import LoanTerms, Prepay, reamortize
from tools.loans.domain.settlement import (
    DAYS_PER_YEAR,
    SettlementQuote,
    accrued_interest,
    quote_early_settlement,
)
from tools.loans.domain.settlement import check_amount as _check_amount
from tools.loans.domain.settlement import check_date as _check_date
from tools.platform.domain.money import currency_exponent
from tools.platform.domain.money_format import format_money

__all__ = [
    "DAYS_PER_YEAR",
    "Allocation",
    "AllocationLine",
    "AllocationOrder",
    "Component",
    "LoanTerms",
    "Outstanding",
    "Prepay",
    "SettlementQuote",
    "accrued_interest",
    "allocate_payment",
    "quote_early_settlement",
]


class AllocationOrder(StrEnum):
    INSTALLMENT_FIRST = "installment_first"
    COMPONENT_FIRST = "component_first"


class Component(StrEnum):
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"
    ACCRUED_INTEREST = "accrued_interest"
    PREPAYMENT = "prepayment"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class Outstanding:
    """What one installment still owes: unpaid late fees, interest and principal, in minor units."""

    number: int
    due_date: date
    fees: int = 0
    interest: int = 0
    principal: int = 0
    # Interest already paid on it: an advance payment pays interest first, a prepayment never does, so an
    # installment not yet due with interest paid was partly paid ahead, and a recalculation keeps it as
    # it is. Not part of what it owes, so not compared.
    interest_paid: int = dataclass_field(default=0, compare=False)

    @property
    def total(self) -> int:
        return self.fees + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """``installment`` is None for a credit, and for accrued interest past the last due date."""

    component: Component
    installment: int | None
    amount: int
    explanation: str
    ahead: bool = False  # pays an installment not yet due, as if it were (an advance payment)


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """``amount`` = to_fees + to_interest + to_principal + to_accrued_interest + prepaid_principal + credit.
    ``paid_ahead``: the part of to_interest + to_principal that paid installments not yet due.

    ``remaining``: every installment still owing something after the payment, in order, with what it
    owes (due or not); ``cancelled``: future installments removed by the prepayment, their interest
    no longer owed. ``paid_off`` when nothing remains.
    """

    currency: str
    as_of: date
    amount: int
    lines: tuple[AllocationLine, ...]
    to_fees: int
    to_interest: int
    to_principal: int
    to_accrued_interest: int
    prepaid_principal: int
    credit: int
    paid_ahead: int
    remaining: tuple[Outstanding, ...]
    cancelled: tuple[int, ...]

    @property
    def paid_off(self) -> bool:
        return not self.remaining


def _check_installments(installments: Sequence[Outstanding]) -> None:
    for item in installments:
        _check_date(f"installment {item.number} due_date", item.due_date)
        for name in ("fees", "interest", "principal"):
            _check_amount(f"installment {item.number} {name}", getattr(item, name))
    numbers = [item.number for item in installments]
    if len(set(numbers)) != len(numbers):
        raise ValueError("each installment number must appear once")
    ordered = sorted(installments, key=lambda item: item.number)
    if any(a.due_date > b.due_date for a, b in pairwise(ordered)):
        raise ValueError("due dates must not go backwards as installment numbers rise")


class _Ledger:
    """Working state of one allocation: what is left to allocate and what each installment still owes."""

    def __init__(self, amount: int, installments: Sequence[Outstanding], currency: str, as_of: date) -> None:
        self.left = amount
        self.as_of = as_of
        self.owed = {item.number: item for item in installments}
        self.currency = currency
        self.lines: list[AllocationLine] = []

    def pay(
        self, number: int, component: Component, field: str, text: str, suffix: str = "", ahead: bool = False
    ) -> None:
        owed = getattr(self.owed[number], field)
        paid = min(self.left, owed)
        if paid == 0:
            return
        self.left -= paid
        self.owed[number] = replace(self.owed[number], **{field: owed - paid})
        money = format_money(paid, self.currency)
        text = f"{money} {text} of installment {number}{suffix}"
        self.lines.append(AllocationLine(component, number, paid, text, ahead))

    def add(self, component: Component, number: int | None, amount: int, text: str) -> None:
        self.left -= amount
        self.lines.append(
            AllocationLine(component, number, amount, f"{format_money(amount, self.currency)} {text}")
        )

    def total(self, component: Component) -> int:
        return sum(line.amount for line in self.lines if line.component is component)


_DUE_STEPS = (
    (Component.FEE, "fees", "to the late fee"),
    (Component.INTEREST, "interest", "to the interest"),
    (Component.PRINCIPAL, "principal", "to the principal"),
)


def _prepay(ledger: _Ledger, future: list[Outstanding], accrued: int) -> list[int]:
    """Accrued interest (as the next installment's interest), then principal from the last installment."""
    cancelled: list[int] = []
    paid = min(ledger.left, accrued)
    nearest = future[0] if future else None
    if paid:
        text = "to interest accrued since the last due date"
        if nearest is not None:
            text += f", paid ahead as part of installment {nearest.number}'s interest"
            ledger.owed[nearest.number] = replace(nearest, interest=max(0, nearest.interest - paid))
        ledger.add(Component.ACCRUED_INTEREST, nearest.number if nearest else None, paid, text)
    if nearest is None and paid < accrued:  # past the last due date: what is unpaid is due with the last
        last = max(ledger.owed.values(), key=lambda item: item.number)
        ledger.owed[last.number] = replace(last, interest=last.interest + accrued - paid)
    for item in reversed(future):
        if not ledger.left:
            break
        paid = min(ledger.left, item.principal)
        if paid < item.principal:
            if paid:
                left = format_money(item.principal - paid, ledger.currency)
                ledger.owed[item.number] = replace(ledger.owed[item.number], principal=item.principal - paid)
                note = f"installment {item.number} now owes {left} of principal"
                ledger.add(Component.PREPAYMENT, item.number, paid, f"prepays principal: {note}")
            break
        cancelled.append(item.number)
        del ledger.owed[item.number]
        if paid:
            note = f"installment {item.number} is cancelled with its interest"
            ledger.add(Component.PREPAYMENT, item.number, paid, f"prepays principal: {note}")
    return sorted(cancelled)


def _settle_short(ledger: _Ledger, future: list[Outstanding], accrued: int, terms: LoanTerms | None) -> None:
    """A payoff short of part of the accrued interest (module docstring): the next installment keeps the
    principal shortfall, with interest on it alone; every later installment is cancelled."""
    if terms is None:
        raise ValueError("a payment that settles all but part of the accrued interest needs the loan's terms")
    nearest, later = future[0], future[1:]
    paid = min(ledger.left, accrued)
    if paid:
        text = f"to interest accrued since the last due date, paid as part of installment {nearest.number}'s"
        ledger.add(Component.ACCRUED_INTEREST, nearest.number, paid, text + " interest")
    shortfall = sum(item.principal for item in future) - ledger.left
    for item in reversed(later):
        part = min(ledger.left, item.principal)
        moved = item.principal - part
        note = f"installment {item.number} is cancelled with its interest"
        if moved:
            note += (
                f"; its unpaid {format_money(moved, ledger.currency)} moves to installment {nearest.number}"
            )
        del ledger.owed[item.number]
        if part:
            ledger.add(Component.PREPAYMENT, item.number, part, f"prepays principal: {note}")
    if ledger.left:
        left = format_money(shortfall, ledger.currency)
        note = f"installment {nearest.number} now owes {left} of principal, with interest on that alone"
        ledger.add(Component.PREPAYMENT, nearest.number, ledger.left, f"prepays principal: {note}")
    interest = accrued - paid + accrued_interest(shortfall, terms.annual_rate, ledger.as_of, nearest.due_date)
    ledger.owed[nearest.number] = replace(nearest, interest=interest, principal=shortfall)


def _advance(ledger: _Ledger, future: list[Outstanding]) -> None:
    """The next installments, in due-date order, each interest then principal, as if they were due."""
    for item in future:
        for component, field, text in _DUE_STEPS[1:]:
            ledger.pay(item.number, component, field, text, ", paid ahead of its due date", ahead=True)


def _reduce_installment(
    ledger: _Ledger, future: list[Outstanding], currency: str, terms: LoanTerms | None
) -> None:
    if terms is None:
        raise ValueError("reduce_installment needs the loan's terms to recalculate the installments")
    prepaid = ledger.left
    owed, reductions = reamortize(future, prepaid, currency, terms)
    for item, reduction in zip(owed, reductions, strict=True):
        ledger.owed[item.number] = item
        if reduction:
            note = f"installment {item.number} now owes {format_money(item.total, currency)}"
            ledger.add(Component.PREPAYMENT, item.number, reduction, f"prepays principal: {note}")


def _after_due(
    ledger: _Ledger,
    future: list[Outstanding],
    accrued: int,
    prepay: Prepay | None,
    terms: LoanTerms | None,
) -> list[int]:
    """What is left once everything due is paid: a payoff, an advance or the chosen prepayment
    (module docstring); returns the installments cancelled."""
    future_principal = sum(item.principal for item in future)
    if not future or ledger.left >= accrued + future_principal:
        return _prepay(ledger, future, accrued)
    # Short of a payoff by no more than interest: the due installments' just paid and the accrued, or
    # the next installment's (a payoff tolerance): a settlement.
    shortfall = accrued + future_principal - ledger.left
    if prepay is None and shortfall <= max(accrued + ledger.total(Component.INTEREST), future[0].interest):
        _settle_short(ledger, future, accrued, terms)
        return [item.number for item in future[1:]]
    if prepay is None:
        _advance(ledger, future)
    elif ledger.left >= future_principal:
        raise ValueError(
            "this prepayment would repay all the principal but not the interest accrued since the last due "
            "date; pay the early settlement quote (quote_early_settlement) to settle the loan"
        )
    elif prepay is Prepay.REDUCE_TERM:
        return _prepay(ledger, future, 0)
    else:
        _reduce_installment(ledger, future, ledger.currency, terms)
    return []


def allocate_payment(
    amount: int,
    installments: Sequence[Outstanding],
    as_of: date,
    currency: str,
    *,
    accrued_interest: int = 0,
    order: AllocationOrder | str = AllocationOrder.INSTALLMENT_FIRST,
    prepay: Prepay | str | None = None,
    terms: LoanTerms | None = None,
) -> Allocation:
    """Allocate ``amount`` minor units received on ``as_of`` to what the loan owes (module docstring).

    ``installments``: what each installment still owes, due or not. ``accrued_interest``: interest accrued
    since the last due date, charged only when the payment settles the loan in full, and never more than
    the unpaid interest of the installments still to come. ``prepay``: the
    borrower's choice for money beyond what is due (None: settle the next installments in order);
    ``terms`` recalculate the installments for ``reduce_installment``.
    """
    order = AllocationOrder(order)
    prepay = None if prepay is None else Prepay(prepay)
    currency_exponent(currency)
    _check_amount("amount", amount, positive=True)
    _check_amount("accrued_interest", accrued_interest)
    _check_date("as_of", as_of)
    _check_installments(installments)
    ordered = sorted(installments, key=lambda item: item.number)
    # An installment charged a late fee is due, even for a payment dated before its due date (recorded
    # after the aging that charged it): the fee is owed, and it is paid as arrears are.
    cutoff = max([as_of, *(item.due_date for item in ordered if item.fees)])
    due = [item for item in ordered if item.due_date <= cutoff]
    future = [item for item in ordered if item.due_date > cutoff]
    if accrued_interest and not ordered:
        raise ValueError("interest cannot accrue on a loan without installments")
    ledger = _Ledger(amount, ordered, currency, as_of)
    if order is AllocationOrder.INSTALLMENT_FIRST:
        for item in due:
            for component, field, text in _DUE_STEPS:
                ledger.pay(item.number, component, field, text)
    else:
        for component, field, text in _DUE_STEPS:
            for item in due:
                ledger.pay(item.number, component, field, text)
    if future:  # never more than the installments still to come charge: their interest is the cap
        accrued_interest = min(accrued_interest, sum(item.interest for item in future))
    cancelled = (
        _after_due(ledger, future, accrued_interest, prepay, terms) if ledger.left or not future else []
    )
    if ledger.left:
        text = "is more than the loan owes: a credit to refund to the borrower or keep for later"
        ledger.add(Component.CREDIT, None, ledger.left, text)
    return Allocation(
        currency=currency,
        as_of=as_of,
        amount=amount,
        lines=tuple(ledger.lines),
        to_fees=ledger.total(Component.FEE),
        to_interest=ledger.total(Component.INTEREST),
        to_principal=ledger.total(Component.PRINCIPAL),
        to_accrued_interest=ledger.total(Component.ACCRUED_INTEREST),
        prepaid_principal=ledger.total(Component.PREPAYMENT),
        credit=ledger.total(Component.CREDIT),
        paid_ahead=sum(line.amount for line in ledger.lines if line.ahead),
        remaining=tuple(item for item in ledger.owed.values() if item.total),
        cancelled=tuple(cancelled),
    )
