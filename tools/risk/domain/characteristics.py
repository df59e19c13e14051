"""The scorecard's characteristics: their bins, the points of each bin, and the words for a shortfall.

Every table here is reproduced in ``risk_model.md``; a test fails if the two differ. Points are
WOE-style: a bin that predicts repayment better than average earns more, one that predicts worse may be
negative. The applicant's score is ``BASE_POINTS`` (in ``scorecard``) plus one bin's points from each
characteristic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import NamedTuple

from tools.risk.domain.score_inputs import EmploymentStatus, Purpose, ScoreInputs

__all__ = [
    "AGE",
    "BUREAU_SCORE",
    "CHARACTERISTICS",
    "DEBT_TO_INCOME",
    "EMPLOYMENT",
    "LOAN_TO_INCOME",
    "PURPOSE",
    "RECENT_DELINQUENCIES",
    "TERM",
    "Bin",
    "Characteristic",
    "Graded",
    "grade_characteristics",
    "percent",
    "plain",
    "times_income",
]


@dataclass(frozen=True, slots=True)
class Bin:
    label: str
    points: int


@dataclass(frozen=True, slots=True)
class Characteristic:
    name: str  # stable identifier; its reason code is "score.<name>"
    title: str
    bins: tuple[Bin, ...]

    @property
    def best_points(self) -> int:
        return max(b.points for b in self.bins)

    @property
    def reason_code(self) -> str:
        return f"score.{self.name}"


class Graded(NamedTuple):
    """The bin one characteristic fell in, and what a reason code would say about it."""

    characteristic: Characteristic
    bin: Bin
    shortfall: str


# Upper bounds are inclusive; None closes the table. DTI is compared after rounding it UP to 4 dp,
# which gives the same bin as the exact value because every bound has at most 4 decimals.
_DTI_BEST = Decimal("0.20")
_DTI: tuple[tuple[Decimal | None, Bin], ...] = (
    (_DTI_BEST, Bin("up to 20%", 110)),
    (Decimal("0.30"), Bin("over 20% to 30%", 95)),
    (Decimal("0.36"), Bin("over 30% to 36%", 75)),
    (Decimal("0.45"), Bin("over 36% to 45%", 50)),
    (Decimal("0.60"), Bin("over 45% to 60%", 10)),
    (None, Bin("over 60%", -30)),
)
# Requested amount as a multiple of monthly income; inclusive upper bounds.
_LTI_BEST = Decimal("1")
_LTI: tuple[tuple[Decimal | None, Bin], ...] = (
    (_LTI_BEST, Bin("up to 1x", 70)),
    (Decimal("3"), Bin("over 1x to 3x", 60)),
    (Decimal("6"), Bin("over 3x to 6x", 45)),
    (Decimal("10"), Bin("over 6x to 10x", 25)),
    (None, Bin("over 10x", -20)),
)
# Months in the current status, by inclusive lower bound, longest first. Retirement, study and
# unemployment are one bin each: their length says little about the income that repays the loan.
_EMPLOYMENT: dict[EmploymentStatus, tuple[tuple[int, Bin], ...]] = {
    EmploymentStatus.EMPLOYED: (
        (24, Bin("employed, 24+ months", 80)),
        (12, Bin("employed, 12-23 months", 65)),
        (6, Bin("employed, 6-11 months", 50)),
        (0, Bin("employed, under 6 months", 35)),
    ),
    EmploymentStatus.SELF_EMPLOYED: (
        (36, Bin("self-employed, 36+ months", 70)),
        (12, Bin("self-employed, 12-35 months", 50)),
        (0, Bin("self-employed, under 12 months", 30)),
    ),
    EmploymentStatus.RETIRED: ((0, Bin("retired", 60)),),
    EmploymentStatus.STUDENT: ((0, Bin("student", 20)),),
    EmploymentStatus.UNEMPLOYED: ((0, Bin("unemployed", -20)),),
}
# Inclusive lower bounds. Points never fall with age, so an elderly applicant (62+) is never given a
# lower value than anyone else, as Regulation B (12 CFR 1002.6(b)(2)) requires of scoring systems.
_AGE: tuple[tuple[int, Bin], ...] = (
    (36, Bin("36 and over", 45)),
    (26, Bin("26-35", 35)),
    (22, Bin("22-25", 25)),
    (18, Bin("18-21", 15)),
    (0, Bin("under 18", 0)),
)
_NO_BUREAU_FILE = Bin("no file", 50)  # neutral: between 580-619 and 620-659, neither reward nor penalty
_BUREAU: tuple[tuple[int, Bin], ...] = (
    (780, Bin("780-850", 105)),
    (720, Bin("720-779", 90)),
    (660, Bin("660-719", 65)),
    (620, Bin("620-659", 40)),
    (580, Bin("580-619", 15)),
    (300, Bin("300-579", -40)),
)
_DELINQUENCIES_NOT_REPORTED = Bin("not reported", 20)  # neutral: between none and one
_DELINQUENCIES: tuple[tuple[int, Bin], ...] = (
    (3, Bin("3 or more", -30)),
    (2, Bin("2", -10)),
    (1, Bin("1", 10)),
    (0, Bin("none", 40)),
)
_PURPOSE: dict[Purpose, Bin] = {
    purpose: Bin(purpose.value, points)
    for purpose, points in (
        (Purpose.VEHICLE, 30),
        (Purpose.HOME_IMPROVEMENT, 30),
        (Purpose.EDUCATION, 25),
        (Purpose.DEBT_CONSOLIDATION, 20),
        (Purpose.PERSONAL, 20),
        (Purpose.MEDICAL, 20),
        (Purpose.AGRICULTURE, 15),
        (Purpose.BUSINESS, 10),
        (Purpose.OTHER, 10),
    )
}
_TERM_BEST = 12
_TERM: tuple[tuple[int | None, Bin], ...] = (
    (_TERM_BEST, Bin("up to 12 months", 30)),
    (24, Bin("13-24 months", 25)),
    (36, Bin("25-36 months", 20)),
    (60, Bin("37-60 months", 10)),
    (None, Bin("over 60 months", 0)),
)

DEBT_TO_INCOME = Characteristic(
    "debt_to_income", "Debt-to-income after the new installment", tuple(b for _, b in _DTI)
)
LOAN_TO_INCOME = Characteristic(
    "loan_to_income", "Requested amount as a multiple of monthly income", tuple(b for _, b in _LTI)
)
EMPLOYMENT = Characteristic(
    "employment",
    "Employment status and months in it",
    tuple(b for tenure in _EMPLOYMENT.values() for _, b in tenure),
)
AGE = Characteristic("age", "Age in years", tuple(b for _, b in _AGE))
BUREAU_SCORE = Characteristic(
    "bureau_score", "Credit bureau score", (_NO_BUREAU_FILE, *(b for _, b in _BUREAU))
)
RECENT_DELINQUENCIES = Characteristic(
    "recent_delinquencies",
    "Delinquencies in the last 12 months",
    (_DELINQUENCIES_NOT_REPORTED, *(b for _, b in reversed(_DELINQUENCIES))),
)
PURPOSE = Characteristic("purpose", "Loan purpose", tuple(_PURPOSE.values()))
TERM = Characteristic("term", "Term in months", tuple(b for _, b in _TERM))

CHARACTERISTICS: tuple[Characteristic, ...] = (
    DEBT_TO_INCOME,
    LOAN_TO_INCOME,
    EMPLOYMENT,
    AGE,
    BUREAU_SCORE,
    RECENT_DELINQUENCIES,
    PURPOSE,
    TERM,
)

# Ratios shown to people are rounded UP, so "above the limit of 10 times" never prints as "10 times".
_DISPLAY = Context(prec=60, rounding=ROUND_CEILING)


def plain(value: Decimal) -> str:
    """A Decimal without exponent notation or trailing zeros: 0.4500 -> "0.45", 5.2E+1 -> "52"."""
    return format(value.normalize(), "f")


def percent(fraction: Decimal) -> str:
    """0.5234 -> "52.34%"; a fraction with at most 4 decimals prints exactly."""
    return f"{plain(fraction * 100)}%"


def times_income(amount: Decimal, income: Decimal) -> str:
    """amount / income rounded up to 2 decimals: 250000 / 60000 -> "4.17"."""
    with localcontext(_DISPLAY):
        return plain((amount / income).quantize(Decimal("0.01")))


def _words(purpose: Purpose) -> str:
    return purpose.value.replace("_", " ")


def _months(n: int) -> str:
    return f"{n} month{'' if n == 1 else 's'}"


def _employment_message(inputs: ScoreInputs) -> str:
    best_tenure = _EMPLOYMENT[EmploymentStatus.EMPLOYED][0][0]
    best = f"employed for {best_tenure} months or more scores best"
    months = inputs.months_in_employment
    match inputs.employment_status:
        case EmploymentStatus.EMPLOYED:
            return f"in current employment for {_months(months)}; {best_tenure} or more scores best"
        case EmploymentStatus.SELF_EMPLOYED:
            return f"self-employed for {_months(months)}; {best}"
        case EmploymentStatus.RETIRED:
            return f"income is from retirement, not employment; {best}"
        case EmploymentStatus.STUDENT:
            return f"a student without employment income; {best}"
        case EmploymentStatus.UNEMPLOYED:
            return f"not currently employed; {best}"


def _messages(inputs: ScoreInputs, dti_after: Decimal) -> dict[str, str]:
    """The specific shortfall sentence of every characteristic, with the applicant's own numbers."""
    bureau = inputs.bureau_score
    delinquencies = inputs.recent_delinquencies
    best_purposes = " or ".join(_words(p) for p, b in _PURPOSE.items() if b.points == PURPOSE.best_points)
    return {
        DEBT_TO_INCOME.name: f"debt-to-income after this loan is {percent(dti_after)}; "
        f"{percent(_DTI_BEST)} or less scores best",
        LOAN_TO_INCOME.name: f"requested amount {format(inputs.requested_amount, 'f')} is "
        f"{times_income(inputs.requested_amount, inputs.monthly_income)} times monthly income of "
        f"{format(inputs.monthly_income, 'f')}; {plain(_LTI_BEST)} times or less scores best",
        EMPLOYMENT.name: _employment_message(inputs),
        AGE.name: f"age {inputs.age_years}; {_AGE[0][0]} or older scores best",
        BUREAU_SCORE.name: (
            f"no credit bureau file; a bureau score of {_BUREAU[0][0]} or more scores best"
            if bureau is None
            else f"credit bureau score is {bureau}; {_BUREAU[0][0]} or more scores best"
        ),
        RECENT_DELINQUENCIES.name: (
            "delinquencies in the last 12 months were not reported; none reported scores best"
            if delinquencies is None
            else f"{delinquencies} delinquenc{'y' if delinquencies == 1 else 'ies'} in the last 12 months; "
            "none scores best"
        ),
        PURPOSE.name: f"loan purpose is {_words(inputs.purpose)}; {best_purposes} scores best",
        TERM.name: f"term of {_months(inputs.term_months)}; {_TERM_BEST} months or less scores best",
    }


def _at_most(table: tuple[tuple[Decimal | int | None, Bin], ...], value: Decimal | int) -> Bin:
    return next(b for upper, b in table if upper is None or value <= upper)


def _at_least(table: tuple[tuple[int, Bin], ...], value: int) -> Bin:
    return next(b for lower, b in table if value >= lower)


def _loan_to_income_bin(amount: Decimal, income: Decimal) -> Bin:
    # amount ≤ k·income rather than amount / income ≤ k: the product is exact, a quotient may round.
    with localcontext(Context(prec=60)):
        return next(b for k, b in _LTI if k is None or amount <= k * income)


def grade_characteristics(inputs: ScoreInputs, dti_after: Decimal) -> tuple[Graded, ...]:
    """The bin of every characteristic, in ``CHARACTERISTICS`` order. ``dti_after`` is the 4-dp DTI."""
    bins = {
        DEBT_TO_INCOME.name: _at_most(_DTI, dti_after),
        LOAN_TO_INCOME.name: _loan_to_income_bin(inputs.requested_amount, inputs.monthly_income),
        EMPLOYMENT.name: _at_least(_EMPLOYMENT[inputs.employment_status], inputs.months_in_employment),
        AGE.name: _at_least(_AGE, inputs.age_years),
        BUREAU_SCORE.name: (
            _NO_BUREAU_FILE if inputs.bureau_score is None else _at_least(_BUREAU, inputs.bureau_score)
        ),
        RECENT_DELINQUENCIES.name: (
            _DELINQUENCIES_NOT_REPORTED
            if inputs.recent_delinquencies is None
            else _at_least(_DELINQUENCIES, inputs.recent_delinquencies)
        ),
        PURPOSE.name: _PURPOSE[inputs.purpose],
        TERM.name: _at_most(_TERM, inputs.term_months),
    }
    messages = _messages(inputs, dti_after)
    return tuple(Graded(c, bins[c.name], messages[c.name]) for c in CHARACTERISTICS)
