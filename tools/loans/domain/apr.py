"""The annual percentage rate of a closed-end loan: US Regulation Z, Appendix J, actuarial method.

- Amount financed = principal - prepaid finance charges (an origination fee deducted or paid at closing).
- Finance charge = total of payments - amount financed (the whole cost of the credit, fee included).
- The unit period is the payment period (a month, 14 days or 7 days). Appendix J's general equation
  (paragraph (b)(8)) finds the unit-period rate ``i`` with

      amount financed = sum over k of payment_k / ((1 + f i) (1 + i)^(t + k - 1))

  where the first period is ``t`` whole unit periods plus a fraction ``f`` of one (the fraction earns
  simple interest, as Appendix J prescribes); the payments follow one unit period apart.
  APR = ``i * unit periods per year``.
- The first period, from the loan date to the first due date (Appendix J (b)(3)(iv), (b)(5)(iv), (v)):
  monthly: the whole months counted back from the first due date, each to the same day of the month
  (clamped to the month's end, so the 29th-31st fall on the end of February, as schedules do), then
  the remaining days / 30 (all months are equal): 10 January to 15 February is t = 1, f = 5/30.
  Bi-weekly and weekly: the days / 14 or / 7, the quotient whole periods and the remainder the
  fraction. A loan dated one unit period before its first due date has a regular first period (t = 1,
  f = 0), which is also the default when no loan date is given. The fraction is at most 1 (30 days).
- ``i`` is solved by Newton's method from 0 in 50-digit Decimal arithmetic. The right-hand side is
  decreasing and convex in ``i``, so every Newton step stays below the root and climbs towards it; the
  search stops once the root is certain to lie within ``RATE_TOLERANCE`` (1e-12) above the current rate,
  which is then returned: the APR is exact to about 1e-10, far inside the figures reported.
- Reported: the APR as a fraction rounded half-up to 6 places (0.158555), and in percent rounded half-up
  to 2 places (15.86), both from the unrounded rate (never one rounding on top of another). Regulation Z
  (1026.22(a)(2)) treats a disclosed APR as accurate within 1/8 of a percentage point of the true one
  for a regular transaction (``REGULAR_TOLERANCE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext

from tools.loans.domain.schedules import PERIODS_PER_YEAR, Frequency, Schedule, add_months

__all__ = [
    "RATE_TOLERANCE",
    "REGULAR",
    "REGULAR_TOLERANCE",
    "AprDisclosure",
    "FirstPeriod",
    "annual_percentage_rate",
    "apr_percent",
    "disclose",
    "first_period",
    "solve_periodic_rate",
]

_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)
RATE_TOLERANCE = Decimal("1e-12")
REGULAR_TOLERANCE = Decimal("0.00125")  # 1/8 of 1 percentage point, as a fraction
_APR_PLACES = Decimal("0.000001")
_PERCENT_PLACES = Decimal("0.01")
_DAYS_PER_MONTH_FRACTION = 30
_DAYS_PER_UNIT: dict[Frequency, int] = {Frequency.BIWEEKLY: 14, Frequency.WEEKLY: 7}
_MAX_STEPS = 500


@dataclass(frozen=True, slots=True)
class FirstPeriod:
    """From the loan date to the first payment: ``whole`` unit periods plus ``fraction`` of one."""

    whole: int
    fraction: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.whole, int) or isinstance(self.whole, bool) or self.whole < 0:
            raise ValueError(f"whole unit periods must be a non-negative integer; got {self.whole!r}")
        if not isinstance(self.fraction, Decimal) or not 0 <= self.fraction <= 1:
            raise ValueError(f"fraction must be a Decimal from 0 to 1; got {self.fraction!r}")
        if self.whole == 0 and self.fraction == 0:
            raise ValueError("the first period must be longer than zero")


REGULAR = FirstPeriod(1, Decimal(0))


@dataclass(frozen=True, slots=True, kw_only=True)
class AprDisclosure:
    """The Truth-in-Lending figures of one loan. Amounts in minor units of ``currency``."""

    currency: str
    amount_financed: int
    prepaid_finance_charge: int
    finance_charge: int
    total_of_payments: int
    frequency: Frequency
    unit_periods_per_year: int
    first_period: FirstPeriod
    periodic_rate: Decimal  # unrounded, within RATE_TOLERANCE below the true unit-period rate
    apr: Decimal  # fraction, 6 places half-up
    apr_percent: Decimal  # percent, 2 places half-up


def _plain_date(name: str, value: date) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{name} must be a plain date; got {value!r}")


def first_period(loan_date: date, first_due_date: date, frequency: Frequency | str) -> FirstPeriod:
    """The first period in unit periods, counted as the module docstring describes.

    31 days from 15 January to 15 February (monthly) is FirstPeriod(1, 0); 10 January to 15 February is
    1 month (back to 15 January) and 5 days: FirstPeriod(1, 5/30); 20 days weekly is FirstPeriod(2, 6/7).
    """
    frequency = Frequency(frequency)
    _plain_date("loan_date", loan_date)
    _plain_date("first_due_date", first_due_date)
    if first_due_date <= loan_date:
        raise ValueError(f"the first due date {first_due_date} must be after the loan date {loan_date}")
    with localcontext(_CONTEXT):
        if frequency is Frequency.MONTHLY:
            months = 0
            while add_months(first_due_date, -(months + 1)) >= loan_date:
                months += 1
            days = (add_months(first_due_date, -months) - loan_date).days
            return FirstPeriod(months, Decimal(days) / _DAYS_PER_MONTH_FRACTION)
        whole, days = divmod((first_due_date - loan_date).days, _DAYS_PER_UNIT[frequency])
        return FirstPeriod(whole, Decimal(days) / _DAYS_PER_UNIT[frequency])


def _check_payments(amount_financed: int, payments: Sequence[int]) -> None:
    if not isinstance(amount_financed, int) or isinstance(amount_financed, bool) or amount_financed < 1:
        raise ValueError(
            f"the amount financed must be a positive number of minor units; got {amount_financed!r}"
        )
    if not payments:
        raise ValueError("there must be at least one payment")
    for payment in payments:
        if not isinstance(payment, int) or isinstance(payment, bool) or payment < 0:
            raise ValueError(f"payments must be non-negative whole minor units; got {payment!r}")
    if sum(payments) < amount_financed:
        raise ValueError(
            f"the payments total {sum(payments)}, less than the amount financed {amount_financed}: "
            "that is not a loan with a finance charge"
        )


def _value_and_slope(rate: Decimal, payments: Sequence[int], first: FirstPeriod) -> tuple[Decimal, Decimal]:
    """Present value of the payments at ``rate`` and its derivative with respect to ``rate``."""
    growth = 1 + rate
    simple = 1 + first.fraction * rate
    discount = 1 / (simple * growth**first.whole)
    value = slope = Decimal(0)
    for k, payment in enumerate(payments):
        periods = first.whole + k
        value += payment * discount
        slope -= payment * discount * (first.fraction / simple + periods / growth)
        discount /= growth
    return value, slope


def solve_periodic_rate(
    amount_financed: int, payments: Sequence[int], first: FirstPeriod = REGULAR
) -> Decimal:
    """The unit-period rate ``i`` of Appendix J's general equation, within ``RATE_TOLERANCE`` below it."""
    _check_payments(amount_financed, payments)
    if sum(payments) == amount_financed:
        return Decimal(0)
    with localcontext(_CONTEXT):
        rate = Decimal(0)
        for _ in range(_MAX_STEPS):
            if _value_and_slope(rate + RATE_TOLERANCE, payments, first)[0] <= amount_financed:
                return rate  # the root lies in [rate, rate + tolerance]
            value, slope = _value_and_slope(rate, payments, first)
            # Convex and decreasing: the tangent's zero never passes the root, and it always moves up.
            rate -= (value - amount_financed) / slope
    raise ArithmeticError("the APR search did not converge")  # pragma: no cover - convexity rules it out


def _annual(rate: Decimal, frequency: Frequency, places: Decimal, scale: int = 1) -> Decimal:
    with localcontext(_CONTEXT):
        return (rate * PERIODS_PER_YEAR[frequency] * scale).quantize(places, rounding=ROUND_HALF_UP)


def annual_percentage_rate(
    amount_financed: int,
    payments: Sequence[int],
    *,
    frequency: Frequency | str = Frequency.MONTHLY,
    first: FirstPeriod = REGULAR,
) -> Decimal:
    """The APR as a fraction rounded half-up to 6 places (0.158555 is 15.8555%)."""
    frequency = Frequency(frequency)
    return _annual(solve_periodic_rate(amount_financed, payments, first), frequency, _APR_PLACES)


def apr_percent(
    amount_financed: int,
    payments: Sequence[int],
    *,
    frequency: Frequency | str = Frequency.MONTHLY,
    first: FirstPeriod = REGULAR,
) -> Decimal:
    """The APR in percent rounded half-up to 2 places (15.86), from the unrounded rate."""
    frequency = Frequency(frequency)
    return _annual(solve_periodic_rate(amount_financed, payments, first), frequency, _PERCENT_PLACES, 100)


def disclose(
    schedule: Schedule, *, prepaid_finance_charge: int = 0, loan_date: date | None = None
) -> AprDisclosure:
    """APR, amount financed, finance charge and total of payments of a schedule.

    ``prepaid_finance_charge`` (an origination fee, minor units) is deducted from the principal to give
    the amount financed. Without ``loan_date`` the first period is one regular unit period.
    """
    fee = prepaid_finance_charge
    if not isinstance(fee, int) or isinstance(fee, bool) or not 0 <= fee < schedule.principal:
        raise ValueError(f"the prepaid finance charge must be from 0 to below the principal; got {fee!r}")
    first = (
        REGULAR if loan_date is None else first_period(loan_date, schedule.first_due_date, schedule.frequency)
    )
    financed = schedule.principal - fee
    rate = solve_periodic_rate(financed, schedule.payments, first)
    return AprDisclosure(
        currency=schedule.currency,
        amount_financed=financed,
        prepaid_finance_charge=fee,
        finance_charge=schedule.total_of_payments - financed,
        total_of_payments=schedule.total_of_payments,
        frequency=schedule.frequency,
        unit_periods_per_year=schedule.periods_per_year,
        first_period=first,
        periodic_rate=rate,
        apr=_annual(rate, schedule.frequency, _APR_PLACES),
        apr_percent=_annual(rate, schedule.frequency, _PERCENT_PLACES, 100),
    )
