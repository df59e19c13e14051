"""Amounts in minor units written for people."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tools.platform.domain.money_format import format_money, format_percent


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (500_000, "NGN", "₦5,000.00"),
        (1, "NGN", "₦0.01"),
        (0, "USD", "$0.00"),
        (-150, "USD", "-$1.50"),
        (1_200, "JPY", "¥1,200"),
        (1_250, "BHD", "BHD 1.250"),  # no symbol here: the code, and three decimals
        (123_456_789, "KES", "KSh1,234,567.89"),
    ],
)
def test_amounts_print_exactly_with_the_currency_decimals(minor: int, currency: str, text: str) -> None:
    assert format_money(minor, currency) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [("0.085", "8.5%"), ("0.07", "7%"), ("0.24", "24%"), ("-0.005", "-0.5%"), ("1", "100%"), ("0", "0%")],
)
def test_percentages_print_every_digit_and_no_trailing_zeros(fraction: str, text: str) -> None:
    assert format_percent(Decimal(fraction)) == text
