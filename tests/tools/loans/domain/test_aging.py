"""Days past due, aging buckets, default and late fees."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.aging import (
    BUCKET_RANGES,
    Bucket,
    LateFeePolicy,
    age,
    assess_late_fees,
    bucket_for,
    days_past_due,
    is_default,
)
from tools.loans.domain.repayments import Outstanding

AS_OF = date(2025, 4, 10)


def test_days_past_due_count_from_the_oldest_unpaid_due_date() -> None:
    assert days_past_due(None, AS_OF) == 0
    assert days_past_due(AS_OF, AS_OF) == 0  # due today is not past due
    assert days_past_due(AS_OF + timedelta(days=3), AS_OF) == 0
    assert days_past_due(date(2025, 4, 9), AS_OF) == 1
    assert days_past_due(date(2025, 1, 10), AS_OF) == 90  # 21 + 28 + 31 + 10


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, Bucket.CURRENT),
        (1, Bucket.DPD_1_30),
        (30, Bucket.DPD_1_30),
        (31, Bucket.DPD_31_60),
        (60, Bucket.DPD_31_60),
        (61, Bucket.DPD_61_90),
        (90, Bucket.DPD_61_90),
        (91, Bucket.DPD_90_PLUS),
        (5_000, Bucket.DPD_90_PLUS),
    ],
)
def test_buckets_at_their_edges(dpd: int, bucket: Bucket) -> None:
    assert bucket_for(dpd) is bucket


def test_default_is_more_than_the_threshold_days_past_due() -> None:
    assert not is_default(90)
    assert is_default(91)
    assert is_default(31, threshold=30)
    assert not is_default(0, threshold=0)


@pytest.mark.parametrize("bad", [-1, True, 1.0])
def test_a_negative_or_non_integer_dpd_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        bucket_for(bad)
    with pytest.raises(ValueError):
        is_default(bad)


def test_age_of_a_loan_skips_paid_installments_and_sums_what_is_overdue() -> None:
    installments = [
        Outstanding(1, date(2025, 1, 31)),  # paid in full
        Outstanding(2, date(2025, 2, 28), interest=100, principal=900),
        Outstanding(3, date(2025, 3, 31), fees=50, interest=80, principal=920),
        Outstanding(4, AS_OF, interest=70, principal=930),  # due today: not yet overdue
    ]
    aging = age(installments, AS_OF)
    # 28 February -> 10 April: 31 + 10 = 41 days.
    assert (aging.days_past_due, aging.bucket, aging.in_default) == (41, Bucket.DPD_31_60, False)
    assert aging.oldest_unpaid_due_date == date(2025, 2, 28)
    assert aging.overdue == 1_000 + 1_050
    assert aging.overdue_installments == (2, 3)
    assert age(installments[:1], AS_OF).bucket is Bucket.CURRENT
    # 28 February -> 29 May is 90 days: the last day before default; 30 May is 91 days, in default.
    assert (
        age(installments, date(2025, 5, 29)).days_past_due,
        age(installments, date(2025, 5, 29)).in_default,
    ) == (
        90,
        False,
    )
    assert age(installments, date(2025, 5, 30)).in_default


def test_late_fee_is_flat_plus_a_percentage_once_the_grace_period_is_over() -> None:
    policy = LateFeePolicy(flat_fee=200_000, percent_of_overdue=Decimal("0.02"), grace_days=5)
    installment = Outstanding(3, date(2025, 3, 31), fees=0, interest=169_878, principal=775_718)
    # 5 days past due (5 April) is within the grace period; 6 days (6 April) is not.
    assert assess_late_fees(policy, [installment], date(2025, 4, 5), "NGN") == ()
    (fee,) = assess_late_fees(policy, [installment], date(2025, 4, 6), "NGN")
    # 2,000.00 flat + 2% of 9,455.96 overdue = 2,000.00 + 189.1192 -> 189.12: 2,189.12.
    assert (fee.installment, fee.amount, fee.days_past_due, fee.overdue) == (3, 218_912, 6, 945_596)
    assert fee.explanation == (
        "₦2,189.12 late fee on installment 3: 6 days past due, beyond the 5-day grace period "
        "(₦2,000.00 flat + 2% of ₦9,455.96 overdue)"
    )


def test_late_fee_is_charged_once_per_installment_and_never_on_fees() -> None:
    policy = LateFeePolicy(flat_fee=1_000)
    installments = [
        Outstanding(1, date(2025, 2, 28), fees=1_000, interest=0, principal=0),  # only its fee is unpaid
        Outstanding(2, date(2025, 3, 31), interest=10, principal=90),
        Outstanding(3, date(2025, 4, 30), interest=10, principal=90),  # not yet due
    ]
    assert [fee.installment for fee in assess_late_fees(policy, installments, AS_OF, "USD")] == [2]
    assert assess_late_fees(policy, installments, AS_OF, "USD", already_charged={2}) == ()


def test_the_percentage_part_rounds_half_up() -> None:
    # 2.5% of 20 = 0.5 -> 1 (half-even would give 0).
    policy = LateFeePolicy(percent_of_overdue=Decimal("0.025"))
    assert policy.fee_for(20) == 1
    assert policy.fee_for(19) == 0  # 0.475 -> 0
    assert assess_late_fees(policy, [Outstanding(1, date(2025, 4, 1), principal=19)], AS_OF, "NGN") == ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flat_fee": -1},
        {"percent_of_overdue": Decimal("1.5")},
        {"percent_of_overdue": 0.02},
        {"grace_days": -1},
        {"grace_days": True},
    ],
)
def test_invalid_late_fee_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LateFeePolicy(**kwargs)


def test_dates_must_be_plain_dates() -> None:
    with pytest.raises(ValueError):
        days_past_due(date(2025, 1, 1), datetime(2025, 4, 10, tzinfo=UTC))


@given(st.integers(0, 10_000))
def test_every_dpd_falls_in_exactly_one_bucket_and_default_is_the_90_plus_bucket(dpd: int) -> None:
    matching = [bucket for bucket, low, high in BUCKET_RANGES if low <= dpd and (high is None or dpd <= high)]
    assert matching == [bucket_for(dpd)]
    assert is_default(dpd) == (bucket_for(dpd) is Bucket.DPD_90_PLUS)


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.integers(0, 1_000))
def test_dpd_grows_by_one_each_day_after_the_due_date(due: date, days: int) -> None:
    assert days_past_due(due, due + timedelta(days=days)) == days
    assert days_past_due(due + timedelta(days=days), due) == 0
