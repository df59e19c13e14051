"""The fit score and the eligibility rules of matching, as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.commission_plan import CommissionPlan
from tools.marketplace.domain.matching import (
    PRIOR_APPROVAL_RATE,
    PRIOR_DECISIONS,
    WEIGHT_APPROVAL,
    WEIGHT_CAPITAL,
    WEIGHT_RATE,
    Criterion,
    MatchRequest,
    fit_score,
    unmet_criteria,
)
from tools.marketplace.domain.providers import ProviderRecord

# 250000.00 NGN over 12 months, grade B, score 700, DTI 0.35, suggested band 18%-24%.
REQUEST = MatchRequest(
    "NGN", "NG", 25_000_000, 12, "B", 700, Decimal("0.35"), Decimal("0.18"), Decimal("0.24")
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROVIDER = ProviderRecord(
    id=uuid4(),
    name="Test Bank",
    provider_type="bank",
    status="active",
    suspended_reason=None,
    suspended_at=None,
    suspended_by=None,
    currency="NGN",
    countries=["NG"],
    accepted_grades=["A", "B", "C"],
    min_score=550,
    max_dti=Decimal("0.45"),
    min_term_months=3,
    max_term_months=36,
    min_amount_minor=5_000_000,
    max_amount_minor=500_000_000,
    capital_available_minor=10_000_000_000,
    min_annual_rate=Decimal("0.18"),
    max_annual_rate=Decimal("0.30"),
    commission_plan=CommissionPlan(),
    webhook_url="https://lender.example.com/hook",
    webhook_secret_encrypted=b"x",
    webhook_secret_rotated_at=NOW,
    decided_count=0,
    approved_count=0,
    created_by="op",
    created_at=NOW,
    updated_at=NOW,
    version=1,
)


def fit(
    min_rate: str = "0.18",
    max_rate: str = "0.24",
    capital: int = 25_000_000 * 20,
    approved: int = 0,
    decided: int = 0,
):  # type: ignore[no-untyped-def]
    return fit_score(Decimal(min_rate), Decimal(max_rate), capital, approved, decided, REQUEST)


def test_the_weights_sum_to_one() -> None:
    assert WEIGHT_RATE + WEIGHT_CAPITAL + WEIGHT_APPROVAL == 1.0


def test_the_prior_is_the_one_migration_0007_computes_with() -> None:
    # providers.smoothed_approval_rate = (approved_count + 5.0) / (decided_count + 10.0)
    assert (PRIOR_APPROVAL_RATE * PRIOR_DECISIONS, float(PRIOR_DECISIONS)) == (5.0, 10.0)


def test_the_parts_of_a_known_provider() -> None:
    f = fit("0.16", "0.22")  # mid 19%: one sixth into the 18%-24% band
    assert f.rate == pytest.approx(5 / 6) and f.capital == 1.0 and f.approval == 0.5
    assert f.score == pytest.approx(100 * (0.5 * 5 / 6 + 0.3 + 0.1))


@pytest.mark.parametrize(
    ("min_rate", "max_rate", "expected"),
    [
        ("0.10", "0.20", 1.0),
        ("0.18", "0.18", 1.0),
        ("0.18", "0.24", 0.5),
        ("0.24", "0.24", 0.0),
        ("0.30", "0.40", 0.0),
    ],
)
def test_rate_is_one_at_or_below_the_band_and_zero_at_or_above_it(
    min_rate: str, max_rate: str, expected: float
) -> None:
    assert fit(min_rate, max_rate).rate == expected


def test_a_band_of_one_rate_is_all_or_nothing() -> None:
    narrow = replace(REQUEST, band_min_rate=Decimal("0.2"), band_max_rate=Decimal("0.2"))
    at = fit_score(Decimal("0.2"), Decimal("0.2"), 10**12, 0, 0, narrow)
    above = fit_score(Decimal("0.2"), Decimal("0.21"), 10**12, 0, 0, narrow)
    assert (at.rate, above.rate) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("multiple", "expected"), [(1, 0.0), (2, 1 / 19), (10.5, 0.5), (20, 1.0), (1000, 1.0)]
)
def test_capital_headroom_runs_from_all_capital_used_to_twenty_times_the_amount(
    multiple: float, expected: float
) -> None:
    assert fit(capital=int(25_000_000 * multiple)).capital == pytest.approx(expected)


def test_approval_starts_neutral_and_follows_the_record() -> None:
    assert fit().approval == 0.5
    assert fit(approved=10, decided=10).approval == 0.75
    assert fit(approved=0, decided=90).approval == 0.05
    assert fit(approved=900, decided=1000).approval == pytest.approx(905 / 1010)


@given(
    low=st.decimals("0", "1", places=4),
    spread=st.decimals("0", "1", places=4),
    capital=st.integers(0, 10**15),
    decided=st.integers(0, 10**6),
    share=st.fractions(0, 1),
    amount=st.integers(1, 10**13),
)
def test_the_score_stays_in_0_to_100(low, spread, capital, decided, share, amount) -> None:  # type: ignore[no-untyped-def]
    request = replace(REQUEST, amount_minor=amount)
    approved = int(decided * share)
    f = fit_score(low, low + spread, capital, approved, decided, request)
    assert 0.0 <= f.rate <= 1.0 and 0.0 <= f.capital <= 1.0 and 0.0 <= f.approval <= 1.0
    assert 0.0 <= f.score <= 100.0


@given(a=st.decimals("0", "0.6", places=4), b=st.decimals("0", "0.6", places=4))
def test_a_cheaper_provider_never_scores_lower(a: Decimal, b: Decimal) -> None:
    cheap, dear = sorted((a, b))
    assert fit(str(cheap), str(cheap)).score >= fit(str(dear), str(dear)).score


def test_an_eligible_provider_fails_nothing() -> None:
    assert unmet_criteria(PROVIDER, REQUEST) == []


def test_every_boundary_is_inside() -> None:
    edge = replace(
        PROVIDER,
        min_amount_minor=25_000_000,
        max_amount_minor=25_000_000,
        capital_available_minor=25_000_000,
        min_term_months=12,
        max_term_months=12,
        accepted_grades=["B"],
        min_score=700,
        max_dti=Decimal("0.35"),
    )
    assert unmet_criteria(edge, REQUEST) == []


CASES = {
    Criterion.STATUS: ({"status": "suspended"}, "active", "suspended"),
    Criterion.CURRENCY: ({"currency": "KES"}, "KES", "NGN"),
    Criterion.COUNTRY: ({"countries": ["GH", "KE"]}, "GH, KE", "NG"),
    Criterion.MIN_AMOUNT: ({"min_amount_minor": 25_000_001}, ">= 250000.01 NGN", "250000.00 NGN"),
    Criterion.MAX_AMOUNT: ({"max_amount_minor": 24_999_999}, "<= 249999.99 NGN", "250000.00 NGN"),
    Criterion.MIN_TERM: ({"min_term_months": 13}, ">= 13", "12"),
    Criterion.MAX_TERM: ({"max_term_months": 11}, "<= 11", "12"),
    Criterion.GRADE: ({"accepted_grades": ["A"]}, "A", "B"),
    Criterion.MIN_SCORE: ({"min_score": 701}, ">= 701", "700"),
    Criterion.MAX_DTI: ({"max_dti": Decimal("0.3499")}, "<= 0.3499", "0.35"),
    Criterion.CAPITAL: ({"capital_available_minor": 24_999_999}, ">= 250000.00 NGN", "249999.99 NGN"),
}


@pytest.mark.parametrize(("criterion", "case"), CASES.items(), ids=[c.value for c in CASES])
def test_each_criterion_is_named_with_both_values(criterion: Criterion, case: tuple) -> None:  # type: ignore[type-arg]
    changes, required, actual = case
    [unmet] = unmet_criteria(replace(PROVIDER, **changes), REQUEST)
    assert (unmet.criterion, unmet.required, unmet.actual) == (criterion, required, actual)
    assert unmet.message


def test_every_failure_is_reported_in_criterion_order() -> None:
    bad = replace(PROVIDER, status="suspended", min_score=800, countries=["KE"], max_term_months=6)
    assert [u.criterion for u in unmet_criteria(bad, REQUEST)] == [
        Criterion.STATUS,
        Criterion.COUNTRY,
        Criterion.MAX_TERM,
        Criterion.MIN_SCORE,
    ]
