"""Offer figures (Regulation Z APR of a bid) and the ranking of offers, as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.tools.marketplace.domain.test_bids import TERMS
from tools.loans.domain.apr import annual_percentage_rate
from tools.loans.domain.schedules import Frequency, Method, build_schedule
from tools.marketplace.domain.offers import OfferCandidate, OfferFigures, offer_figures, rank_offers

AS_OF = date(2026, 3, 1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_without_a_fee_the_apr_is_the_nominal_rate_and_a_fee_raises_it() -> None:
    plain = offer_figures(TERMS, AS_OF)
    assert (plain.apr, plain.apr_percent, plain.installments) == (Decimal("0.240000"), Decimal("24.00"), 12)
    assert (plain.installment, plain.finance_charge, plain.amount_financed) == (
        2_363_990,
        3_367_879,
        25_000_000,
    )
    with_fee = offer_figures(replace(TERMS, origination_fee_minor=500_000), AS_OF)
    assert with_fee.apr > plain.apr and with_fee.amount_financed == 24_500_000
    assert with_fee.total_of_payments == plain.total_of_payments  # the fee is deducted, not repaid
    assert with_fee.finance_charge == plain.finance_charge + 500_000
    # The same figure from Appendix J's equation directly.
    schedule = build_schedule(25_000_000, "NGN", Decimal("0.24"), 12, date(2026, 4, 1))
    assert with_fee.apr == annual_percentage_rate(24_500_000, schedule.payments)


def test_a_flat_rate_costs_more_than_its_nominal_rate_says() -> None:
    flat = offer_figures(replace(TERMS, annual_rate=Decimal("0.20"), schedule_method=Method.FLAT), AS_OF)
    assert (flat.installment, flat.finance_charge, flat.apr_percent) == (
        2_500_000,
        5_000_000,
        Decimal("35.07"),
    )


def test_frequency_sets_the_installments_and_the_unit_period() -> None:
    weekly = offer_figures(replace(TERMS, repayment_frequency=Frequency.WEEKLY), AS_OF)
    assert weekly.installments == 52 and weekly.apr == Decimal("0.240000")
    declining = offer_figures(replace(TERMS, schedule_method=Method.DECLINING_BALANCE), AS_OF)
    assert declining.installment == declining.largest_installment == 2_583_333


def figures(apr: str, cost: int, installment: int) -> OfferFigures:
    return OfferFigures(
        "NGN",
        12,
        installment,
        installment,
        25_000_000,
        cost,
        25_000_000 + cost,
        Decimal(apr),
        Decimal(apr) * 100,
    )


def candidate(label: str, apr: str, cost: int, installment: int, minutes: int = 0) -> OfferCandidate[str]:
    return OfferCandidate(label, label, figures(apr, cost, installment), T0 + timedelta(minutes=minutes))


def test_ranking_is_apr_then_total_cost_then_installment_then_the_earlier_bid() -> None:
    offers = [
        candidate("late twin", "0.25", 100, 10, minutes=5),
        candidate("dear", "0.26", 1, 1),
        candidate("twin", "0.25", 100, 10),
        candidate("lower installment", "0.25", 100, 9),
        candidate("cheaper in total", "0.25", 99, 50),
        candidate("best", "0.24", 500, 50),
    ]
    ranked, explanation = rank_offers(offers)
    assert [r.candidate.key for r in ranked] == [
        "best",
        "cheaper in total",
        "lower installment",
        "twin",
        "late twin",
        "dear",
    ]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6]
    assert explanation.startswith("best is best of 6 live offers: a lower APR: 24.00% against 25.00%")
    assert "below best, which has a lower APR" in ranked[1].why
    assert "lower total cost of credit: ₦0.99 against ₦1.00" in ranked[2].why
    assert "a lower installment: ₦0.09 against ₦0.10" in ranked[3].why
    assert "and it came first" in ranked[4].why
    assert ranked[0].why.startswith("best: APR 24.00%")


def test_one_offer_or_none() -> None:
    ranked, explanation = rank_offers([candidate("only", "0.2", 1, 1)])
    assert len(ranked) == 1 and explanation.startswith("only has the only live offer")
    assert rank_offers([]) == (
        [],
        "no live offers: every bid was withdrawn, has expired or none was placed yet",
    )


def test_the_figures_carry_the_schedule_they_come_from() -> None:
    f = offer_figures(replace(TERMS, origination_fee_minor=500_000), AS_OF)
    assert len(f.schedule) == f.installments and f.schedule[0].total == f.installment
    assert sum(i.total for i in f.schedule) == f.total_of_payments
    assert f.schedule[-1].balance_after == 0 and f.schedule[0].due_date > AS_OF
    assert [i.number for i in f.schedule] == list(range(1, f.installments + 1))
