"""Amounts in minor units written for people: 500000 NGN-minor -> "₦5,000.00", 1200 JPY -> "¥1,200".

Display only: the figure printed is exactly the amount (``from_minor`` never rounds), with thousands
separators and the currency's own number of decimals. Currencies without a symbol here print their code.
"""

from __future__ import annotations

from decimal import Decimal

from tools.platform.domain.money import from_minor

__all__ = ["SYMBOLS", "format_money", "format_percent"]

SYMBOLS: dict[str, str] = {
    "NGN": "₦",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "GHS": "GH₵",
    "KES": "KSh",
    "ZAR": "R",
    "JPY": "¥",
    "INR": "₹",
}


def format_money(minor: int, currency: str) -> str:
    """ "₦5,000.00" for 500000 NGN-minor; "-$1.50" for -150 USD-minor; "BHD 1.250" for 1250 BHD-minor."""
    figure = format(from_minor(abs(minor), currency), ",")
    symbol = SYMBOLS.get(currency)
    text = f"{symbol}{figure}" if symbol else f"{currency} {figure}"
    return f"-{text}" if minor < 0 else text


def format_percent(fraction: Decimal) -> str:
    """0.085 -> "8.5%", 0.07 -> "7%", -0.005 -> "-0.5%": every digit of the fraction, no trailing zeros."""
    return f"{format((fraction * 100).normalize(), 'f')}%"
