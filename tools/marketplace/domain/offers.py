"""Comparing offers: the Truth-in-Lending figures of a bid and the order in which bids are best.

**Figures** (``offer_figures``): the bid's repayment schedule (``tools.loans.domain.schedules``: its amount,
rate, method, frequency and ``installment_count`` installments, the first one unit period after the
comparison date) and its disclosure (``tools.loans.domain.apr``: Regulation Z Appendix J, actuarial method,
the origination fee a prepaid finance charge deducted from the amount financed). Without a loan date
the first period is one regular unit period, so every bid is compared on the same footing. The
installment shown is the first one; for a declining-balance loan it is also the largest.

**Order** (``rank_offers``): the lowest APR first (fees included, as disclosed: a fraction to 6
places); equal APRs by the lowest total cost of credit (the finance charge: total of payments less
the amount financed); then by the lowest installment; then the earlier bid. Each offer's ``why``
says how it compares with the one ranked just above it, and the explanation says why the best is
best against the runner-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

from tools.loans.domain.apr import disclose
from tools.loans.domain.schedules import (
    PERIODS_PER_YEAR,
    Frequency,
    Installment,
    Schedule,
    add_months,
    build_schedule,
)
from tools.marketplace.domain.bids import BidTerms
from tools.platform.domain.money import currency_exponent, from_minor
from tools.platform.domain.money_format import format_money

__all__ = [
    "OfferCandidate",
    "OfferFigures",
    "RankedOffer",
    "monthly_installment",
    "offer_figures",
    "rank_offers",
]

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class OfferFigures:
    """The disclosed figures of one offer, in minor units of ``currency``."""

    currency: str
    installments: int
    installment: int  # the first installment
    largest_installment: int
    amount_financed: int
    finance_charge: int  # the total cost of credit, fee included
    total_of_payments: int
    apr: Decimal  # fraction, 6 places half-up
    apr_percent: Decimal  # percent, 2 places half-up
    # The schedule the figures come from, first due one unit period after the comparison date.
    schedule: tuple[Installment, ...] = ()


def _first_due(start: date, frequency: Frequency) -> date:
    if frequency is Frequency.MONTHLY:
        return add_months(start, 1)
    return start + timedelta(days=14 if frequency is Frequency.BIWEEKLY else 7)


def _schedule(terms: BidTerms, as_of: date) -> Schedule:
    return build_schedule(
        terms.amount_minor,
        terms.currency,
        terms.annual_rate,
        terms.installments,
        _first_due(as_of, terms.repayment_frequency),
        method=terms.schedule_method,
        frequency=terms.repayment_frequency,
    )


def monthly_installment(terms: BidTerms, as_of: date) -> Decimal:
    """The largest installment of ``terms`` as a monthly amount in major units (a weekly one times
    52/12), half-up to the currency's minor unit: what the borrower's budget must carry. The schedule
    alone, without the APR's iteration (a tenth of the cost of ``offer_figures``)."""
    per_year = PERIODS_PER_YEAR[Frequency(terms.repayment_frequency)]
    unit = Decimal(1).scaleb(-currency_exponent(terms.currency))
    monthly = from_minor(max(_schedule(terms, as_of).payments), terms.currency) * per_year / 12
    return monthly.quantize(unit, rounding=ROUND_HALF_UP)


def offer_figures(terms: BidTerms, as_of: date) -> OfferFigures:
    """Schedule and APR disclosure of ``terms``; ValueError when no schedule can be built from them."""
    schedule = _schedule(terms, as_of)
    disclosure = disclose(schedule, prepaid_finance_charge=terms.origination_fee_minor)
    return OfferFigures(
        currency=terms.currency,
        installments=len(schedule.installments),
        installment=schedule.installments[0].total,
        largest_installment=max(schedule.payments),
        amount_financed=disclosure.amount_financed,
        finance_charge=disclosure.finance_charge,
        total_of_payments=disclosure.total_of_payments,
        apr=disclosure.apr,
        apr_percent=disclosure.apr_percent,
        schedule=schedule.installments,
    )


@dataclass(frozen=True, slots=True)
class OfferCandidate(Generic[K]):
    """A live bid to rank: ``key`` identifies it, ``label`` names it in explanations."""

    key: K
    label: str
    figures: OfferFigures
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RankedOffer(Generic[K]):
    rank: int
    candidate: OfferCandidate[K]
    why: str


def _sort_key(c: OfferCandidate[K]) -> tuple[Decimal, int, int, datetime, str]:
    f = c.figures
    return (f.apr, f.finance_charge, f.installment, c.created_at, str(c.key))


def _money(minor: int, currency: str) -> str:
    return format_money(minor, currency)


def _versus(better: OfferCandidate[K], worse: OfferCandidate[K]) -> str:
    """Why ``better`` ranks above ``worse``: the first criterion on which they differ."""
    b, w, cur = better.figures, worse.figures, better.figures.currency
    if b.apr != w.apr:
        return f"a lower APR: {b.apr_percent}% against {w.apr_percent}% for {worse.label}"
    if b.finance_charge != w.finance_charge:
        return (
            f"the same APR ({b.apr_percent}%) as {worse.label} and a lower total cost of credit: "
            f"{_money(b.finance_charge, cur)} against {_money(w.finance_charge, cur)}"
        )
    if b.installment != w.installment:
        return (
            f"the same APR ({b.apr_percent}%) and total cost of credit as {worse.label} and a lower "
            f"installment: {_money(b.installment, cur)} against {_money(w.installment, cur)}"
        )
    return f"the same APR, total cost of credit and installment as {worse.label}, and it came first"


def _describe(c: OfferCandidate[K]) -> str:
    f = c.figures
    return (
        f"APR {f.apr_percent}% (fees included), total cost of credit {_money(f.finance_charge, f.currency)}, "
        f"{f.installments} installments of {_money(f.installment, f.currency)}"
    )


def rank_offers(candidates: Sequence[OfferCandidate[K]]) -> tuple[list[RankedOffer[K]], str]:
    """The candidates best first, each with why it sits there, and why the best is best."""
    ordered = sorted(candidates, key=_sort_key)
    if not ordered:
        return [], "no live offers: every bid was withdrawn, has expired or none was placed yet"
    ranked: list[RankedOffer[K]] = []
    for i, c in enumerate(ordered):
        if i == 0:
            why = f"best: {_describe(c)}"
        else:
            above = ordered[i - 1]
            why = f"{_describe(c)}; below {above.label}, which has {_versus(above, c)}"
        ranked.append(RankedOffer(i + 1, c, why))
    best = ordered[0]
    if len(ordered) == 1:
        explanation = f"{best.label} has the only live offer: {_describe(best)}"
    else:
        explanation = (
            f"{best.label} is best of {len(ordered)} live offers: {_versus(best, ordered[1])}. "
            f"Its {_describe(best)}. Offers are ranked by APR (Regulation Z, fees included), then "
            "total cost of credit, then installment"
        )
    return ranked, explanation
