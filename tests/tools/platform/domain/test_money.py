"""Money conversion: ISO 4217 exponents, exact integer minor units, and never a silent rounding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import iso4217
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tools.platform.domain.money import MAX_MAJOR_AMOUNT, MoneyError, currency_exponent, from_minor, to_minor

LENDABLE = sorted(c.code for c in iso4217.Currency if c.exponent is not None)


@pytest.mark.parametrize(("code", "exponent"), [("NGN", 2), ("KES", 2), ("USD", 2), ("JPY", 0), ("BHD", 3)])
def test_currency_exponent_of_active_currencies(code, exponent) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize(
    "code",
    ["XAU", "XDR", "ZZZ", "ngn", "Ngn", "NG", "NGNN", "", "ÑGN", "N1N", " NGN"],
)
def test_codes_that_are_not_lendable_currencies_are_rejected(code) -> None:
    with pytest.raises(MoneyError):
        currency_exponent(code)
    with pytest.raises(MoneyError):
        to_minor(Decimal("1"), code)
    with pytest.raises(MoneyError):
        from_minor(100, code)


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [
        ("250000.00", "NGN", 25000000),
        ("1234567.89", "NGN", 123456789),
        ("0.01", "NGN", 1),
        ("1.5", "NGN", 150),
        ("1.500", "NGN", 150),  # extra zeros are not extra precision
        ("500000", "JPY", 500000),
        ("2.5E+3", "JPY", 2500),
        ("1.234", "BHD", 1234),
        ("0.001", "BHD", 1),
        ("-1.50", "NGN", -150),
    ],
)
def test_to_minor_scales_exactly(amount, code, minor) -> None:
    assert to_minor(Decimal(amount), code) == minor
    assert type(to_minor(Decimal(amount), code)) is int


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [
        (12345, "NGN", "123.45"),
        (5, "NGN", "0.05"),
        (-150, "NGN", "-1.50"),
        (500000, "JPY", "500000"),
        (1234, "BHD", "1.234"),
        (0, "BHD", "0.000"),
    ],
)
def test_from_minor_has_exactly_the_currencys_decimals(minor, code, text) -> None:
    assert str(from_minor(minor, code)) == text


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("100.001", "NGN"),
        ("0.005", "NGN"),
        ("100.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "BHD"),
        ("1E-3", "NGN"),
        # More significant digits than Decimal's default 28: must be rejected, not rounded to 1.00.
        ("1.0000000000000000000000000001", "NGN"),
        ("99999.999999999999999999999999999", "NGN"),
        # So small that rounding it to the context would make it zero.
        ("1E-999999999", "NGN"),
    ],
)
def test_too_many_decimals_are_rejected_never_rounded(amount, code) -> None:
    with pytest.raises(
        MoneyError, match=rf"^{code} has \d decimal places?; .+ has more. Send at most \d decimals$"
    ):
        to_minor(Decimal(amount), code)


def test_the_refusal_names_the_currency_its_decimals_and_the_amount() -> None:
    with pytest.raises(MoneyError) as caught:
        to_minor(Decimal("10.001"), "NGN")
    assert str(caught.value) == "NGN has 2 decimal places; 10.001 has more. Send at most 2 decimals"
    with pytest.raises(MoneyError) as caught:
        to_minor(Decimal("1.5"), "JPY")
    assert str(caught.value) == "JPY has 0 decimal places; 1.5 has more. Send at most 0 decimals"


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity", "100000000000000.01", "1E+15"])
def test_non_finite_and_oversized_amounts_are_rejected(amount) -> None:
    with pytest.raises(MoneyError):
        to_minor(Decimal(amount), "NGN")


def test_huge_exponents_are_a_money_error_not_an_arithmetic_error() -> None:
    with pytest.raises(MoneyError):
        to_minor(Decimal("9E+999999"), "NGN")


def test_the_largest_amount_fits_a_signed_64_bit_column_in_every_currency() -> None:
    for code in LENDABLE:
        assert to_minor(MAX_MAJOR_AMOUNT, code) < 2**63
        assert to_minor(-MAX_MAJOR_AMOUNT, code) > -(2**63)


@st.composite
def money(draw: st.DrawFn, extra_places: int = 0) -> tuple[Decimal, str]:
    """An in-range amount of a lendable currency with ``exponent + extra_places`` decimals at most,
    built from its digits so that no Decimal context can round it on the way in."""
    code = draw(st.sampled_from(LENDABLE))
    exponent = currency_exponent(code)
    places = draw(st.integers(0, exponent)) if not extra_places else exponent + extra_places
    limit = int(MAX_MAJOR_AMOUNT) * 10**places
    units = draw(st.integers(-limit, limit))
    if extra_places:
        units = units // 10 * 10 + draw(st.integers(1, 9))  # the last decimal is not zero
    sign = int(units < 0)
    digits = tuple(int(d) for d in str(abs(units)))
    return Decimal((sign, digits, -places)), code


@given(money())
@example((Decimal("100000000000000"), "CLF"))
@example((Decimal("-0.01"), "NGN"))
@example((Decimal("0"), "JPY"))
def test_from_minor_undoes_to_minor(case: tuple[Decimal, str]) -> None:
    amount, code = case
    back = from_minor(to_minor(amount, code), code)
    assert back == amount
    assert back.as_tuple().exponent == -currency_exponent(code)


@given(money())
def test_to_minor_is_exact_integer_scaling(case: tuple[Decimal, str]) -> None:
    amount, code = case
    minor = to_minor(amount, code)
    assert type(minor) is int
    assert Fraction(minor) == Fraction(amount) * 10 ** currency_exponent(code)


@given(st.integers(1, 40).flatmap(lambda extra: money(extra_places=extra)))
def test_any_amount_with_a_nonzero_digit_past_the_exponent_is_rejected(case: tuple[Decimal, str]) -> None:
    amount, code = case
    with pytest.raises(MoneyError):
        to_minor(amount, code)


@given(st.sampled_from(LENDABLE), st.data())
def test_to_minor_undoes_from_minor(code: str, data: st.DataObject) -> None:
    limit = int(MAX_MAJOR_AMOUNT) * 10 ** currency_exponent(code)
    minor = data.draw(st.integers(-limit, limit))
    assert to_minor(from_minor(minor, code), code) == minor
