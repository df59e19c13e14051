"""Repayment schedules: hand-computed reference tables and properties over generated loans."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.schedules import (
    MAX_INSTALLMENTS,
    PERIODS_PER_YEAR,
    Frequency,
    Method,
    Schedule,
    add_months,
    build_schedule,
    due_dates,
)
from tools.platform.domain.money import MoneyError


def rows(schedule: Schedule) -> list[tuple[int, str, int, int, int, int]]:
    return [
        (
            line.number,
            line.due_date.isoformat(),
            line.principal,
            line.interest,
            line.total,
            line.balance_after,
        )
        for line in schedule.installments
    ]


def test_ngn_100000_at_24_percent_over_12_months_annuity() -> None:
    # P = 10,000,000 kobo, r = 0.24 / 12 = 0.02; 1.02^12 = 1.2682417946; 1 - 1/1.2682417946 = 0.2115065818
    # A = 10,000,000 * 0.02 / 0.2115065818 = 945,595.9662 -> 945,596 (N9,455.96) half-up.
    # Line 1: interest 10,000,000 * 0.02 = 200,000; principal 945,596 - 200,000 = 745,596.
    # Every line's interest is the balance shown before it * 0.02, rounded half-up:
    # Line 2: 9,254,404 * 0.02 = 185,088.08 -> 185,088; principal 760,508.
    # Line 5: 6,926,946 * 0.02 = 138,538.92 -> 138,539 (interest to date rounded would give 138,538: the
    #   row would not be the interest on the balance it shows).
    # The last installment takes the 927,056 still owed plus its own interest, 927,056 * 0.02 = 18,541.12
    #   -> 18,541: 945,597. Total interest = the sum of the lines, 1,347,153.
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31))
    assert rows(schedule) == [
        (1, "2025-01-31", 745596, 200000, 945596, 9254404),
        (2, "2025-02-28", 760508, 185088, 945596, 8493896),
        (3, "2025-03-31", 775718, 169878, 945596, 7718178),
        (4, "2025-04-30", 791232, 154364, 945596, 6926946),
        (5, "2025-05-31", 807057, 138539, 945596, 6119889),
        (6, "2025-06-30", 823198, 122398, 945596, 5296691),
        (7, "2025-07-31", 839662, 105934, 945596, 4457029),
        (8, "2025-08-31", 856455, 89141, 945596, 3600574),
        (9, "2025-09-30", 873585, 72011, 945596, 2726989),
        (10, "2025-10-31", 891056, 54540, 945596, 1835933),
        (11, "2025-11-30", 908877, 36719, 945596, 927056),
        (12, "2025-12-31", 927056, 18541, 945597, 0),
    ]
    assert (schedule.principal, schedule.total_interest, schedule.total_of_payments) == (
        10_000_000,
        1_347_153,
        11_347_153,
    )
    assert schedule.method is Method.ANNUITY and schedule.frequency is Frequency.MONTHLY


def test_zero_rate_splits_the_principal_and_the_last_installment_takes_the_remainder() -> None:
    # 10,000,000 / 3 = 3,333,333.33 -> 3,333,333 twice; the last is 10,000,000 - 6,666,666 = 3,333,334.
    for method in Method:
        schedule = build_schedule(10_000_000, "NGN", Decimal(0), 3, date(2025, 1, 31), method=method)
        assert rows(schedule) == [
            (1, "2025-01-31", 3333333, 0, 3333333, 6666667),
            (2, "2025-02-28", 3333333, 0, 3333333, 3333334),
            (3, "2025-03-31", 3333334, 0, 3333334, 0),
        ]
        assert schedule.total_interest == 0


def test_weekly_annuity() -> None:
    # r = 0.26 / 52 = 0.005; 1.005^4 = 1.0201505006; A = 100,000 * 0.005 / (1 - 1/1.0201505006)
    #   = 500 / 0.0197524... = 25,313.2793 -> 25,313 cents.
    # Interest: 100,000 * 0.005 = 500; 75,187 * 0.005 = 375.935 -> 376; 50,250 * 0.005 = 251.25 -> 251;
    # the last takes the 25,188 still owed plus 25,188 * 0.005 = 125.94 -> 126: 25,314.
    schedule = build_schedule(100_000, "USD", Decimal("0.26"), 4, date(2025, 1, 8), frequency="weekly")
    assert rows(schedule) == [
        (1, "2025-01-08", 24813, 500, 25313, 75187),
        (2, "2025-01-15", 24937, 376, 25313, 50250),
        (3, "2025-01-22", 25062, 251, 25313, 25188),
        (4, "2025-01-29", 25188, 126, 25314, 0),
    ]
    assert schedule.total_of_payments == 101_253


def test_biweekly_annuity() -> None:
    # r = 0.13 / 26 = 0.005; 1.005^6 = 1.0303775094; A = 130,000 * 0.005 / (1 - 1/1.0303775094)
    #   = 650 / 0.0294818... = 22,047.4092 -> 22,047. Line 3: 87,099 * 0.005 = 435.495 -> 435 (the
    # interest to date, rounded, would show 436). The last takes the 21,939 still owed plus
    # 21,939 * 0.005 = 109.695 -> 110: 22,049.
    schedule = build_schedule(130_000, "USD", Decimal("0.13"), 6, date(2025, 1, 15), frequency="biweekly")
    assert rows(schedule) == [
        (1, "2025-01-15", 21397, 650, 22047, 108603),
        (2, "2025-01-29", 21504, 543, 22047, 87099),
        (3, "2025-02-12", 21612, 435, 22047, 65487),
        (4, "2025-02-26", 21720, 327, 22047, 43767),
        (5, "2025-03-12", 21828, 219, 22047, 21939),
        (6, "2025-03-26", 21939, 110, 22049, 0),
    ]


def test_flat_interest_is_the_rate_on_the_original_principal_spread_evenly() -> None:
    # Interest = 10,000,000 * 0.24 / 12 = 200,000 kobo a month exactly; principal 10,000,000 / 12 =
    # 833,333.33 -> 833,333 a month; the last takes 10,000,000 - 11 * 833,333 = 833,337, so 1,033,337.
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31), method="flat")
    lines = schedule.installments
    assert all(
        (line.principal, line.interest, line.total) == (833333, 200000, 1033333) for line in lines[:-1]
    )
    assert (lines[-1].principal, lines[-1].interest, lines[-1].total) == (833337, 200000, 1033337)
    assert (schedule.total_interest, schedule.total_of_payments) == (2_400_000, 12_400_000)


def test_declining_balance_repays_equal_principal_with_interest_on_the_balance() -> None:
    # N120,000.00 at 24% over 12 months: principal 1,000,000 kobo each; interest 2% of the balance owed:
    # 240,000, 220,000, ..., 20,000; total interest 2% * 1,000,000 * (12 + 11 + ... + 1) = 1,560,000.
    schedule = build_schedule(
        12_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31), method="declining_balance"
    )
    assert [line.principal for line in schedule.installments] == [1_000_000] * 12
    assert [line.interest for line in schedule.installments] == [20_000 * k for k in range(12, 0, -1)]
    assert [line.total for line in schedule.installments][:2] == [1_240_000, 1_220_000]
    assert (schedule.total_interest, schedule.total_of_payments) == (1_560_000, 13_560_000)


def test_jpy_has_no_minor_unit_so_installments_are_whole_yen() -> None:
    # r = 0.15 / 12 = 0.0125; 1.0125^12 = 1.1607545177; A = 100,000 * 0.0125 / (1 - 1/1.1607545177)
    #   = 1,250 / 0.1384912... = 9,025.83 -> 9,026 yen, each line's interest rounded to a whole yen;
    # the last takes the 8,913 yen still owed plus 8,913 * 0.0125 = 111.41 -> 111: 9,024.
    # 2024 is a leap year: 31 January -> 29 February.
    schedule = build_schedule(100_000, "JPY", Decimal("0.15"), 12, date(2024, 1, 31))
    assert [line.total for line in schedule.installments] == [9026] * 11 + [9024]
    assert schedule.installments[0].interest == 1250  # 100,000 * 0.0125
    assert schedule.installments[1].due_date == date(2024, 2, 29)
    assert schedule.total_of_payments == 108_310


def test_monthly_due_dates_are_anchored_on_the_first_and_clamped_to_the_month_end() -> None:
    assert due_dates(date(2025, 1, 31), 4) == (
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),  # anchored on the 31st, not dragged to the 28th by February
        date(2025, 4, 30),
    )
    assert due_dates(date(2025, 12, 15), 2) == (date(2025, 12, 15), date(2026, 1, 15))
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert due_dates(date(2025, 1, 1), 3, "biweekly") == (
        date(2025, 1, 1),
        date(2025, 1, 15),
        date(2025, 1, 29),
    )
    assert due_dates(date(2025, 1, 1), 2, Frequency.WEEKLY) == (date(2025, 1, 1), date(2025, 1, 8))


def test_a_principal_too_small_for_the_term_is_refused() -> None:
    # 150 cents over 100 installments: each rounds to 2 cents, and 99 * 2 = 198 > 150.
    with pytest.raises(ValueError, match="too small"):
        build_schedule(150, "USD", Decimal(0), 100, date(2025, 1, 1))


@pytest.mark.parametrize(
    "change",
    [
        {"principal": 0},
        {"principal": -100},
        {"principal": True},
        {"principal": 1000.0},
        {"principal": Decimal(1000)},
        {"currency": "XXX"},
        {"currency": "ngn"},
        {"annual_rate": Decimal(-1)},
        {"annual_rate": Decimal("NaN")},
        {"annual_rate": 0.24},
        {"annual_rate": Decimal(24)},  # a percentage where a fraction belongs
        {"installments": 0},
        {"installments": MAX_INSTALLMENTS + 1},
        {"installments": True},
        {"first_due_date": datetime(2025, 1, 31, tzinfo=UTC)},
        {"first_due_date": "2025-01-31"},
        {"method": "balloon"},
        {"frequency": "daily"},
    ],
)
def test_invalid_inputs_are_refused_with_a_value_error(change: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "principal": 100_000,
        "currency": "NGN",
        "annual_rate": Decimal("0.24"),
        "installments": 12,
        "first_due_date": date(2025, 1, 31),
    } | change
    with pytest.raises(ValueError):
        build_schedule(**arguments)
    assert issubclass(MoneyError, ValueError)


@st.composite
def loans(draw: st.DrawFn) -> dict[str, Any]:
    """Loans of the terms the product offers (up to 120 months in every frequency), 0-60% a year in
    basis points, every method, at least 1,000.00 per installment (so no rounding can exhaust them)."""
    frequency = draw(st.sampled_from(Frequency))
    count = draw(st.integers(1, 10 * PERIODS_PER_YEAR[frequency]))
    return {
        "principal": draw(st.integers(100_000 * count, 10**13)),
        "currency": draw(st.sampled_from(["NGN", "USD", "JPY", "BHD", "KWD"])),
        "annual_rate": Decimal(draw(st.integers(0, 6_000))).scaleb(-4),
        "installments": count,
        "first_due_date": draw(st.dates(date(2000, 1, 1), date(2100, 1, 1))),
        "method": draw(st.sampled_from(Method)),
        "frequency": frequency,
    }


@given(loans())
def test_the_schedule_sums_exactly_and_the_balance_falls_to_zero(loan: dict[str, Any]) -> None:
    schedule = build_schedule(**loan)
    lines = schedule.installments
    assert sum(line.principal for line in lines) == schedule.principal
    assert sum(line.interest for line in lines) == schedule.total_interest
    assert sum(line.total for line in lines) == schedule.principal + schedule.total_interest
    assert schedule.total_of_payments == schedule.principal + schedule.total_interest
    assert [line.number for line in lines] == list(range(1, loan["installments"] + 1))
    balances = [schedule.principal] + [line.balance_after for line in lines]
    assert all(before >= after >= 0 for before, after in pairwise(balances))
    assert balances[-1] == 0
    for before, line in zip(balances, lines, strict=False):
        assert line.principal >= 0 and line.interest >= 0
        assert line.total == line.principal + line.interest
        assert line.balance_after == before - line.principal
    assert all(a.due_date < b.due_date for a, b in pairwise(lines))


@given(loans())
def test_every_installment_but_the_last_is_level(loan: dict[str, Any]) -> None:
    schedule = build_schedule(**loan)
    lines = schedule.installments
    if schedule.method is Method.DECLINING_BALANCE:
        assert len({line.principal for line in lines[:-1]}) <= 1
        assert abs(lines[-1].principal - lines[0].principal) < loan["installments"]
    else:
        assert len({line.total for line in lines[:-1]}) <= 1


@given(loans())
def test_zero_rate_never_charges_interest(loan: dict[str, Any]) -> None:
    schedule = build_schedule(**(loan | {"annual_rate": Decimal(0)}))
    assert schedule.total_interest == 0
    assert all(line.interest == 0 for line in schedule.installments)
