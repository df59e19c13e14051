"""What it costs to settle a loan early.

Early settlement quote: outstanding principal + interest due and unpaid + unpaid fees + interest
accrued daily on the outstanding principal at the annual rate / 365 (actual days, 365 even in leap
years) from the last due date (or disbursement), rounded half-up once to a minor unit. The quote is good
through ``valid_until`` = ``as_of`` + ``valid_days`` and accrues interest up to that day (the payoff
convention: paid earlier, the difference is a credit to refund; never an undercharge). With the default
``valid_days`` = 0 that is interest to ``as_of`` exactly; ``per_diem`` shows one more day's interest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from tools.platform.domain.money import currency_exponent
from tools.platform.domain.money_format import format_money, format_percent

__all__ = [
    "DAYS_PER_YEAR",
    "SettlementQuote",
    "accrued_interest",
    "check_amount",
    "check_date",
    "quote_early_settlement",
]

DAYS_PER_YEAR = 365
_CONTEXT = Context(prec=50)


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


def check_amount(name: str, value: int, *, positive: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
        kind = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {kind} whole number of minor units; got {value!r}")


def check_date(name: str, value: date) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{name} must be a plain date; got {value!r}")


def accrued_interest(principal: int, annual_rate: Decimal, start: date, end: date) -> int:
    """principal * annual_rate * days / 365 from ``start`` to ``end``, rounded half-up to a minor unit."""
    check_amount("principal", principal)
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or annual_rate < 0:
        raise ValueError(f"annual_rate must be a finite, non-negative Decimal fraction; got {annual_rate!r}")
    check_date("start", start)
    check_date("end", end)
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
    interest_paid_ahead: int = 0,
    interest_to_come: int | None = None,
    good_until: date | None = None,
) -> SettlementQuote:
    """What pays the loan off through ``as_of`` + ``valid_days``. ``accrual_start`` is the last due date
    (or the disbursement date before the first); ``interest_due`` is interest of past installments still
    unpaid; ``unpaid_fees`` the late fees still owed. ``interest_paid_ahead``: interest of installments not
    yet due that was paid in advance, which counts against the accrued interest; ``interest_to_come``: the
    unpaid interest of those installments, which the accrued interest never exceeds. ``good_until``:
    the day the quote is shown good through, when later than the day it accrues to (a window whose
    costliest day is earlier; ``loans.settlement_quote``)."""
    currency_exponent(currency)
    check_amount("outstanding_principal", outstanding_principal)
    check_amount("interest_due", interest_due)
    check_amount("unpaid_fees", unpaid_fees)
    if not isinstance(valid_days, int) or isinstance(valid_days, bool) or valid_days < 0:
        raise ValueError(f"valid_days must be a non-negative whole number; got {valid_days!r}")
    check_date("as_of", as_of)
    check_amount("interest_paid_ahead", interest_paid_ahead)
    valid_until = as_of + timedelta(days=valid_days)
    earned = accrued_interest(outstanding_principal, annual_rate, accrual_start, valid_until)
    accrued = max(0, earned - interest_paid_ahead)
    if interest_to_come is not None:
        accrued = min(accrued, interest_to_come)
    days = (valid_until - accrual_start).days
    per_diem = accrued_interest(outstanding_principal, annual_rate, as_of, as_of + timedelta(days=1))
    total = outstanding_principal + interest_due + accrued + unpaid_fees
    money = format_money
    lines = (
        f"{money(outstanding_principal, currency)} outstanding principal",
        f"{money(interest_due, currency)} interest due and unpaid",
        f"{money(accrued, currency)} interest accrued since {accrual_start.isoformat()}: "
        f"{money(outstanding_principal, currency)} at {format_percent(annual_rate)} a year "
        f"for {days}/{DAYS_PER_YEAR} of a year"
        + (f", less {money(interest_paid_ahead, currency)} paid ahead" if interest_paid_ahead else ""),
        f"{money(unpaid_fees, currency)} unpaid fees",
        f"{money(total, currency)} settles the loan if paid by {(good_until or valid_until).isoformat()}",
    )
    return SettlementQuote(
        currency=currency,
        as_of=as_of,
        valid_until=good_until or valid_until,
        principal=outstanding_principal,
        interest_due=interest_due,
        accrued_interest=accrued,
        accrued_days=days,
        fees=unpaid_fees,
        total=total,
        per_diem=per_diem,
        lines=lines,
    )
