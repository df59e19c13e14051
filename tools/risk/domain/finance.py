"""Annuity arithmetic: the level monthly installment of a loan, and the loan a given installment repays.

Both functions return an *unrounded* Decimal: callers round to the currency (half-up, per the credit
primer) because only they know whether the figure is a quote, a schedule line or a bound.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

__all__ = ["FINANCE_PRECISION", "annuity_installment", "max_principal_for_installment"]

# 50 significant digits: amounts reach 1e14 and (1 + r)^-n for n = 1200 still leaves over 30 correct
# digits, so the result is exact to far below a minor unit and the two functions invert each other to
# about 1e-40 relative. Half-even is Decimal's default and only affects the 50th digit.
FINANCE_PRECISION = 50
_CONTEXT = Context(prec=FINANCE_PRECISION, rounding=ROUND_HALF_EVEN)
_MONTHS_PER_YEAR = 12


def _check(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative Decimal; got {value!r}")


def _check_term(term_months: int) -> None:
    # bool is an int; a term of True months is a bug upstream, not one month.
    if not isinstance(term_months, int) or isinstance(term_months, bool) or term_months < 1:
        raise ValueError(f"term_months must be a positive integer; got {term_months!r}")


def _annuity_factor(monthly_rate: Decimal, term_months: int) -> Decimal:
    """Present value of 1 paid at the end of each of ``term_months`` months: (1 - (1 + r)^-n) / r.

    Must run inside ``_CONTEXT``. For r = 0 the limit is n (no interest: the principal is split evenly).
    """
    if monthly_rate == 0:
        return Decimal(term_months)
    return (1 - (1 + monthly_rate) ** -term_months) / monthly_rate


def annuity_installment(principal: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """Level monthly installment A = P·r / (1 - (1 + r)^-n) with r = annual_rate / 12; A = P / n at r = 0.

    ``annual_rate`` is a fraction (0.30 is 30% a year). The result is not rounded.
    """
    _check("principal", principal)
    _check("annual_rate", annual_rate)
    _check_term(term_months)
    with localcontext(_CONTEXT):
        return principal / _annuity_factor(annual_rate / _MONTHS_PER_YEAR, term_months)


def max_principal_for_installment(installment: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """The principal whose level installment is ``installment``: P = A·(1 - (1 + r)^-n) / r; A·n at r = 0.

    The inverse of :func:`annuity_installment` at the same rate and term. The result is not rounded;
    callers that need an amount that is certainly affordable round it *down*.
    """
    _check("installment", installment)
    _check("annual_rate", annual_rate)
    _check_term(term_months)
    with localcontext(_CONTEXT):
        return installment * _annuity_factor(annual_rate / _MONTHS_PER_YEAR, term_months)
