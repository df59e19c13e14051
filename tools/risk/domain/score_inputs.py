"""What the scorecard knows about an application: plain facts, validated once, in major units.

The enums repeat the values of ``tools.credit.models.applications`` because the domain may not import the
models layer; a test keeps the two in step. The models can import these instead of declaring their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tools.platform.domain.money import currency_exponent

__all__ = ["BUREAU_SCORE_MAX", "BUREAU_SCORE_MIN", "EmploymentStatus", "Purpose", "ScoreInputs"]

BUREAU_SCORE_MIN = 300
BUREAU_SCORE_MAX = 850


class EmploymentStatus(StrEnum):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"


class Purpose(StrEnum):
    PERSONAL = "personal"
    DEBT_CONSOLIDATION = "debt_consolidation"
    HOME_IMPROVEMENT = "home_improvement"
    EDUCATION = "education"
    MEDICAL = "medical"
    BUSINESS = "business"
    VEHICLE = "vehicle"
    AGRICULTURE = "agriculture"
    OTHER = "other"


def _money(name: str, value: object, *, positive: bool) -> None:
    # A float would already have lost the cents it was meant to carry; refuse it rather than guess.
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal in major units; got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'greater than zero' if positive else 'zero or more'}; got {value}")


def _count(name: str, value: object, minimum: int = 0, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
        raise ValueError(f"{name} must be {bound}; got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreInputs:
    """One application as the scorecard sees it. Amounts share one currency, in major units.

    ``bureau_score`` is None when the bureau has no file on the applicant; ``recent_delinquencies``
    (count in the last 12 months) is None when the bureau did not report it. Both are scored as
    neutral "no data" bins, never as zero. ``kyc_verified`` is whether the identity is verified.
    """

    monthly_income: Decimal
    employment_status: EmploymentStatus
    months_in_employment: int
    monthly_obligations: Decimal
    requested_amount: Decimal
    term_months: int
    purpose: Purpose
    age_years: int
    bureau_score: int | None = None
    recent_delinquencies: int | None = None
    kyc_verified: bool
    # The amounts' ISO 4217 currency: the installment estimate and the largest affordable amount are
    # rounded to its minor unit (a yen, a fils). None (a what-if without a currency): two decimals.
    currency: str | None = None
    # At approval, the accepted offer's largest installment as a monthly amount (a weekly one times
    # 52/12): debt-to-income is the borrower's real new payment, not an estimate at the reference rate.
    offered_installment: Decimal | None = None

    @property
    def minor_unit(self) -> Decimal:
        return Decimal(1).scaleb(-(2 if self.currency is None else currency_exponent(self.currency)))

    def __post_init__(self) -> None:
        _money("monthly_income", self.monthly_income, positive=True)
        _money("monthly_obligations", self.monthly_obligations, positive=False)
        _money("requested_amount", self.requested_amount, positive=True)
        _count("term_months", self.term_months, minimum=1)
        if self.offered_installment is not None:
            _money("offered_installment", self.offered_installment, positive=True)
        _count("months_in_employment", self.months_in_employment)
        _count("age_years", self.age_years)
        if self.bureau_score is not None:
            _count("bureau_score", self.bureau_score, BUREAU_SCORE_MIN, BUREAU_SCORE_MAX)
        if self.recent_delinquencies is not None:
            _count("recent_delinquencies", self.recent_delinquencies)
        if self.currency is not None:
            currency_exponent(self.currency)  # a MoneyError (a ValueError) for an unknown code
        if not isinstance(self.kyc_verified, bool):
            raise ValueError(f"kyc_verified must be True or False; got {self.kyc_verified!r}")
        # Accept the equal-valued enums of the models layer (or their strings) and store ours, so that
        # table look-ups and equality never depend on which layer built the inputs.
        object.__setattr__(self, "employment_status", EmploymentStatus(self.employment_status))
        object.__setattr__(self, "purpose", Purpose(self.purpose))
