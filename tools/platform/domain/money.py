"""Money at the edges is a Decimal with an ISO 4217 code; inside it is integer minor units.

Conversion never rounds: an amount with more decimals than its currency allows is rejected, because
silently rounding a borrower's requested amount is a money bug, not a convenience.
"""

from __future__ import annotations

from decimal import (
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Underflow,
)
from functools import lru_cache

import iso4217

__all__ = ["MoneyError", "currency_exponent", "from_minor", "to_minor"]

# Largest amount we accept in major units; keeps minor units inside a signed 64-bit column for every
# currency exponent in ISO 4217 (max 4).
MAX_MAJOR_AMOUNT = Decimal("100000000000000")


# Every accepted amount scales to at most 19 digits, so 60 digits never round an in-range amount;
# any rounding the scaling would need (too many decimals, or absurd exponents) traps instead.
_EXACT = Context(prec=60, traps=[InvalidOperation, Overflow, Underflow, Inexact, Rounded])


class MoneyError(ValueError):
    """The amount or currency cannot be used as money."""


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Minor-unit exponent of an active ISO 4217 currency (NGN 2, JPY 0, BHD 3)."""
    if len(code) != 3 or not code.isascii() or not code.isupper():
        raise MoneyError(f"'{code}' is not an ISO 4217 code; use three upper-case letters such as NGN or USD")
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        raise MoneyError(
            f"'{code}' is not an ISO 4217 currency; use an active code such as NGN or USD"
        ) from None
    if exponent is None:
        # Precious metals, fund codes and the like (XAU, XDR) have no minor unit: not lendable money.
        raise MoneyError(f"'{code}' is not a currency that can be lent; use a national currency code")
    return int(exponent)


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact conversion to integer minor units; raises MoneyError instead of rounding."""
    exponent = currency_exponent(currency)
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise MoneyError("amount must be a finite number")
    if amount.copy_abs() > MAX_MAJOR_AMOUNT:  # copy_abs is exact; abs() would round to the context
        raise MoneyError(f"amount must not exceed {MAX_MAJOR_AMOUNT}")
    try:
        scaled = amount.scaleb(exponent, context=_EXACT)
    except DecimalException:
        raise _too_precise(amount, currency, exponent) from None
    if scaled != scaled.to_integral_value(context=_EXACT):
        raise _too_precise(amount, currency, exponent)
    return int(scaled)


def _too_precise(amount: Decimal, currency: str, exponent: int) -> MoneyError:
    # Built only when raised: formatting it for every amount was a third of a conversion's time.
    return MoneyError(
        f"{currency} has {exponent} decimal place{'s' if exponent != 1 else ''}; "
        f"{amount} has more. Send at most {exponent} decimals"
    )


def from_minor(minor: int, currency: str) -> Decimal:
    """Decimal amount with exactly the currency's number of decimals (12345 NGN-minor -> 123.45)."""
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
