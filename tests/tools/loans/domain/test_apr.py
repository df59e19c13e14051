"""APR per Regulation Z Appendix J: reference loans checked by hand, odd first periods, and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.apr import (
    RATE_TOLERANCE,
    REGULAR,
    REGULAR_TOLERANCE,
    FirstPeriod,
    annual_percentage_rate,
    apr_percent,
    disclose,
    first_period,
    solve_periodic_rate,
)
from tools.loans.domain.schedules import Frequency, build_schedule

# 1,000.00 at 12% a year, 12 monthly installments: 88.85 eleven times and 88.84 (see test_schedules).
PAYMENTS_1000_AT_12 = [8885] * 11 + [8884]


def present_value(rate: Decimal, payments: list[int], first: FirstPeriod = REGULAR) -> Decimal:
    """Appendix J's right-hand side, computed independently of the module (60 digits)."""
    with localcontext(Context(prec=60)):
        return sum(
            (
                payment / ((1 + first.fraction * rate) * (1 + rate) ** (first.whole + k))
                for k, payment in enumerate(payments)
            ),
            Decimal(0),
        )


def test_no_fee_and_regular_periods_give_the_nominal_rate() -> None:
    # At i = 1% a month: 88.85 * (1 - 1.01^-12) / 0.01 = 88.85 * 11.255077 = 1,000.0137, less 0.01 for
    # the cent the last installment is short, discounted: 0.01 / 1.01^12 = 0.0089 -> 1,000.0048.
    # Slightly above 1,000.00 (88.85 is 88.8488 rounded up), so i is a hair above 1%: 1.0000753%,
    # APR 12.0009% -> 0.120009, and 12.00 in percent.
    assert annual_percentage_rate(100_000, PAYMENTS_1000_AT_12) == Decimal("0.120009")
    assert apr_percent(100_000, PAYMENTS_1000_AT_12) == Decimal("12.00")
    # 5,000.00 at 1% a month over 36 months is 5000 * 0.01 / (1 - 1.01^-36) = 50 / 0.301075 = 166.07.
    assert apr_percent(500_000, [16607] * 36) == Decimal("12.00")


def test_a_two_percent_fee_on_1000_at_12_percent_for_12_months() -> None:
    # Amount financed = 1,000.00 - 20.00 = 980.00; the payments are unchanged (1,066.19 in all), so the
    # finance charge is 1,066.19 - 980.00 = 86.19. Solving 980 = sum 88.85 / (1 + i)^k (last 88.84):
    # at i = 0.0132129: 1.0132129^12 = 1.1705998, (1 - 1/1.1705998) / 0.0132129 = 11.029922, and
    # 88.85 * 11.029922 - 0.01 / 1.1705998 = 980.0085 - 0.0085 = 980.000. APR = 12 * 1.32129% = 15.8555%.
    # (The rule of thumb "12% + 2% / average life of about 0.54 years" gives about 15.7%.)
    schedule = build_schedule(100_000, "USD", Decimal("0.12"), 12, date(2025, 2, 1))
    disclosure = disclose(schedule, prepaid_finance_charge=2_000)
    assert disclosure.amount_financed == 98_000
    assert disclosure.total_of_payments == 106_619
    assert disclosure.finance_charge == 8_619
    assert disclosure.apr == Decimal("0.158555")
    assert disclosure.apr_percent == Decimal("15.86")
    assert abs(present_value(disclosure.periodic_rate, PAYMENTS_1000_AT_12) - 98_000) < Decimal("1e-6")


def test_a_weekly_loan_uses_the_week_as_unit_period() -> None:
    # 1,000.00 at 26% a year, 52 weekly installments (21.89, the last 21.74), 10.00 fee: 990.00
    # financed. i = 0.540014% a week: 1.00540014^52 = 1.3231984 and (1 - 1/1.3231984) / 0.00540014 =
    # 45.2313, 21.89 * 45.2313 - 0.15 / 1.3231984 = 990.11 - 0.11 = 990.00. APR = 52 * i = 28.0807%.
    schedule = build_schedule(100_000, "USD", Decimal("0.26"), 52, date(2025, 1, 8), frequency="weekly")
    disclosure = disclose(schedule, prepaid_finance_charge=1_000)
    assert (disclosure.unit_periods_per_year, disclosure.amount_financed) == (52, 99_000)
    assert disclosure.apr == Decimal("0.280807")
    assert disclosure.apr_percent == Decimal("28.08")
    assert disclosure.finance_charge == disclosure.total_of_payments - 99_000 == 14_813


def test_a_long_first_period_lowers_the_apr_and_a_short_one_raises_it() -> None:
    # Loan dated 20 December, first payment 1 February: one month back is 1 January, then 12 days:
    # t = 1, f = 12/30 = 0.4. The same payments over a longer time cost less a year: 14.91% against 15.86%.
    schedule = build_schedule(100_000, "USD", Decimal("0.12"), 12, date(2025, 2, 1))
    longer = disclose(schedule, prepaid_finance_charge=2_000, loan_date=date(2024, 12, 20))
    regular = disclose(schedule, prepaid_finance_charge=2_000, loan_date=date(2025, 1, 1))
    shorter = disclose(schedule, prepaid_finance_charge=2_000, loan_date=date(2025, 1, 11))
    assert longer.first_period == FirstPeriod(1, Decimal("0.4"))
    assert regular.first_period == REGULAR
    assert shorter.first_period == FirstPeriod(0, Decimal(21) / 30)
    assert (longer.apr_percent, regular.apr_percent, shorter.apr_percent) == (
        Decimal("14.91"),
        Decimal("15.86"),
        Decimal("16.64"),
    )
    assert abs(
        present_value(longer.periodic_rate, PAYMENTS_1000_AT_12, longer.first_period) - 98_000
    ) < Decimal("1e-6")


@pytest.mark.parametrize(
    ("loan", "first_due", "frequency", "expected"),
    [
        (date(2025, 1, 15), date(2025, 2, 15), "monthly", (1, "0")),
        (date(2025, 1, 10), date(2025, 2, 15), "monthly", (1, "5")),
        (date(2025, 1, 31), date(2025, 2, 28), "monthly", (0, "28")),  # 28 January is before the loan
        (date(2025, 1, 31), date(2025, 3, 31), "monthly", (2, "0")),  # 31 March back 2 months is 31 January
        (date(2025, 3, 1), date(2025, 3, 31), "monthly", (0, "30")),  # back a month is 28 February
        (date(2024, 11, 15), date(2025, 2, 20), "monthly", (3, "5")),
        (date(2025, 1, 1), date(2025, 1, 21), "weekly", (2, "6/7")),
        (date(2025, 1, 1), date(2025, 1, 15), "biweekly", (1, "0")),
        (date(2025, 1, 1), date(2025, 1, 11), "biweekly", (0, "10/14")),
    ],
)
def test_first_period_counts_whole_unit_periods_back_from_the_first_due_date(
    loan: date, first_due: date, frequency: str, expected: tuple[int, str]
) -> None:
    whole, days = expected
    numerator, _, denominator = days.partition("/")
    with localcontext(Context(prec=50)):
        fraction = Decimal(numerator) / Decimal(denominator or 30)
    assert first_period(loan, first_due, frequency) == FirstPeriod(whole, fraction)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("solve", (0, [100])),
        ("solve", (1_000, [])),
        ("solve", (1_000, [400, 500])),  # pays back less than was lent
        ("solve", (1_000, [600, -1])),
        ("solve", (1_000, [600.0, 600])),
        ("first", (date(2025, 2, 1), date(2025, 2, 1))),
        ("first", (datetime(2025, 1, 1, tzinfo=UTC), date(2025, 2, 1))),
        ("period", (0, Decimal(0))),
        ("period", (1, Decimal("1.5"))),
    ],
)
def test_inputs_that_are_not_a_loan_are_refused(call: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        if call == "solve":
            solve_periodic_rate(*args)
        elif call == "first":
            first_period(*args, Frequency.MONTHLY)
        else:
            FirstPeriod(*args)


def test_a_fee_of_the_whole_principal_is_refused() -> None:
    schedule = build_schedule(100_000, "USD", Decimal("0.12"), 12, date(2025, 2, 1))
    for fee in (100_000, -1, True):
        with pytest.raises(ValueError):
            disclose(schedule, prepaid_finance_charge=fee)


def test_payments_equal_to_the_amount_financed_cost_nothing() -> None:
    assert solve_periodic_rate(1_200, [100] * 12) == 0
    assert annual_percentage_rate(1_200, [100] * 12) == Decimal("0.000000")


loans = st.fixed_dictionaries(
    {
        "per_installment": st.integers(10**6, 10**9),
        "rate": st.integers(0, 10_000).map(lambda bp: Decimal(bp).scaleb(-4)),
        "count": st.integers(1, 120),
        "frequency": st.sampled_from(Frequency),
    }
)


def schedule_for(loan: dict[str, Any], count: int | None = None) -> Any:
    n = count or loan["count"]
    return build_schedule(
        loan["per_installment"] * loan["count"],
        "NGN",
        loan["rate"],
        n,
        date(2025, 1, 31),
        frequency=loan["frequency"],
    )


@given(loans)
def test_without_a_fee_the_apr_is_the_nominal_rate_within_rounding(loan: dict[str, Any]) -> None:
    # Each installment is rounded by at most half a minor unit (the last by less than one per installment),
    # which moves the rate by far less than a hundredth of a point when installments are >= 10^6 units.
    disclosure = disclose(schedule_for(loan))
    assert abs(disclosure.apr - loan["rate"]) <= Decimal("0.0001")
    assert abs(disclosure.apr_percent - loan["rate"] * 100) <= Decimal("0.01")
    assert abs(disclosure.apr - loan["rate"]) < REGULAR_TOLERANCE
    assert disclosure.finance_charge == disclosure.total_of_payments - disclosure.amount_financed


@given(loans, st.integers(1, 2_000))
def test_a_fee_always_raises_the_apr(loan: dict[str, Any], fee_bp: int) -> None:
    schedule = schedule_for(loan)
    fee = schedule.principal * fee_bp // 10_000  # 0.01% to 20% of the principal
    without, with_fee = disclose(schedule), disclose(schedule, prepaid_finance_charge=fee)
    assert with_fee.periodic_rate > without.periodic_rate + RATE_TOLERANCE
    assert with_fee.apr >= without.apr
    assert with_fee.finance_charge == without.finance_charge + fee


@given(loans, st.integers(1, 60), st.integers(100, 2_000))
def test_a_longer_term_with_the_same_fee_lowers_the_apr(
    loan: dict[str, Any], extra: int, fee_bp: int
) -> None:
    short = schedule_for(loan)
    long = schedule_for(loan, loan["count"] + extra)
    fee = short.principal * fee_bp // 10_000  # 1% to 20%
    assert (
        disclose(long, prepaid_finance_charge=fee).periodic_rate
        < disclose(short, prepaid_finance_charge=fee).periodic_rate
    )


@given(loans, st.integers(0, 2_000))
def test_the_rate_solves_appendix_j_equation(loan: dict[str, Any], fee_bp: int) -> None:
    schedule = schedule_for(loan)
    fee = schedule.principal * fee_bp // 10_000
    disclosure = disclose(schedule, prepaid_finance_charge=fee)
    rate, payments = disclosure.periodic_rate, list(schedule.payments)
    # The root lies in [rate, rate + tolerance]: the value is at least the amount financed at ``rate``
    # and at most it a tolerance above.
    assert present_value(rate, payments) >= disclosure.amount_financed
    assert present_value(rate + RATE_TOLERANCE, payments) <= disclosure.amount_financed
