"""Delinquency: days past due, aging buckets, default, and the late-fee policy.

- Days past due (DPD) on ``as_of`` = days from the oldest due date with anything unpaid to ``as_of``;
  0 when nothing due is unpaid. An installment due today is not past due (DPD 0); the day after, DPD 1.
- Buckets: current (0), 1-30, 31-60, 61-90, and 90+ for 91 days and over: the buckets cover every DPD
  exactly once, so "90+" means past the 61-90 bucket.
- Default: ``is_default(dpd)`` is DPD above the threshold (90 by default): "more than 90 days past due",
  the Basel II definition, which is exactly the 90+ bucket.
- Late fees (``LateFeePolicy``): once per overdue installment, when its own DPD exceeds the grace period
  (grace 5 days: due 1 March, no fee through 6 March (DPD 5), the fee on 7 March (DPD 6)). The fee is
  ``flat_fee`` + ``percent_of_overdue`` of what the installment still owes in interest and principal at
  assessment (never of its fees: no fee on a fee), the percentage part rounded half-up to a minor unit.
  An installment already charged is never charged again, however long it stays unpaid.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from tools.loans.domain.repayments import Outstanding
from tools.platform.domain.money_format import format_money, format_percent

__all__ = [
    "BUCKET_RANGES",
    "DEFAULT_THRESHOLD",
    "Aging",
    "Bucket",
    "LateFee",
    "LateFeePolicy",
    "age",
    "assess_late_fees",
    "bucket_for",
    "days_past_due",
    "is_default",
]

DEFAULT_THRESHOLD = 90
_CONTEXT = Context(prec=50)


class Bucket(StrEnum):
    CURRENT = "current"
    DPD_1_30 = "1-30"
    DPD_31_60 = "31-60"
    DPD_61_90 = "61-90"
    DPD_90_PLUS = "90+"


# (bucket, lowest DPD, highest DPD or None for no upper bound)
BUCKET_RANGES: tuple[tuple[Bucket, int, int | None], ...] = (
    (Bucket.CURRENT, 0, 0),
    (Bucket.DPD_1_30, 1, 30),
    (Bucket.DPD_31_60, 31, 60),
    (Bucket.DPD_61_90, 61, 90),
    (Bucket.DPD_90_PLUS, 91, None),
)


def _check_date(name: str, value: date) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{name} must be a plain date; got {value!r}")


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number; got {value!r}")


def days_past_due(oldest_unpaid_due_date: date | None, as_of: date) -> int:
    """Days from the oldest unpaid due date to ``as_of``; 0 if there is none or it is not yet past."""
    _check_date("as_of", as_of)
    if oldest_unpaid_due_date is None:
        return 0
    _check_date("oldest_unpaid_due_date", oldest_unpaid_due_date)
    return max(0, (as_of - oldest_unpaid_due_date).days)


def bucket_for(dpd: int) -> Bucket:
    _check_count("days past due", dpd)
    return next(bucket for bucket, low, high in BUCKET_RANGES if low <= dpd and (high is None or dpd <= high))


def is_default(dpd: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """More than ``threshold`` days past due (91 days and over by default)."""
    _check_count("days past due", dpd)
    _check_count("threshold", threshold)
    return dpd > threshold


@dataclass(frozen=True, slots=True, kw_only=True)
class Aging:
    """A loan's delinquency on ``as_of``. ``overdue`` sums what past-due installments still owe."""

    as_of: date
    days_past_due: int
    bucket: Bucket
    in_default: bool
    oldest_unpaid_due_date: date | None
    overdue: int
    overdue_installments: tuple[int, ...]


def age(installments: Sequence[Outstanding], as_of: date, *, threshold: int = DEFAULT_THRESHOLD) -> Aging:
    """The aging of a loan from what each installment still owes."""
    _check_date("as_of", as_of)
    past_due = sorted(
        (item for item in installments if item.total > 0 and item.due_date < as_of),
        key=lambda item: (item.due_date, item.number),
    )
    oldest = past_due[0].due_date if past_due else None
    dpd = days_past_due(oldest, as_of)
    return Aging(
        as_of=as_of,
        days_past_due=dpd,
        bucket=bucket_for(dpd),
        in_default=is_default(dpd, threshold),
        oldest_unpaid_due_date=oldest,
        overdue=sum(item.total for item in past_due),
        overdue_installments=tuple(item.number for item in past_due),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LateFeePolicy:
    """``flat_fee`` in minor units of the loan's currency; ``percent_of_overdue`` a fraction (0.02 = 2%)."""

    flat_fee: int = 0
    percent_of_overdue: Decimal = Decimal(0)
    grace_days: int = 0

    def __post_init__(self) -> None:
        _check_count("flat_fee", self.flat_fee)
        _check_count("grace_days", self.grace_days)
        pct = self.percent_of_overdue
        if not isinstance(pct, Decimal) or not pct.is_finite() or not 0 <= pct <= 1:
            raise ValueError(f"percent_of_overdue must be a Decimal fraction from 0 to 1; got {pct!r}")

    def fee_for(self, overdue: int) -> int:
        """flat_fee + percent_of_overdue * overdue, the percentage part rounded half-up."""
        _check_count("overdue", overdue)
        with localcontext(_CONTEXT):
            share = (self.percent_of_overdue * overdue).to_integral_value(rounding=ROUND_HALF_UP)
        return self.flat_fee + int(share)


@dataclass(frozen=True, slots=True)
class LateFee:
    installment: int
    amount: int
    days_past_due: int
    overdue: int
    explanation: str


def assess_late_fees(
    policy: LateFeePolicy,
    installments: Sequence[Outstanding],
    as_of: date,
    currency: str,
    *,
    already_charged: Collection[int] = (),
) -> tuple[LateFee, ...]:
    """The late fees to charge on ``as_of``: one per installment past its grace period that still owes
    interest or principal and is not in ``already_charged``, oldest first. Zero fees are left out."""
    _check_date("as_of", as_of)
    fees = []
    for item in sorted(installments, key=lambda item: (item.due_date, item.number)):
        _check_date(f"installment {item.number} due_date", item.due_date)
        overdue = item.interest + item.principal
        dpd = days_past_due(item.due_date, as_of)
        if item.number in already_charged or overdue <= 0 or dpd <= policy.grace_days:
            continue
        amount = policy.fee_for(overdue)
        if amount == 0:
            continue
        parts = []
        if policy.flat_fee:
            parts.append(f"{format_money(policy.flat_fee, currency)} flat")
        if policy.percent_of_overdue:
            parts.append(
                f"{format_percent(policy.percent_of_overdue)} of {format_money(overdue, currency)} overdue"
            )
        explanation = (
            f"{format_money(amount, currency)} late fee on installment {item.number}: {dpd} days past due, "
            f"beyond the {policy.grace_days}-day grace period ({' + '.join(parts)})"
        )
        fees.append(LateFee(item.number, amount, dpd, overdue, explanation))
    return tuple(fees)
