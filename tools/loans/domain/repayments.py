"""Where a borrower's payment goes, and what it costs to settle a loan early.

Allocation of a payment (amounts in minor units), for the installments due on or before ``as_of``:

- ``installment_first`` (the default, Apache Fineract's standard strategy): installment by installment,
  oldest due date first; within each, late fee -> interest -> principal. An old installment is cleared
  before a newer one is touched, so a partial payment cures the oldest arrears first.
- ``component_first``: every due late fee (oldest first), then every due interest, then every due
  principal.

Whatever is left after everything due, in this order:

1. Interest accrued since the last due date (``accrued_interest``, computed by ``accrued_interest``):
   it is the next installment's interest earned so far, so it is paid ahead and that installment's
   interest falls by the same amount (never below zero). Past the last due date there is no next
   installment: what the payment does not cover is added to the last installment's interest, now due.
2. Principal of future installments, and the term SHORTENS: the last installment's principal first,
   then the one before, and so on. An installment whose principal is fully prepaid is cancelled together
   with its scheduled interest (interest is not earned on money already repaid); a partly prepaid one
   owes less principal. The earlier installments keep their amounts and dates, and the loan ends sooner.
   A lender that recalculates interest on the lower balance can rebuild the remaining lines with
   ``schedules.build_schedule``; this module keeps the contract's figures.
3. Anything beyond a full payoff is a ``credit`` for the borrower (to refund, or hold for later).

Paying exactly what ``quote_early_settlement`` quotes (with the same accrued interest) settles the loan:
everything due, the accrued interest and all future principal, with nothing left over.

Early settlement quote: outstanding principal + interest due and unpaid + unpaid fees + interest
accrued daily on the outstanding principal at the annual rate / 365 (actual days, 365 even in leap
years) from the last due date (or disbursement), rounded half-up once to a minor unit. The quote is good
through ``valid_until`` = ``as_of`` + ``valid_days`` and accrues interest up to that day (the payoff
convention: paid earlier, the difference is a credit to refund; never an undercharge). With the default
``valid_days`` = 0 that is interest to ``as_of`` exactly; ``per_diem`` shows one more day's interest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from itertools import pairwise

from tools.platform.domain.money import currency_exponent
from tools.platform.domain.money_format import format_money, format_percent

__all__ = [
    "DAYS_PER_YEAR",
    "Allocation",
    "AllocationLine",
    "AllocationOrder",
    "Component",
    "Outstanding",
    "SettlementQuote",
    "accrued_interest",
    "allocate_payment",
    "quote_early_settlement",
]

DAYS_PER_YEAR = 365
_CONTEXT = Context(prec=50)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """``amount`` = to_fees + to_interest + to_principal + to_accrued_interest + prepaid_principal + credit.

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
    remaining: tuple[Outstanding, ...]
    cancelled: tuple[int, ...]

    @property
    def paid_off(self) -> bool:
        return not self.remaining


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementQuote:
    """What settles the loan on ``as_of`` (valid through ``valid_until``), in minor units."""

    currency: str
    as_of: date
    valid_until: date
    principal: int
    interest_due: int
    accrued_interest: int
    accrued_days: int
    fees: int
    total: int
    per_diem: int
    lines: tuple[str, ...]


def _check_amount(name: str, value: int, *, positive: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
        kind = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {kind} whole number of minor units; got {value!r}")


def _check_date(name: str, value: date) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{name} must be a plain date; got {value!r}")


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

    def __init__(self, amount: int, installments: Sequence[Outstanding], currency: str) -> None:
        self.left = amount
        self.owed = {item.number: item for item in installments}
        self.currency = currency
        self.lines: list[AllocationLine] = []

    def pay(self, number: int, component: Component, field: str, text: str) -> None:
        owed = getattr(self.owed[number], field)
        paid = min(self.left, owed)
        if paid == 0:
            return
        self.left -= paid
        self.owed[number] = replace(self.owed[number], **{field: owed - paid})
        money = format_money(paid, self.currency)
        self.lines.append(AllocationLine(component, number, paid, f"{money} {text} of installment {number}"))

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


def allocate_payment(
    amount: int,
    installments: Sequence[Outstanding],
    as_of: date,
    currency: str,
    *,
    accrued_interest: int = 0,
    order: AllocationOrder | str = AllocationOrder.INSTALLMENT_FIRST,
) -> Allocation:
    """Allocate ``amount`` minor units received on ``as_of`` to what the loan owes (module docstring).

    ``installments``: what each installment still owes, due or not. ``accrued_interest``: interest accrued
    since the last due date, charged only when the payment settles the loan in full.
    """
    order = AllocationOrder(order)
    currency_exponent(currency)
    _check_amount("amount", amount, positive=True)
    _check_amount("accrued_interest", accrued_interest)
    _check_date("as_of", as_of)
    _check_installments(installments)
    ordered = sorted(installments, key=lambda item: item.number)
    due = [item for item in ordered if item.due_date <= as_of]
    future = [item for item in ordered if item.due_date > as_of]
    if any(item.fees for item in future):
        raise ValueError("an installment not yet due cannot owe a late fee")
    if accrued_interest and not ordered:
        raise ValueError("interest cannot accrue on a loan without installments")
    ledger = _Ledger(amount, ordered, currency)
    if order is AllocationOrder.INSTALLMENT_FIRST:
        for item in due:
            for component, field, text in _DUE_STEPS:
                ledger.pay(item.number, component, field, text)
    else:
        for component, field, text in _DUE_STEPS:
            for item in due:
                ledger.pay(item.number, component, field, text)
    cancelled = _prepay(ledger, future, accrued_interest) if ledger.left or not future else []
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
        remaining=tuple(item for item in ledger.owed.values() if item.total),
        cancelled=tuple(cancelled),
    )


def accrued_interest(principal: int, annual_rate: Decimal, start: date, end: date) -> int:
    """principal * annual_rate * days / 365 from ``start`` to ``end``, rounded half-up to a minor unit."""
    _check_amount("principal", principal)
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or annual_rate < 0:
        raise ValueError(f"annual_rate must be a finite, non-negative Decimal fraction; got {annual_rate!r}")
    _check_date("start", start)
    _check_date("end", end)
    if end < start:
        raise ValueError(f"interest cannot accrue backwards: {end} is before {start}")
    with localcontext(_CONTEXT):
        exact = principal * annual_rate * (end - start).days / DAYS_PER_YEAR
        return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def quote_early_settlement(
    outstanding_principal: int,
    annual_rate: Decimal,
    accrual_start: date,
    as_of: date,
    currency: str,
    *,
    interest_due: int = 0,
    unpaid_fees: int = 0,
    valid_days: int = 0,
) -> SettlementQuote:
    """What pays the loan off through ``as_of`` + ``valid_days``. ``accrual_start`` is the last due date
    (or the disbursement date before the first); ``interest_due`` is interest of past installments still
    unpaid; ``unpaid_fees`` the late fees still owed."""
    currency_exponent(currency)
    _check_amount("outstanding_principal", outstanding_principal)
    _check_amount("interest_due", interest_due)
    _check_amount("unpaid_fees", unpaid_fees)
    if not isinstance(valid_days, int) or isinstance(valid_days, bool) or valid_days < 0:
        raise ValueError(f"valid_days must be a non-negative whole number; got {valid_days!r}")
    _check_date("as_of", as_of)
    valid_until = as_of + timedelta(days=valid_days)
    accrued = accrued_interest(outstanding_principal, annual_rate, accrual_start, valid_until)
    days = (valid_until - accrual_start).days
    per_diem = accrued_interest(outstanding_principal, annual_rate, as_of, as_of + timedelta(days=1))
    total = outstanding_principal + interest_due + accrued + unpaid_fees
    money = format_money
    lines = (
        f"{money(outstanding_principal, currency)} outstanding principal",
        f"{money(interest_due, currency)} interest due and unpaid",
        f"{money(accrued, currency)} interest accrued since {accrual_start.isoformat()}: "
        f"{money(outstanding_principal, currency)} at {format_percent(annual_rate)} a year "
        f"for {days}/{DAYS_PER_YEAR} of a year",
        f"{money(unpaid_fees, currency)} unpaid fees",
        f"{money(total, currency)} settles the loan if paid by {valid_until.isoformat()}",
    )
    return SettlementQuote(
        currency=currency,
        as_of=as_of,
        valid_until=valid_until,
        principal=outstanding_principal,
        interest_due=interest_due,
        accrued_interest=accrued,
        accrued_days=days,
        fees=unpaid_fees,
        total=total,
        per_diem=per_diem,
        lines=lines,
    )
