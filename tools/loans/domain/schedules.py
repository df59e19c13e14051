"""Repayment schedules in the currency's minor units: annuity, flat and declining-balance loans.

Methods (``r`` is the periodic rate = annual rate / periods per year, ``n`` the number of installments):

- annuity (the default): a level installment ``A = P r / (1 - (1 + r)^-n)`` (``P / n`` at r = 0); each
  installment's interest is the interest on the balance still owed, the rest repays principal.
- flat: total interest ``P * annual rate * n / periods per year`` (the rate applied to the original
  principal for the whole term), spread evenly; the level installment is (P + interest) / n.
- declining balance: equal principal ``P / n`` each installment plus interest on the balance still owed,
  so installments fall over the term.

Frequencies: monthly (12 a year), bi-weekly (26) and weekly (52). Due dates start at the given first due
date; monthly dates are anchored on that day of the month and clamped to the month's end (a first due
date of 31 January gives 29 February in a leap year, then 31 March, 30 April, ...): the k-th date is
``first + k months``, never the previous date plus a month, so a short February does not drag every
later date to the 28th. Bi-weekly and weekly dates add 14 and 7 days.

Rounding (every figure is whole minor units of the currency: ISO 4217 exponent, so a yen, a cent, a
fils of BHD; "half-up" is ROUND_HALF_UP on the exact value). Each line's interest is that period's
interest, rounded half-up once, and the schedule's total interest is the sum of its lines, exactly:

- annuity: the level installment is the textbook ``A`` rounded half-up. Each line's interest is the
  balance still owed (as shown, in minor units) * annual rate / periods per year, rounded half-up; its
  principal is ``A`` less that interest.
- flat: the contract is a total interest ``T = P * annual rate * n / periods per year``, rounded half-up
  once, spread evenly: a line's interest is ``T * k / n`` rounded half-up less the interest already
  shown (each within a minor unit of ``T / n``, never negative), its principal the level installment
  ``(P + T) / n`` (rounded half-up) less that interest.
- declining balance: each line but the last repays ``P / n`` rounded half-up; its interest is the
  balance still owed (as shown) * annual rate / periods per year, rounded half-up.
- The LAST installment takes the principal still outstanding plus its own interest (computed the same
  way; for a flat loan, the rest of ``T``), so sum(principal) == principal, sum(interest) == total
  interest and the balance after the last line is 0. For an annuity the last installment differs from
  ``A`` by the rounding carried through the term (a few minor units on an ordinary loan).
- Interest is computed as ``balance * annual_rate / periods`` in 50-digit Decimal arithmetic, one
  division, so a value that ends (every period interest whose exact value is a half) is exact and a
  true half always rounds up.
- A schedule that cannot be amortized in whole minor units is refused with a ValueError rather than
  given a negative line: a principal so small against the number of installments that the rounded
  installments would repay it before the last one (e.g. 1.50 over 100 installments), or a rate and term
  so extreme that an annuity's rounded installment would not cover a period's interest.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from tools.platform.domain.money import MAX_MAJOR_AMOUNT, currency_exponent

__all__ = [
    "MAX_ANNUAL_RATE",
    "MAX_INSTALLMENTS",
    "PERIODS_PER_YEAR",
    "Frequency",
    "Installment",
    "Method",
    "Schedule",
    "add_months",
    "build_schedule",
    "due_dates",
    "periodic_rate",
]

# 50 significant digits, as in finance.py: (1 + r)^-n stays exact to far below a minor unit for every
# accepted rate and term. Half-even only ever touches the 50th digit; money is rounded half-up explicitly.
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)
MAX_ANNUAL_RATE = Decimal(10)  # 1000% a year: anything above is a typo, not a loan
MAX_INSTALLMENTS = 1560  # 30 years of weekly installments


class Method(StrEnum):
    ANNUITY = "annuity"
    FLAT = "flat"
    DECLINING_BALANCE = "declining_balance"


class Frequency(StrEnum):
    MONTHLY = "monthly"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"


PERIODS_PER_YEAR: dict[Frequency, int] = {Frequency.MONTHLY: 12, Frequency.BIWEEKLY: 26, Frequency.WEEKLY: 52}
_DAYS_PER_PERIOD: dict[Frequency, int] = {Frequency.BIWEEKLY: 14, Frequency.WEEKLY: 7}


@dataclass(frozen=True, slots=True)
class Installment:
    """One line of a schedule; amounts in minor units. ``total`` = ``principal`` + ``interest``."""

    number: int
    due_date: date
    principal: int
    interest: int
    total: int
    balance_after: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A whole schedule. ``total_of_payments`` = ``principal`` + ``total_interest`` = sum of the totals."""

    currency: str
    method: Method
    frequency: Frequency
    principal: int
    annual_rate: Decimal
    installments: tuple[Installment, ...]
    total_interest: int
    total_of_payments: int

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[self.frequency]

    @property
    def first_due_date(self) -> date:
        return self.installments[0].due_date

    @property
    def maturity_date(self) -> date:
        return self.installments[-1].due_date

    @property
    def payments(self) -> tuple[int, ...]:
        """The installment totals in order: what the borrower pays, for the APR."""
        return tuple(line.total for line in self.installments)


def _half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months`` calendar months, the day clamped to the month's length."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_dates(
    first_due_date: date, count: int, frequency: Frequency | str = Frequency.MONTHLY
) -> tuple[date, ...]:
    """The ``count`` due dates of a schedule starting on ``first_due_date`` (see the module docstring)."""
    frequency = Frequency(frequency)
    if frequency is Frequency.MONTHLY:
        return tuple(add_months(first_due_date, k) for k in range(count))
    step = timedelta(days=_DAYS_PER_PERIOD[frequency])
    return tuple(first_due_date + k * step for k in range(count))


def periodic_rate(annual_rate: Decimal, frequency: Frequency | str) -> Decimal:
    """annual rate / periods per year, to 50 significant digits (0.24 monthly -> 0.02)."""
    with localcontext(_CONTEXT):
        return annual_rate / PERIODS_PER_YEAR[Frequency(frequency)]


def _check_inputs(
    principal: int, currency: str, annual_rate: Decimal, count: int, first_due_date: date
) -> None:
    exponent = currency_exponent(currency)  # raises MoneyError (a ValueError) for a bad code
    if not isinstance(principal, int) or isinstance(principal, bool) or principal < 1:
        raise ValueError(f"principal must be a positive whole number of minor units; got {principal!r}")
    if principal > MAX_MAJOR_AMOUNT.scaleb(exponent):
        raise ValueError(f"principal must not exceed {MAX_MAJOR_AMOUNT} {currency}")
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or annual_rate < 0:
        raise ValueError(f"annual_rate must be a finite, non-negative Decimal fraction; got {annual_rate!r}")
    if annual_rate > MAX_ANNUAL_RATE:
        raise ValueError(f"annual_rate is a fraction (0.24 is 24%); {annual_rate} is above {MAX_ANNUAL_RATE}")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_INSTALLMENTS:
        raise ValueError(f"installments must be a whole number from 1 to {MAX_INSTALLMENTS}; got {count!r}")
    # A due date is a calendar day: a datetime (a date subclass) would smuggle in a time and a zone.
    if not isinstance(first_due_date, date) or isinstance(first_due_date, datetime):
        raise ValueError(f"first_due_date must be a plain date; got {first_due_date!r}")


def _annuity_installment(principal: int, periodic: Decimal, count: int) -> Decimal:
    """The exact level installment ``P r / (1 - (1 + r)^-n)`` (``P / n`` at r = 0)."""
    if periodic == 0:
        return Decimal(principal) / count
    return principal * periodic / (1 - (1 + periodic) ** -count)


def _period_interest(balance: int, annual_rate: Decimal, per_year: int) -> int:
    return _half_up(balance * annual_rate / per_year)  # one division: a true half is exact


def _annuity_lines(principal: int, annual_rate: Decimal, count: int, per_year: int) -> list[tuple[int, int]]:
    """(principal, interest) per installment of an annuity, rounded as documented."""
    with localcontext(_CONTEXT):
        installment = _half_up(_annuity_installment(principal, annual_rate / per_year, count))
        lines: list[tuple[int, int]] = []
        balance = principal
        for k in range(count):
            interest = _period_interest(balance, annual_rate, per_year)
            repay = balance if k == count - 1 else installment - interest
            if repay < 0 < balance:  # a negative amortization, not a principal already exhausted
                raise ValueError(
                    f"at {annual_rate} a year over {count} installments the level installment of "
                    f"{installment} minor units does not cover a period's interest once rounded; use a "
                    "shorter term or a lower rate"
                )
            lines.append((repay, interest))
            balance -= repay
    return lines


def _flat_lines(principal: int, annual_rate: Decimal, count: int, per_year: int) -> list[tuple[int, int]]:
    """(principal, interest) per installment of a flat-rate loan, rounded as documented."""
    with localcontext(_CONTEXT):
        # One division each (P * rate * k / periods): a true half of a minor unit is exact, and rounds up.
        installment = _half_up((principal * per_year + principal * annual_rate * count) / (per_year * count))
        to_date = [_half_up(principal * annual_rate * k / per_year) for k in range(1, count + 1)]
    lines: list[tuple[int, int]] = []
    shown = repaid = 0
    for interest_to_date in to_date[:-1]:
        interest = min(installment, interest_to_date - shown)
        lines.append((installment - interest, interest))
        shown, repaid = shown + interest, repaid + installment - interest
    lines.append((principal - repaid, to_date[-1] - shown))
    return lines


def _declining_lines(
    principal: int, annual_rate: Decimal, count: int, per_year: int
) -> list[tuple[int, int]]:
    """(principal, interest) per installment for a declining-balance loan, rounded as documented."""
    with localcontext(_CONTEXT):
        part = _half_up(Decimal(principal) / count)
        lines: list[tuple[int, int]] = []
        balance = principal
        for k in range(count):
            repay = part if k < count - 1 else balance
            lines.append((repay, _period_interest(balance, annual_rate, per_year)))
            balance -= repay
    return lines


def build_schedule(
    principal: int,
    currency: str,
    annual_rate: Decimal,
    installments: int,
    first_due_date: date,
    *,
    method: Method | str = Method.ANNUITY,
    frequency: Frequency | str = Frequency.MONTHLY,
) -> Schedule:
    """The repayment schedule of ``principal`` minor units of ``currency`` at ``annual_rate`` (a fraction:
    0.24 is 24% a year) in ``installments`` installments, the first due on ``first_due_date``.

    Raises ValueError for an unknown method or frequency, a bad currency, a principal that is not a
    positive whole number of minor units, a negative or non-Decimal rate, a term outside 1 to
    ``MAX_INSTALLMENTS``, or a principal too small to spread over the term (see the module docstring).
    """
    method, frequency = Method(method), Frequency(frequency)
    _check_inputs(principal, currency, annual_rate, installments, first_due_date)
    per_year = PERIODS_PER_YEAR[frequency]
    if method is Method.DECLINING_BALANCE:
        lines = _declining_lines(principal, annual_rate, installments, per_year)
    elif method is Method.FLAT:
        lines = _flat_lines(principal, annual_rate, installments, per_year)
    else:
        lines = _annuity_lines(principal, annual_rate, installments, per_year)
    if any(paid < 0 or interest < 0 for paid, interest in lines):
        raise ValueError(
            f"a principal of {principal} minor units is too small for {installments} installments: the "
            "installments, rounded to whole minor units, would repay it before the last one; use fewer"
        )
    rows, balance = [], principal
    for number, (due, (paid, interest)) in enumerate(
        zip(due_dates(first_due_date, installments, frequency), lines, strict=True), start=1
    ):
        balance -= paid
        rows.append(Installment(number, due, paid, interest, paid + interest, balance))
    total_interest = sum(line.interest for line in rows)
    return Schedule(
        currency=currency,
        method=method,
        frequency=frequency,
        principal=principal,
        annual_rate=annual_rate,
        installments=tuple(rows),
        total_interest=total_interest,
        total_of_payments=principal + total_interest,
    )
