"""Commission: the 8.5% default, marginal and whole-amount tiers, performance, caps and interest share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.commission_plan import CommissionCap, CommissionPlan, CommissionTier
from tools.loans.domain.commissions import (
    DEFAULT_TERMS,
    PlanTerms,
    ProviderPerformance,
    Tier,
    Tiering,
    disbursement_commission,
    performance_points,
    preview_commission,
    repayment_commission,
    terms_from_plan,
)

MILLION_NAIRA = 100_000_000  # N1,000,000.00 in kobo
TIERED = PlanTerms(
    name="tiered",
    currency="NGN",
    tiers=(Tier(MILLION_NAIRA, Decimal("0.07")),),  # 8.5% below N1,000,000.00, 7% from it
)


def test_the_default_plan_takes_8_5_percent_of_the_principal() -> None:
    # 8.5% of N1,000,000.00 = N85,000.00.
    assert disbursement_commission(DEFAULT_TERMS, MILLION_NAIRA, "NGN") == 8_500_000
    assert disbursement_commission(DEFAULT_TERMS, 100_000, "USD") == 8_500  # any currency: $85.00 on $1,000
    # Half-up to the kobo: 0.085 * 100 = 8.5 -> 9; 0.085 * 1,000,006 = 85,000.51 -> 85,001.
    assert disbursement_commission(DEFAULT_TERMS, 100, "NGN") == 9
    assert disbursement_commission(DEFAULT_TERMS, 1_000_006, "NGN") == 85_001
    preview = preview_commission(DEFAULT_TERMS, MILLION_NAIRA, "NGN")
    assert [line.explanation for line in preview.lines] == ["₦85,000.00: 8.5% of ₦1,000,000.00"]


def test_marginal_tiers_charge_each_band_its_own_rate() -> None:
    # N2,500,000.00: 8.5% of the first N1,000,000.00 (85,000.00) + 7% of the N1,500,000.00 above
    # (105,000.00) = N190,000.00.
    preview = preview_commission(TIERED, 250_000_000, "NGN")
    assert [line.explanation for line in preview.lines] == [
        "₦85,000.00: 8.5% of ₦1,000,000.00 (the first band)",
        "₦105,000.00: 7% of ₦1,500,000.00 (the part above ₦1,000,000.00)",
    ]
    assert preview.upfront == preview.total == 19_000_000
    # Below the first tier only the base rate applies: 8.5% of N500,000.00 = N42,500.00.
    assert disbursement_commission(TIERED, 50_000_000, "NGN") == 4_250_000


def test_whole_amount_tiers_charge_one_rate_and_can_pay_less_for_a_larger_loan() -> None:
    whole = PlanTerms(name="whole", currency="NGN", tiers=TIERED.tiers, tiering=Tiering.WHOLE_AMOUNT)
    # N2,500,000.00 falls in the 7% band: 7% of all of it = N175,000.00.
    assert disbursement_commission(whole, 250_000_000, "NGN") == 17_500_000
    # The band edge: 8.5% of N999,999.99 = 84,999.99915 -> N85,000.00 against 7% of N1,000,000.00 =
    # N70,000.00. Marginal tiering gives N85,000.00 for both.
    assert disbursement_commission(whole, MILLION_NAIRA - 1, "NGN") == 8_500_000
    assert disbursement_commission(whole, MILLION_NAIRA, "NGN") == 7_000_000
    assert disbursement_commission(TIERED, MILLION_NAIRA, "NGN") == 8_500_000
    named = PlanTerms(name="whole", currency="NGN", tiers=TIERED.tiers, tiering="whole_amount")
    assert named.tiering is Tiering.WHOLE_AMOUNT


def test_a_stored_plan_gives_whole_amount_terms_for_the_loan_currency() -> None:
    plan = CommissionPlan(
        principal_rate=Decimal("0.085"),
        tiers=(
            CommissionTier(
                currency="NGN", from_principal_minor=MILLION_NAIRA, principal_rate=Decimal("0.07")
            ),
            CommissionTier(currency="USD", from_principal_minor=500_000, principal_rate=Decimal("0.06")),
        ),
        caps=(CommissionCap(currency="NGN", max_commission_minor=15_000_000),),
        interest_share=Decimal("0.10"),
    )
    terms = terms_from_plan(plan, "NGN")
    assert (terms.tiering, terms.tiers, terms.maximum, terms.interest_share) == (
        Tiering.WHOLE_AMOUNT,
        (Tier(MILLION_NAIRA, Decimal("0.07")),),
        15_000_000,
        Decimal("0.10"),
    )
    # 7% of N2,500,000.00 = N175,000.00, capped at N150,000.00.
    assert disbursement_commission(terms, 250_000_000, "NGN") == 15_000_000
    usd = terms_from_plan(plan, "USD")
    assert usd.maximum is None
    assert disbursement_commission(usd, 1_000_000, "USD") == 60_000  # 6% of $10,000.00
    assert terms_from_plan(CommissionPlan(), "KES").tiers == ()


def test_caps_raise_to_the_minimum_and_limit_to_the_maximum() -> None:
    capped = PlanTerms(name="capped", currency="NGN", minimum=500_000, maximum=10_000_000)
    # 8.5% of N10,000.00 = N850.00, raised to the N5,000.00 minimum.
    small = preview_commission(capped, 1_000_000, "NGN")
    assert small.upfront == 500_000
    assert small.lines[-1].explanation == "₦4,150.00: the plan's minimum raises the commission to ₦5,000.00"
    # 8.5% of N2,000,000.00 = N170,000.00, limited to N100,000.00.
    large = preview_commission(capped, 200_000_000, "NGN")
    assert large.upfront == 10_000_000
    assert (
        large.lines[-1].explanation == "-₦70,000.00: the plan's maximum limits the commission to ₦100,000.00"
    )
    assert sum(line.amount for line in large.lines) == large.total


def test_the_interest_share_is_a_share_of_each_repayments_interest_within_the_maximum() -> None:
    terms = PlanTerms(name="share", currency="NGN", interest_share=Decimal("0.10"), maximum=8_520_000)
    # 10% of installment 2's interest of N1,850.88 (test_schedules) = 18,508.8 -> 18,509 kobo.
    assert repayment_commission(terms, 185_088, "NGN") == 18_509
    # 8,500,000 earned at disbursement + 18,509 = 8,518,509 stays within the 8,520,000 maximum ...
    assert repayment_commission(terms, 185_088, "NGN", already_earned=8_500_000) == 18_509
    # ... but only 1,491 is left once 8,518,509 has been earned, and nothing after that.
    assert repayment_commission(terms, 185_088, "NGN", already_earned=8_518_509) == 1_491
    assert repayment_commission(terms, 185_088, "NGN", already_earned=8_520_000) == 0
    assert repayment_commission(DEFAULT_TERMS, 185_088, "NGN") == 0  # no share in the default plan


def test_a_preview_adds_up_bands_performance_caps_and_the_interest_share() -> None:
    terms = PlanTerms(name="full", currency="NGN", tiers=TIERED.tiers, interest_share=Decimal("0.10"))
    performance = ProviderPerformance(approval_rate=Decimal("0.40"), default_rate=Decimal("0.12"), loans=50)
    preview = preview_commission(
        terms, 250_000_000, "NGN", performance=performance, expected_interest=30_000_000
    )
    # 85,000.00 + 105,000.00 + 1 point of 2,500,000.00 (25,000.00) + 10% of 300,000.00 (30,000.00).
    assert [line.amount for line in preview.lines] == [8_500_000, 10_500_000, 2_500_000, 3_000_000]
    assert preview.lines[2].explanation == (
        "₦25,000.00: +1 point on ₦2,500,000.00 (default rate 12% is above 10%: +1 point)"
    )
    assert (preview.upfront, preview.interest_share, preview.total) == (21_500_000, 3_000_000, 24_500_000)
    assert preview.points == Decimal("0.01")


@pytest.mark.parametrize(
    ("approval", "default", "loans", "points"),
    [
        ("0.40", "0.05", 50, "0"),
        ("0.40", "0.12", 50, "0.01"),  # default rate above 10%: +1 point
        ("0.40", "0.25", 50, "0.02"),  # above 20%: +2 points
        ("0.10", "0.05", 50, "0.005"),  # approval below 20%: +0.5 point
        ("0.10", "0.25", 50, "0.02"),  # +2.5 points, bounded to +2
        ("0.60", "0.02", 50, "-0.005"),  # a good record: -0.5 point
        ("0.10", "0.50", 19, "0"),  # too little history to judge
    ],
)
def test_performance_adjusts_the_rate_within_bounds(
    approval: str, default: str, loans: int, points: str
) -> None:
    performance = ProviderPerformance(Decimal(approval), Decimal(default), loans)
    assert performance_points(performance)[0] == Decimal(points)


def test_a_good_record_lowers_the_commission() -> None:
    good = ProviderPerformance(approval_rate=Decimal("0.60"), default_rate=Decimal("0.02"), loans=100)
    # 8.5% - 0.5 point = 8% of N1,000,000.00 = N80,000.00.
    assert disbursement_commission(DEFAULT_TERMS, MILLION_NAIRA, "NGN", performance=good) == 8_000_000
    no_rules = PlanTerms(performance_rules=None)
    assert disbursement_commission(no_rules, MILLION_NAIRA, "NGN", performance=good) == 8_500_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": Decimal("1.5")},
        {"rate": 0.085},
        {"interest_share": Decimal(-1)},
        {"currency": "NGN", "minimum": 10, "maximum": 5},
        {"minimum": 10},  # an amount without a currency
        {"currency": "NGN", "tiers": (Tier(200, Decimal("0.05")), Tier(100, Decimal("0.04")))},
        {"currency": "NGN", "tiers": (Tier(100, Decimal("2")),)},
        {"currency": "N"},
        {"tiering": "progressive"},
    ],
)
def test_invalid_terms_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PlanTerms(**kwargs)


def test_a_loan_in_another_currency_than_the_plan_is_refused() -> None:
    with pytest.raises(ValueError):
        disbursement_commission(TIERED, MILLION_NAIRA, "USD")
    with pytest.raises(ValueError):
        disbursement_commission(DEFAULT_TERMS, -1, "NGN")


rates = st.integers(0, 2_000).map(lambda bp: Decimal(bp).scaleb(-4))


@st.composite
def tiered_terms(draw: st.DrawFn) -> PlanTerms:
    starts = sorted(draw(st.sets(st.integers(1, 10**10), max_size=4)))
    return PlanTerms(
        name="generated",
        currency="NGN",
        rate=draw(rates),
        tiers=tuple(Tier(start, draw(rates)) for start in starts),
        interest_share=draw(rates),
        minimum=draw(st.integers(0, 10**6)),
        maximum=draw(st.none() | st.integers(10**6, 10**9)),
    )


@given(tiered_terms(), st.integers(0, 10**11), st.integers(0, 10**9))
def test_marginal_commission_never_falls_as_the_principal_rises(
    terms: PlanTerms, principal: int, more: int
) -> None:
    assert disbursement_commission(terms, principal + more, "NGN") >= disbursement_commission(
        terms, principal, "NGN"
    )


@given(tiered_terms(), st.integers(0, 10**11), st.integers(0, 10**10))
def test_the_breakdown_adds_up_and_respects_the_caps(terms: PlanTerms, principal: int, interest: int) -> None:
    preview = preview_commission(terms, principal, "NGN", expected_interest=interest)
    assert (
        sum(line.amount for line in preview.lines)
        == preview.total
        == preview.upfront + preview.interest_share
    )
    assert preview.upfront >= terms.minimum
    if terms.maximum is not None:
        assert preview.total <= terms.maximum
    assert preview.interest_share >= 0
