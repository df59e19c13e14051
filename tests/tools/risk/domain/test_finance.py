"""Annuity installment and its inverse, checked against hand arithmetic and published loan tables."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.risk.domain.finance import annuity_installment, max_principal_for_installment

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.mark.parametrize(
    ("principal", "rate", "months", "installment"),
    [
        # r = 0.12 / 12 = 0.01; 1.01^12 = 1.126825; 1 - 1/1.126825 = 0.112551; 1000 * 0.01 / 0.112551 = 88.85
        ("1000", "0.12", 12, "88.85"),
        # r = 0.02; 1.02^12 = 1.268242; 1 - 1/1.268242 = 0.211507; 10000 * 0.02 / 0.211507 = 945.60
        ("10000", "0.24", 12, "945.60"),
        # The textbook 30-year mortgage: 100000 at 6% for 360 months is 599.55 a month.
        ("100000", "0.06", 360, "599.55"),
        # r = 0.025; 1.025^24 = 1.808726; 1 - 1/1.808726 = 0.447124; 1000000 * 0.025 / 0.447124 = 55912.82
        ("1000000", "0.30", 24, "55912.82"),
        # No interest: the principal split evenly, 1200 / 12 = 100.
        ("1200", "0", 12, "100.00"),
        ("0", "0.30", 12, "0.00"),
    ],
)
def test_installment_matches_hand_arithmetic(
    principal: str, rate: str, months: int, installment: str
) -> None:
    assert cents(annuity_installment(Decimal(principal), Decimal(rate), months)) == Decimal(installment)


def test_one_month_repays_principal_plus_one_month_of_interest() -> None:
    # n = 1: P r / (1 - 1/(1 + r)) = P (1 + r); 1000 * (1 + 0.12/12) = 1010 exactly, to 40 digits.
    assert abs(annuity_installment(Decimal(1000), Decimal("0.12"), 1) - Decimal(1010)) < Decimal("1e-40")


def test_zero_rate_splits_the_principal_evenly() -> None:
    # 1000 / 3 to 50 digits (compared at this test's 28), and exactly 100 for 1200 / 12.
    assert abs(annuity_installment(Decimal(1000), Decimal(0), 3) - Decimal(1000) / 3) < Decimal("1e-25")
    assert annuity_installment(Decimal(1200), Decimal(0), 12) == Decimal(100)
    assert max_principal_for_installment(Decimal(100), Decimal(0), 12) == Decimal(1200)


def test_the_installment_is_not_rounded() -> None:
    # 1000 at 12% for 12 months is 88.8487886783...: callers round, not this function.
    installment = annuity_installment(Decimal(1000), Decimal("0.12"), 12)
    assert len(installment.as_tuple().digits) == 50  # every digit of the 50-digit context
    assert str(installment).startswith("88.84878867834170")


@pytest.mark.parametrize(
    ("installment", "rate", "months", "principal"),
    [
        # (1 - 1.01^-12) / 0.01 = 11.255077; 88.85 * 11.255077 = 1000.01 (88.85 is 88.8488 rounded up)
        ("88.85", "0.12", 12, "1000.01"),
        # 599.55 * (1 - 1.005^-360) / 0.005 = 599.55 * 166.7916 = 99999.91
        ("599.55", "0.06", 360, "99999.91"),
        ("100", "0", 12, "1200.00"),
    ],
)
def test_max_principal_matches_hand_arithmetic(
    installment: str, rate: str, months: int, principal: str
) -> None:
    assert cents(max_principal_for_installment(Decimal(installment), Decimal(rate), months)) == Decimal(
        principal
    )


@pytest.mark.parametrize("bad", [Decimal(-1), Decimal("NaN"), Decimal("Infinity"), 1000, 1000.0])
def test_amounts_and_rates_that_are_not_finite_non_negative_decimals_are_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        annuity_installment(bad, Decimal("0.1"), 12)
    with pytest.raises(ValueError):
        annuity_installment(Decimal(1000), bad, 12)
    with pytest.raises(ValueError):
        max_principal_for_installment(bad, Decimal("0.1"), 12)


@pytest.mark.parametrize("months", [0, -1, True, 12.0])
def test_a_term_that_is_not_a_positive_integer_is_rejected(months: Any) -> None:
    with pytest.raises(ValueError):
        annuity_installment(Decimal(1000), Decimal("0.1"), months)
    with pytest.raises(ValueError):
        max_principal_for_installment(Decimal(100), Decimal("0.1"), months)


principals = st.integers(1, 10**16).map(lambda minor: Decimal(minor).scaleb(-2))
rates = st.integers(0, 10_000).map(lambda bp: Decimal(bp).scaleb(-4))  # 0% to 100% in basis points
terms = st.integers(1, 1200)


@given(principals, rates, terms)
def test_max_principal_inverts_the_installment(principal: Decimal, rate: Decimal, months: int) -> None:
    back = max_principal_for_installment(annuity_installment(principal, rate, months), rate, months)
    assert abs(back - principal) <= principal * Decimal("1e-40")


@given(principals, rates, terms)
def test_the_installments_repay_at_least_the_principal_and_never_less_than_it_divided(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    installment = annuity_installment(principal, rate, months)
    # Interest only ever adds: n installments cover the principal, and each is at least P / n.
    # Compared at 60 digits so that the test's own arithmetic does not round at Decimal's default 28.
    with localcontext(Context(prec=60)):
        assert installment * months >= principal * (1 - Decimal("1e-40"))
        assert installment >= principal / months * (1 - Decimal("1e-40"))


@given(principals, rates, rates, terms)
def test_a_higher_rate_never_lowers_the_installment(
    principal: Decimal, rate: Decimal, other: Decimal, months: int
) -> None:
    low, high = sorted((rate, other))
    assert annuity_installment(principal, low, months) <= annuity_installment(principal, high, months)


@given(principals, rates, st.integers(1, 1199))
def test_a_longer_term_never_raises_the_installment(principal: Decimal, rate: Decimal, months: int) -> None:
    assert annuity_installment(principal, rate, months + 1) <= annuity_installment(principal, rate, months)
