"""Schedules against an independent amortization, written here from the textbook formulas in exact
rational arithmetic (fractions), not from the product's code: a few hundred random loans in every
frequency and method, in currencies of 0, 2 and 3 decimals.

The textbook (docs: credit primer, Amortization): ``r`` = annual rate / periods per year;
- annuity: ``A = P r / (1 - (1 + r)^-n)`` (``P / n`` at r = 0) rounded half-up to the minor unit; each
  period's interest is the outstanding balance * r, rounded half-up; principal = A - interest;
- flat: the total interest P r n, rounded half-up, spread evenly (interest to date rounded half-up, less
  what earlier rows show) in a level installment (P + P r n) / n rounded half-up;
- declining balance: principal P / n rounded half-up, interest on the outstanding balance * r;
- the last installment takes the remaining principal plus its own interest.
A loan whose rounded rows would go negative (the principal exhausted before the last installment, or a
level installment below a period's interest) has no such schedule, and the product must refuse it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.loans.domain.schedules import Frequency, Method, build_schedule

PER_YEAR = {"monthly": 12, "biweekly": 26, "weekly": 52}
Rows = list[tuple[int, int]]


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2)) if value >= 0 else -floor(-value + Fraction(1, 2))


def textbook(principal: int, rate: Fraction, n: int, method: str) -> Rows | None:
    """(principal, interest) per installment, or None when the loan cannot be amortized."""
    if method == "flat":
        total = half_up(principal * rate * n)
        installment = half_up(Fraction(principal + principal * rate * n, n))
        rows, shown = [], 0
        for k in range(1, n):
            interest = min(installment, half_up(principal * rate * k) - shown)
            rows.append((installment - interest, interest))
            shown += interest
        rows.append((principal - sum(p for p, _ in rows), total - shown))
    else:
        if method == "annuity":
            level = Fraction(principal, n) if rate == 0 else principal * rate / (1 - (1 + rate) ** -n)
            installment = half_up(level)
        part = half_up(Fraction(principal, n))
        rows, balance = [], principal
        for k in range(1, n + 1):
            interest = half_up(balance * rate)
            scheduled = installment - interest if method == "annuity" else part
            repay = balance if k == n else scheduled
            rows.append((repay, interest))
            balance -= repay
    return None if any(p < 0 or i < 0 for p, i in rows) else rows


@st.composite
def any_loan(draw: st.DrawFn, frequency: str) -> tuple[int, str, Decimal, int, str]:
    count = draw(st.integers(1, 10 * PER_YEAR[frequency]))  # up to the 120 months an applicant may ask
    principal = draw(st.integers(1, 10**6) | st.integers(10**6, 10**12))
    rate = Decimal(draw(st.integers(0, 50_000))).scaleb(-4)  # 0 to 500% a year, as a bid may say
    currency = draw(st.sampled_from(["JPY", "USD", "NGN", "BHD", "KWD"]))
    return principal, currency, rate, count, draw(st.sampled_from(list(Method)))


@pytest.mark.parametrize("frequency", list(PER_YEAR))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_schedules_match_the_textbook_amortization(frequency: str, data: st.DataObject) -> None:
    principal, currency, rate, count, method = data.draw(any_loan(frequency))
    expected = textbook(principal, Fraction(rate) / PER_YEAR[frequency], count, method)
    arguments = (principal, currency, rate, count, date(2026, 1, 31))
    if expected is None:
        with pytest.raises(ValueError):
            build_schedule(*arguments, method=method, frequency=Frequency(frequency))
        return
    schedule = build_schedule(*arguments, method=method, frequency=Frequency(frequency))
    assert [(line.principal, line.interest) for line in schedule.installments] == expected
    assert schedule.total_interest == sum(interest for _, interest in expected)
    assert sum(line.total for line in schedule.installments) == schedule.total_of_payments


def test_a_true_half_of_a_minor_unit_rounds_up_in_every_row() -> None:
    # r = 0.04 / 12 = 1/300, which never ends in decimals: 450 yen owe exactly 1.5 yen of interest
    # (-> 2) and 150 yen exactly 0.5 (-> 1); an approximate r would round both down.
    one = build_schedule(450, "JPY", Decimal("0.04"), 1, date(2026, 1, 31))
    assert (one.installments[0].interest, one.installments[0].total) == (2, 452)
    half = build_schedule(150, "JPY", Decimal("0.04"), 1, date(2026, 1, 31))
    assert (half.installments[0].interest, half.installments[0].total) == (1, 151)
