"""Which providers may lend on an application (eligibility) and in which order to invite them (fit).

**Eligibility.** A provider is eligible when *every* criterion holds (``Criterion`` names them):
it is active; it lends in the application's currency; it serves the applicant's country; the
requested amount lies within its minimum and maximum; the term lies within its minimum and maximum;
it accepts the assessed grade; the assessed score is at least its minimum; the assessed
debt-to-income (after the new loan) is at most its maximum; and its available capital covers the
amount. The database finds eligible providers with one indexed query; ``unmet_criteria`` states the
same rules in Python, to explain an exclusion criterion by criterion.

**Fit score** (0-100, higher first; ties by provider id), a weighted sum of three parts in [0, 1]:

* ``rate`` (weight 0.5): how cheap the provider is for this borrower. Its mid rate
  ``(min_annual_rate + max_annual_rate) / 2`` is placed in the rate band the risk assessment
  suggests for the grade: 1 at or below the band's minimum, 0 at or above its maximum, linear
  between. The mid rate, not the floor, so that an advertised low floor alone does not win.
* ``capital`` (weight 0.3): headroom after funding this loan, ``(capital - amount) / (19 * amount)``
  capped to [0, 1]: 0 when the loan would take all the capital, 1 from 20 times the amount up.
* ``approval`` (weight 0.2): the provider's historical approval rate, smoothed towards 50% with the
  weight of 10 decisions: ``(approved + 5) / (decided + 10)``, so a new provider starts neutral
  and a record builds up with its decisions.

The arithmetic is IEEE double precision in a fixed order, and the SQL in ``database/marketplace/providers.py``
is generated from the constants here, so both rank identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tools.marketplace.domain.providers import ProviderRecord, ProviderStatus
from tools.platform.domain.money import from_minor

__all__ = [
    "HEADROOM_MULTIPLE",
    "PRIOR_APPROVAL_RATE",
    "PRIOR_DECISIONS",
    "WEIGHT_APPROVAL",
    "WEIGHT_CAPITAL",
    "WEIGHT_RATE",
    "Criterion",
    "Fit",
    "MatchRequest",
    "UnmetCriterion",
    "fit_score",
    "unmet_criteria",
]

WEIGHT_RATE = 0.5
WEIGHT_CAPITAL = 0.3
WEIGHT_APPROVAL = 0.2
HEADROOM_MULTIPLE = 20  # capital of this many times the amount counts as full headroom
PRIOR_APPROVAL_RATE = 0.5
PRIOR_DECISIONS = 10


class Criterion(StrEnum):
    STATUS = "status"
    CURRENCY = "currency"
    COUNTRY = "country"
    MIN_AMOUNT = "min_amount"
    MAX_AMOUNT = "max_amount"
    MIN_TERM = "min_term"
    MAX_TERM = "max_term"
    GRADE = "grade"
    MIN_SCORE = "min_score"
    MAX_DTI = "max_dti"
    CAPITAL = "capital"


@dataclass(frozen=True, slots=True)
class MatchRequest:
    """What matching knows of an application: its request and its latest risk assessment."""

    currency: str
    country: str
    amount_minor: int
    term_months: int
    grade: str
    score: int
    dti: Decimal
    band_min_rate: Decimal
    band_max_rate: Decimal


@dataclass(frozen=True, slots=True)
class UnmetCriterion:
    criterion: Criterion
    required: str  # the provider's condition
    actual: str  # the application's value
    message: str


@dataclass(frozen=True, slots=True)
class Fit:
    score: float  # 0-100
    rate: float
    capital: float
    approval: float


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _rate_fit(mid: float, low: float, high: float) -> float:
    if high > low:
        return _clamp((high - mid) / (high - low))
    return 1.0 if mid <= low else 0.0  # a band of one rate


def fit_score(
    min_annual_rate: Decimal,
    max_annual_rate: Decimal,
    capital_available_minor: int,
    approved_count: int,
    decided_count: int,
    request: MatchRequest,
) -> Fit:
    """The fit of one eligible provider to one application (see the module docstring)."""
    mid = (float(min_annual_rate) + float(max_annual_rate)) / 2.0
    low, high = float(request.band_min_rate), float(request.band_max_rate)
    rate = _rate_fit(mid, low, high)
    amount = float(request.amount_minor)
    capital = _clamp((float(capital_available_minor) - amount) / (float(HEADROOM_MULTIPLE - 1) * amount))
    approval = (float(approved_count) + PRIOR_APPROVAL_RATE * PRIOR_DECISIONS) / (
        float(decided_count) + float(PRIOR_DECISIONS)
    )
    total = 100.0 * (WEIGHT_RATE * rate + WEIGHT_CAPITAL * capital + WEIGHT_APPROVAL * approval)
    return Fit(total, rate, capital, approval)


def unmet_criteria(provider: ProviderRecord, request: MatchRequest) -> list[UnmetCriterion]:
    """Every criterion the provider fails for this application, in ``Criterion`` order; [] if eligible."""
    failed = [
        *_unmet_market(provider, request),
        *_unmet_amounts(provider, request),
        *_unmet_term(provider, request.term_months),
        *_unmet_risk(provider, request),
    ]
    # Reported in Criterion order whatever the checking order above.
    order = list(Criterion)
    return sorted(failed, key=lambda u: order.index(u.criterion))


def _unmet_market(provider: ProviderRecord, request: MatchRequest) -> list[UnmetCriterion]:
    failed: list[UnmetCriterion] = []
    if provider.status != ProviderStatus.ACTIVE:
        failed.append(
            UnmetCriterion(Criterion.STATUS, "active", provider.status, f"the provider is {provider.status}")
        )
    if provider.currency != request.currency:
        failed.append(
            UnmetCriterion(
                Criterion.CURRENCY,
                provider.currency,
                request.currency,
                f"lends in {provider.currency}, the application is in {request.currency}",
            )
        )
    if request.country not in provider.countries:
        failed.append(
            UnmetCriterion(
                Criterion.COUNTRY,
                ", ".join(provider.countries),
                request.country,
                f"serves {', '.join(provider.countries)}, not {request.country}",
            )
        )
    return failed


def _unmet_amounts(provider: ProviderRecord, request: MatchRequest) -> list[UnmetCriterion]:
    if provider.currency != request.currency:  # amounts compare only within one currency
        return []

    def money(minor: int) -> str:
        return f"{from_minor(minor, provider.currency)} {provider.currency}"

    failed: list[UnmetCriterion] = []
    amount = money(request.amount_minor)
    if request.amount_minor < provider.min_amount_minor:
        minimum = money(provider.min_amount_minor)
        failed.append(
            UnmetCriterion(
                Criterion.MIN_AMOUNT, f">= {minimum}", amount, f"{amount} is below its minimum {minimum}"
            )
        )
    if request.amount_minor > provider.max_amount_minor:
        maximum = money(provider.max_amount_minor)
        failed.append(
            UnmetCriterion(
                Criterion.MAX_AMOUNT, f"<= {maximum}", amount, f"{amount} is above its maximum {maximum}"
            )
        )
    if provider.capital_available_minor < request.amount_minor:
        capital = money(provider.capital_available_minor)
        failed.append(
            UnmetCriterion(
                Criterion.CAPITAL,
                f">= {amount}",
                capital,
                f"its available capital {capital} is below {amount}",
            )
        )
    return failed


def _unmet_term(provider: ProviderRecord, term: int) -> list[UnmetCriterion]:
    failed: list[UnmetCriterion] = []
    if term < provider.min_term_months:
        failed.append(
            UnmetCriterion(
                Criterion.MIN_TERM,
                f">= {provider.min_term_months}",
                str(term),
                f"{term} months is shorter than its minimum of {provider.min_term_months}",
            )
        )
    if term > provider.max_term_months:
        failed.append(
            UnmetCriterion(
                Criterion.MAX_TERM,
                f"<= {provider.max_term_months}",
                str(term),
                f"{term} months is longer than its maximum of {provider.max_term_months}",
            )
        )
    return failed


def _unmet_risk(provider: ProviderRecord, request: MatchRequest) -> list[UnmetCriterion]:
    failed: list[UnmetCriterion] = []
    if request.grade not in provider.accepted_grades:
        grades = ", ".join(provider.accepted_grades)
        failed.append(
            UnmetCriterion(
                Criterion.GRADE, grades, request.grade, f"grade {request.grade} is not among {grades}"
            )
        )
    if request.score < provider.min_score:
        failed.append(
            UnmetCriterion(
                Criterion.MIN_SCORE,
                f">= {provider.min_score}",
                str(request.score),
                f"score {request.score} is below its minimum {provider.min_score}",
            )
        )
    if request.dti > provider.max_dti:
        failed.append(
            UnmetCriterion(
                Criterion.MAX_DTI,
                f"<= {provider.max_dti}",
                str(request.dti),
                f"debt-to-income {request.dti} is above its maximum {provider.max_dti}",
            )
        )
    return failed
