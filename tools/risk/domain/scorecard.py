"""The application scorecard: points per characteristic -> score -> PD, grade, recommendation and reasons.

Deterministic by construction: Decimal arithmetic in fixed contexts, no clock, no randomness, no I/O.
``risk_model.md`` next to this file is the document an agent reads to explain a decision; a test keeps
its tables, constants and codes equal to the ones here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from tools.risk.domain.characteristics import (
    CHARACTERISTICS,
    Bin,
    Characteristic,
    Graded,
    grade_characteristics,
    percent,
    plain,
    times_income,
)
from tools.risk.domain.finance import annuity_installment, max_principal_for_installment
from tools.risk.domain.score_inputs import EmploymentStatus, Purpose, ScoreInputs

__all__ = [
    "BASE_ODDS",
    "BASE_POINTS",
    "BASE_SCORE",
    "CHARACTERISTICS",
    "DEFAULT_POLICY",
    "DEFAULT_RATE_BANDS",
    "FACTOR",
    "GRADE_MIN_SCORES",
    "IDENTITY_CONDITION",
    "MAX_REASONS",
    "MAX_SCORE",
    "MIN_SCORE",
    "MODEL_VERSION",
    "OFFSET",
    "PDO",
    "Assessment",
    "Bin",
    "Characteristic",
    "CharacteristicScore",
    "EmploymentStatus",
    "Grade",
    "HardRule",
    "Purpose",
    "RateBand",
    "Reason",
    "Recommendation",
    "RiskPolicy",
    "ScoreInputs",
    "Stage",
    "dti_after",
    "grade_for_score",
    "installment_estimate",
    "max_affordable_amount",
    "odds_for_score",
    "probability_of_default",
    "score",
]

MODEL_VERSION = "caas-scorecard-1.0.0"

# Scaling (good:bad odds): BASE_SCORE points at odds BASE_ODDS:1, and every PDO points double the odds.
BASE_SCORE = 600
BASE_ODDS = 30
PDO = 40
BASE_POINTS = 300  # the intercept added to the characteristics' points
MIN_SCORE = 300
MAX_SCORE = 850
MAX_REASONS = 4

# 50 digits for ln/exp and the affordability search; far more than any 4-dp or 2-dp figure needs.
_MATH = Context(prec=50)
with localcontext(_MATH):
    FACTOR = Decimal(PDO) / Decimal(2).ln()  # 57.7078...
    OFFSET = BASE_SCORE - FACTOR * Decimal(BASE_ODDS).ln()  # 403.7244...

_PD_PLACES = Decimal("0.0001")
_DTI_PLACES = Decimal("0.0001")
_CENT = Decimal("0.01")
# A DTI is rounded UP so that the reported figure never understates the burden; with a limit of at most
# 4 decimals, "reported DTI <= limit" is then exactly "true DTI <= limit".
_DTI_CONTEXT = Context(prec=60, rounding=ROUND_CEILING)


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


# Lowest score of each grade; a grade runs up to the next one's minimum minus one (A up to MAX_SCORE).
GRADE_MIN_SCORES: tuple[tuple[Grade, int], ...] = (
    (Grade.A, 720),
    (Grade.B, 660),
    (Grade.C, 600),
    (Grade.D, 540),
    (Grade.E, MIN_SCORE),
)


class Recommendation(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


class Stage(StrEnum):
    """``scoring`` is a pre-assessment (KYC may still be pending); ``approval`` is the decision itself."""

    SCORING = "scoring"
    APPROVAL = "approval"


class HardRule(StrEnum):
    """Policy rules that decline whatever the score. Reasons name them first, in this order."""

    UNDER_MINIMUM_AGE = "policy.under_minimum_age"
    DTI_ABOVE_LIMIT = "policy.dti_above_limit"
    AMOUNT_ABOVE_INCOME_MULTIPLE = "policy.amount_above_income_multiple"
    IDENTITY_NOT_VERIFIED = "policy.identity_not_verified"  # at stage "approval" only


# At stage "scoring" an unverified identity is a condition, not a decline: it turns an approve into a
# refer and is named right after any hard rule. It costs no points: the score measures credit risk only.
IDENTITY_CONDITION = "condition.identity_not_verified"


@dataclass(frozen=True, slots=True)
class RateBand:
    grade: Grade
    min_annual_rate: Decimal
    max_annual_rate: Decimal


DEFAULT_RATE_BANDS: tuple[RateBand, ...] = (
    RateBand(Grade.A, Decimal("0.12"), Decimal("0.18")),
    RateBand(Grade.B, Decimal("0.18"), Decimal("0.24")),
    RateBand(Grade.C, Decimal("0.24"), Decimal("0.32")),
    RateBand(Grade.D, Decimal("0.32"), Decimal("0.42")),
    RateBand(Grade.E, Decimal("0.42"), Decimal("0.60")),
)


def _fraction(name: str, value: Decimal, *, places: int | None = None) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative Decimal; got {value!r}")
    if places is not None and value != value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):
        raise ValueError(f"{name} must have at most {places} decimals; got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskPolicy:
    """The lender's risk appetite. The defaults are the ones ``risk_model.md`` documents.

    dti_limit: highest debt-to-income after the new installment (0.45 = 45%), at most 4 decimals.
    max_income_multiple: the requested amount may be at most this many times monthly income.
    reference_annual_rate: the rate that estimates the new installment for DTI and affordability.
    minimum_age: younger applicants are declined.
    approve_cutoff / decline_cutoff: score >= approve_cutoff approves; score < decline_cutoff declines;
        in between refers to an underwriter.
    rate_bands: suggested annual rate range per grade, one band for each of A-E in order.
    """

    dti_limit: Decimal = Decimal("0.45")
    max_income_multiple: Decimal = Decimal("10")
    reference_annual_rate: Decimal = Decimal("0.30")
    minimum_age: int = 18
    approve_cutoff: int = 600
    decline_cutoff: int = 540
    rate_bands: tuple[RateBand, ...] = DEFAULT_RATE_BANDS

    def __post_init__(self) -> None:
        _fraction("dti_limit", self.dti_limit, places=4)
        if not 0 < self.dti_limit <= 1:
            raise ValueError(f"dti_limit must be above 0 and at most 1; got {self.dti_limit}")
        _fraction("max_income_multiple", self.max_income_multiple)
        _fraction("reference_annual_rate", self.reference_annual_rate)
        if not isinstance(self.minimum_age, int) or not 0 <= self.minimum_age <= 150:
            raise ValueError(f"minimum_age must be a whole number of years; got {self.minimum_age!r}")
        if not MIN_SCORE <= self.decline_cutoff <= self.approve_cutoff <= MAX_SCORE:
            raise ValueError(
                f"cut-offs must satisfy {MIN_SCORE} <= decline_cutoff <= approve_cutoff <= {MAX_SCORE}; "
                f"got decline {self.decline_cutoff}, approve {self.approve_cutoff}"
            )
        if [band.grade for band in self.rate_bands] != list(Grade):
            raise ValueError("rate_bands must hold one band per grade, A to E in order")
        for band in self.rate_bands:
            _fraction(f"grade {band.grade} min_annual_rate", band.min_annual_rate)
            if band.max_annual_rate < band.min_annual_rate:
                raise ValueError(f"grade {band.grade}: max_annual_rate is below min_annual_rate")

    def rate_band(self, grade: Grade) -> RateBand:
        return self.rate_bands[list(Grade).index(grade)]


DEFAULT_POLICY = RiskPolicy()


@dataclass(frozen=True, slots=True)
class CharacteristicScore:
    name: str
    bin: str
    points: int
    best_points: int

    @property
    def points_lost(self) -> int:
        return self.best_points - self.points


@dataclass(frozen=True, slots=True)
class Reason:
    """``points_lost`` is best - got for a ``score.*`` reason; 0 for ``policy.*`` and ``condition.*``."""

    code: str
    message: str
    points_lost: int


@dataclass(frozen=True, slots=True)
class Assessment:
    model_version: str
    stage: Stage
    score: int
    pd: Decimal
    grade: Grade
    recommendation: Recommendation
    dti_after: Decimal
    installment_estimate: Decimal
    max_affordable_amount: Decimal
    suggested_rate_band: RateBand
    breakdown: tuple[CharacteristicScore, ...]
    reasons: tuple[Reason, ...]
    failed_rules: tuple[HardRule, ...]


def odds_for_score(score: int) -> Decimal:
    """Good:bad odds of a score: exp((score - OFFSET) / FACTOR), to 50 significant digits."""
    with localcontext(_MATH):
        return ((score - OFFSET) / FACTOR).exp()


def probability_of_default(score: int) -> Decimal:
    """PD = 1 / (1 + odds), rounded half-up to 4 decimals (a basis point of probability)."""
    with localcontext(_MATH):
        return (1 / (1 + odds_for_score(score))).quantize(_PD_PLACES, rounding=ROUND_HALF_UP)


def grade_for_score(score: int) -> Grade:
    return next(grade for grade, lowest in GRADE_MIN_SCORES if score >= lowest)


def installment_estimate(
    amount: Decimal, term_months: int, policy: RiskPolicy = DEFAULT_POLICY, unit: Decimal = _CENT
) -> Decimal:
    """The annuity installment at the policy's reference rate, rounded half-up to ``unit`` (the
    currency's minor unit: 0.01 by default, 1 for JPY, 0.001 for KWD or BHD)."""
    with localcontext(_MATH):
        installment = annuity_installment(amount, policy.reference_annual_rate, term_months)
        return installment.quantize(unit, rounding=ROUND_HALF_UP)


def dti_after(monthly_obligations: Decimal, monthly_income: Decimal, installment: Decimal) -> Decimal:
    """(obligations + installment) / income, rounded UP to 4 decimals."""
    with localcontext(_DTI_CONTEXT):  # the quotient rounds up too, so the ceiling is exact
        return ((monthly_obligations + installment) / monthly_income).quantize(_DTI_PLACES)


def _above_income_multiple(amount: Decimal, income: Decimal, policy: RiskPolicy) -> bool:
    with localcontext(_MATH):  # exact: the product of two in-range amounts has far fewer than 50 digits
        return amount > policy.max_income_multiple * income


def _within_limits(amount: Decimal, inputs: ScoreInputs, policy: RiskPolicy) -> bool:
    """The two affordability hard rules, evaluated exactly as ``score`` evaluates them."""
    installment = installment_estimate(amount, inputs.term_months, policy, inputs.minor_unit)
    dti = dti_after(inputs.monthly_obligations, inputs.monthly_income, installment)
    return dti <= policy.dti_limit and not _above_income_multiple(amount, inputs.monthly_income, policy)


def max_affordable_amount(inputs: ScoreInputs, policy: RiskPolicy = DEFAULT_POLICY) -> Decimal:
    """The largest amount, in whole minor units of the currency, that keeps DTI within the limit and the
    amount within the income multiple at the reference rate and the requested term; 0 when there is none."""
    unit = inputs.minor_unit
    with localcontext(_MATH):
        room = policy.dti_limit * inputs.monthly_income - inputs.monthly_obligations
        if room < 0:
            return Decimal(0).quantize(unit)
        # The installment is rounded half-up to the unit, so it stays within ``room`` while its exact value
        # is below (room rounded down to the unit) + half a unit.
        ceiling = room.quantize(unit, rounding=ROUND_DOWN) + unit / 2
        by_dti = max_principal_for_installment(ceiling, policy.reference_annual_rate, inputs.term_months)
        by_multiple = policy.max_income_multiple * inputs.monthly_income
        amount = min(by_dti, by_multiple).quantize(unit, rounding=ROUND_DOWN)
        # The inverse is exact to ~40 digits, not infinitely: settle the last unit with the very test
        # ``score`` applies. Each loop moves at most a unit or two in practice.
        for _ in range(3):
            if amount <= 0 or _within_limits(amount, inputs, policy):
                break
            amount -= unit
        for _ in range(3):
            if not _within_limits(amount + unit, inputs, policy):
                break
            amount += unit
        return max(amount, Decimal(0).quantize(unit))


def _failed_rules(inputs: ScoreInputs, policy: RiskPolicy, stage: Stage, dti: Decimal) -> list[Reason]:
    """Every hard rule the application breaks, in ``HardRule`` order, each with its specific message."""
    amount, income = inputs.requested_amount, inputs.monthly_income
    broken: dict[HardRule, str] = {}
    if inputs.age_years < policy.minimum_age:
        broken[HardRule.UNDER_MINIMUM_AGE] = (
            f"applicant is {inputs.age_years}; the minimum age is {policy.minimum_age}"
        )
    if dti > policy.dti_limit:
        broken[HardRule.DTI_ABOVE_LIMIT] = (
            f"debt-to-income after this loan is {percent(dti)}, above the {percent(policy.dti_limit)} limit"
        )
    if _above_income_multiple(amount, income, policy):
        broken[HardRule.AMOUNT_ABOVE_INCOME_MULTIPLE] = (
            f"requested amount {format(amount, 'f')} is {times_income(amount, income)} times monthly "
            f"income of {format(income, 'f')}, above the limit of {plain(policy.max_income_multiple)} times"
        )
    if stage is Stage.APPROVAL and not inputs.kyc_verified:
        broken[HardRule.IDENTITY_NOT_VERIFIED] = (
            "identity (KYC) is not verified; approval needs a verified identity"
        )
    return [Reason(rule.value, broken[rule], 0) for rule in HardRule if rule in broken]


def _shortfalls(graded: tuple[Graded, ...]) -> list[Reason]:
    """Every characteristic below its best bin, most points lost first, ties by code."""
    reasons = [
        Reason(g.characteristic.reason_code, g.shortfall, g.characteristic.best_points - g.bin.points)
        for g in graded
        if g.bin.points < g.characteristic.best_points
    ]
    return sorted(reasons, key=lambda r: (-r.points_lost, r.code))


def score(
    inputs: ScoreInputs, policy: RiskPolicy = DEFAULT_POLICY, *, stage: Stage | str = Stage.SCORING
) -> Assessment:
    """Score one application under ``policy``. ``stage`` is "scoring" or "approval" (see ``Stage``)."""
    stage = Stage(stage)
    installment = inputs.offered_installment or installment_estimate(
        inputs.requested_amount, inputs.term_months, policy, inputs.minor_unit
    )
    dti = dti_after(inputs.monthly_obligations, inputs.monthly_income, installment)
    graded = grade_characteristics(inputs, dti)
    total = BASE_POINTS + sum(g.bin.points for g in graded)
    points = min(max(total, MIN_SCORE), MAX_SCORE)
    grade = grade_for_score(points)

    failed = _failed_rules(inputs, policy, stage, dti)
    if failed or points < policy.decline_cutoff:
        recommendation = Recommendation.DECLINE
    elif points >= policy.approve_cutoff and inputs.kyc_verified:
        recommendation = Recommendation.APPROVE
    else:  # between the cut-offs, or (at stage "scoring") approvable but identity not yet verified
        recommendation = Recommendation.REFER

    conditions = []
    if not inputs.kyc_verified and recommendation is Recommendation.REFER:
        waiting = "identity (KYC) is not verified yet; the application cannot be approved until it is"
        conditions.append(Reason(IDENTITY_CONDITION, waiting, 0))
    reasons = (failed + conditions + _shortfalls(graded))[:MAX_REASONS]

    return Assessment(
        model_version=MODEL_VERSION,
        stage=stage,
        score=points,
        pd=probability_of_default(points),
        grade=grade,
        recommendation=recommendation,
        dti_after=dti,
        installment_estimate=installment,
        max_affordable_amount=max_affordable_amount(inputs, policy),
        suggested_rate_band=policy.rate_band(grade),
        breakdown=tuple(
            CharacteristicScore(
                g.characteristic.name, g.bin.label, g.bin.points, g.characteristic.best_points
            )
            for g in graded
        ),
        reasons=tuple(reasons),
        failed_rules=tuple(HardRule(r.code) for r in failed),
    )
