"""Bids as pure rules: installments per term and frequency, statuses as of a moment, the bidding
round, and the checks against the provider's terms and the application."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from tests.tools.marketplace.domain.test_matching import PROVIDER
from tools.loans.domain.schedules import Frequency, Method
from tools.marketplace.domain.bids import (
    MAX_VALIDITY,
    BiddingRound,
    BidRecord,
    BidStatus,
    BidTerms,
    installment_count,
    unmet_terms,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
# 250000.00 NGN at 24% over 12 monthly annuity installments, against the matching tests' provider
# (NGN, 50000.00 to 5000000.00, 18%-30%, 3 to 36 months) and a request of 250000.00 NGN.
TERMS = BidTerms(
    amount_minor=25_000_000,
    currency="NGN",
    annual_rate=Decimal("0.24"),
    term_months=12,
    origination_fee_minor=0,
    repayment_frequency=Frequency.MONTHLY,
    schedule_method=Method.ANNUITY,
    valid_until=NOW + timedelta(days=7),
    conditions=None,
)
REQUESTED = 25_000_000


@pytest.mark.parametrize(
    ("months", "frequency", "expected"),
    [
        (12, "monthly", 12),
        (12, "biweekly", 26),
        (12, "weekly", 52),
        (3, "biweekly", 7),  # 6.5 rounds half up
        (1, "weekly", 4),  # 4.33
        (1, "biweekly", 2),  # 2.17
        (6, "weekly", 26),
        (120, "weekly", 520),
    ],
)
def test_a_term_in_months_becomes_rounded_installments(months: int, frequency: str, expected: int) -> None:
    assert installment_count(months, frequency) == expected


def test_a_fitting_bid_breaks_nothing_and_each_boundary_is_inside() -> None:
    assert unmet_terms(TERMS, PROVIDER, REQUESTED, "NGN", NOW) == []
    edges = replace(
        TERMS,
        amount_minor=PROVIDER.min_amount_minor,
        annual_rate=PROVIDER.max_annual_rate,
        term_months=PROVIDER.max_term_months,
        origination_fee_minor=PROVIDER.min_amount_minor - 1,
        valid_until=NOW + MAX_VALIDITY,
    )
    assert unmet_terms(edges, PROVIDER, PROVIDER.min_amount_minor, "NGN", NOW) == []


CASES = {
    "amount above the request": ({"amount_minor": 25_000_001}, "amount: 250000.01 NGN is more than"),
    "amount below the provider's minimum": ({"amount_minor": 4_999_999}, "amount: your provider lends"),
    "rate below": ({"annual_rate": Decimal("0.1799")}, "annual_rate: 0.1799 is outside"),
    "rate above": ({"annual_rate": Decimal("0.3001")}, "annual_rate: 0.3001 is outside"),
    "term below": ({"term_months": 2}, "term_months: 2 is outside"),
    "term above": ({"term_months": 37}, "term_months: 37 is outside"),
    "fee": ({"origination_fee_minor": 25_000_000}, "origination_fee: must be less than the amount"),
    "lapsed": ({"valid_until": NOW}, "valid_until: must be in the future"),
    "too far": ({"valid_until": NOW + MAX_VALIDITY + timedelta(seconds=1)}, "valid_until: at most 90"),
    "currency": ({"currency": "KES"}, "currency: the application is in NGN, not KES"),
}


@pytest.mark.parametrize(("change", "message"), CASES.values(), ids=CASES.keys())
def test_each_broken_rule_is_named(change: dict[str, object], message: str) -> None:
    [problem] = unmet_terms(replace(TERMS, **change), PROVIDER, REQUESTED, "NGN", NOW)  # type: ignore[arg-type]
    assert problem.startswith(message), problem


def test_every_broken_rule_is_reported_at_once() -> None:
    bad = replace(TERMS, amount_minor=30_000_000, annual_rate=Decimal("0.5"), term_months=40, valid_until=NOW)
    assert [p.split(":")[0] for p in unmet_terms(bad, PROVIDER, REQUESTED, "NGN", NOW)] == [
        "amount",
        "annual_rate",
        "term_months",
        "valid_until",
    ]


def record(status: str, valid_until: datetime) -> BidRecord:
    return BidRecord(
        id=uuid4(),
        application_id=uuid4(),
        provider_id=PROVIDER.id,
        version=1,
        amount_minor=TERMS.amount_minor,
        currency="NGN",
        annual_rate=Decimal("0.240000"),
        term_months=12,
        origination_fee_minor=0,
        repayment_frequency="monthly",
        schedule_method="annuity",
        valid_until=valid_until,
        conditions=None,
        status=status,
        created_by="lender",
        created_at=NOW,
        accepted_at=None,
        provider_name=PROVIDER.name,
        provider_status="active",
    )


def test_an_active_bid_reads_expired_from_its_validity_on() -> None:
    bid = record("active", NOW)
    assert bid.status_at(NOW - timedelta(seconds=1)) is BidStatus.ACTIVE and bid.live_at(NOW - timedelta(1))
    assert bid.status_at(NOW) is BidStatus.EXPIRED and not bid.live_at(NOW)
    assert record("withdrawn", NOW + timedelta(days=1)).status_at(NOW) is BidStatus.WITHDRAWN
    assert bid.terms() == replace(TERMS, valid_until=NOW)


def test_a_round_is_open_until_its_deadline_or_an_early_close() -> None:
    rnd = BiddingRound(uuid4(), NOW, NOW + timedelta(hours=72), None, None, None)
    assert rnd.open_at(NOW) and rnd.open_at(NOW + timedelta(hours=71, minutes=59))
    assert not rnd.open_at(NOW + timedelta(hours=72))
    closed = replace(rnd, closed_at=NOW + timedelta(hours=1), closed_by="op", close_reason="enough")
    assert not closed.open_at(NOW)
