"""The scorecard on hand-computed applications: points per characteristic, score, PD, rules and reasons.

Constants used in the arithmetic: FACTOR = 40 / ln 2 = 57.7078, OFFSET = 600 - 57.7078 * ln 30 = 403.7244.
Annuity factors at the 30% reference rate (r = 0.025 a month), (1 - 1.025^-n) / 0.025:
n = 12: 10.257765, n = 24: 17.884986, n = 36: 23.556251.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from tools.credit.models import applications as models
from tools.risk.domain.score_inputs import EmploymentStatus, Purpose
from tools.risk.domain.scorecard import (
    FACTOR,
    OFFSET,
    Grade,
    HardRule,
    Recommendation,
    RiskPolicy,
    ScoreInputs,
    Stage,
    grade_for_score,
    odds_for_score,
    probability_of_default,
    score,
)

# A salaried prime applicant: the case most tests vary one field of.
PRIME = ScoreInputs(
    monthly_income=Decimal("500000"),
    employment_status=EmploymentStatus.EMPLOYED,
    months_in_employment=36,
    monthly_obligations=Decimal("50000"),
    requested_amount=Decimal("1000000"),
    term_months=24,
    purpose=Purpose.HOME_IMPROVEMENT,
    age_years=40,
    bureau_score=700,
    recent_delinquencies=0,
    kyc_verified=True,
)


def codes(assessment) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in assessment.reasons]


def test_scaling_constants_put_600_at_odds_30_and_double_the_odds_every_40_points() -> None:
    assert FACTOR.quantize(Decimal("0.0001")) == Decimal("57.7078")
    assert OFFSET.quantize(Decimal("0.0001")) == Decimal("403.7244")
    assert abs(odds_for_score(600) - 30) < Decimal("1e-40")
    assert abs(odds_for_score(640) - 60) < Decimal("1e-40")
    assert abs(odds_for_score(560) - 15) < Decimal("1e-40")
    # PD = 1 / (1 + odds): 1/31 = 0.032258 -> 0.0323; 1/61 = 0.016393 -> 0.0164; 1/16 = 0.0625 exactly.
    assert probability_of_default(600) == Decimal("0.0323")
    assert probability_of_default(640) == Decimal("0.0164")
    assert probability_of_default(560) == Decimal("0.0625")


GRADE_EDGES = {
    850: "A",
    720: "A",
    719: "B",
    660: "B",
    659: "C",
    600: "C",
    599: "D",
    540: "D",
    539: "E",
    300: "E",
}


@pytest.mark.parametrize(("points", "grade"), GRADE_EDGES.items())
def test_grade_bands(points: int, grade: str) -> None:
    assert grade_for_score(points) == Grade(grade)


def test_a_prime_salaried_applicant_is_approved_at_grade_a() -> None:
    a = score(PRIME)
    # installment = 1000000 / 17.884986 = 55912.82; DTI = (50000 + 55912.82) / 500000 = 0.2118256 -> up 0.2119
    assert a.installment_estimate == Decimal("55912.82")
    assert a.dti_after == Decimal("0.2119")
    # DTI over 20-30% 95 + LTI 2x 60 + employed 36 months 80 + age 40: 45 + bureau 700: 65 + no delinquency 40
    # + home_improvement 30 + 24 months 25 = 440; 300 + 440 = 740.
    assert [(c.name, c.bin, c.points) for c in a.breakdown] == [
        ("debt_to_income", "over 20% to 30%", 95),
        ("loan_to_income", "over 1x to 3x", 60),
        ("employment", "employed, 24+ months", 80),
        ("age", "36 and over", 45),
        ("bureau_score", "660-719", 65),
        ("recent_delinquencies", "none", 40),
        ("purpose", "home_improvement", 30),
        ("term", "13-24 months", 25),
    ]
    assert a.score == 740
    # odds = exp((740 - 403.7244) / 57.7078) = exp(5.82721) = 339.41; PD = 1 / 340.41 = 0.002938 -> 0.0029
    assert a.pd == Decimal("0.0029")
    assert a.grade is Grade.A
    assert a.recommendation is Recommendation.APPROVE
    assert (a.suggested_rate_band.min_annual_rate, a.suggested_rate_band.max_annual_rate) == (
        Decimal("0.12"),
        Decimal("0.18"),
    )
    # Lost: bureau 105 - 65 = 40, DTI 110 - 95 = 15, LTI 70 - 60 = 10, term 30 - 25 = 5.
    assert [(r.code, r.points_lost) for r in a.reasons] == [
        ("score.bureau_score", 40),
        ("score.debt_to_income", 15),
        ("score.loan_to_income", 10),
        ("score.term", 5),
    ]
    assert a.reasons[0].message == "credit bureau score is 700; 780 or more scores best"
    assert a.reasons[1].message == "debt-to-income after this loan is 21.19%; 20% or less scores best"
    # Room = 0.45 * 500000 - 50000 = 175000; installment must stay below 175000.005 before rounding:
    # 175000.005 * 17.884986 = 3129872.6... -> down to 3129872.61 (below 10 * income = 5000000).
    assert a.max_affordable_amount == Decimal("3129872.61")
    assert a.failed_rules == ()
    assert a.model_version == "caas-scorecard-1.0.0"


def test_a_young_thin_file_applicant_with_a_delinquency_is_referred() -> None:
    inputs = ScoreInputs(
        monthly_income=Decimal("150000"),
        employment_status=EmploymentStatus.EMPLOYED,
        months_in_employment=4,
        monthly_obligations=Decimal("0"),
        requested_amount=Decimal("300000"),
        term_months=12,
        purpose=Purpose.BUSINESS,
        age_years=20,
        bureau_score=590,
        recent_delinquencies=1,
        kyc_verified=True,
    )
    a = score(inputs)
    # installment = 300000 / 10.257765 = 29246.14; DTI = 29246.14 / 150000 = 0.194974 -> 0.1950.
    assert (a.installment_estimate, a.dti_after) == (Decimal("29246.14"), Decimal("0.1950"))
    # DTI 110 + LTI 2x 60 + employed 4 months 35 + age 20: 15 + bureau 590: 15 + one delinquency 10
    # + business 10 + 12 months 30 = 285; 300 + 285 = 585 (grade D, between the cut-offs 540 and 600).
    assert a.score == 585
    # odds = exp((585 - 403.7244) / 57.7078) = exp(3.14126) = 23.135; PD = 1 / 24.135 = 0.04143 -> 0.0414
    assert a.pd == Decimal("0.0414")
    assert (a.grade, a.recommendation) == (Grade.D, Recommendation.REFER)
    # Lost: bureau 90, employment 45, age 30, delinquencies 30 (tie: by code), LTI 10, purpose 20.
    # Only four are kept; purpose (20) and LTI (10) fall off.
    assert [(r.code, r.points_lost) for r in a.reasons] == [
        ("score.bureau_score", 90),
        ("score.employment", 45),
        ("score.age", 30),
        ("score.recent_delinquencies", 30),
    ]
    assert a.reasons[1].message == "in current employment for 4 months; 24 or more scores best"
    assert a.reasons[3].message == "1 delinquency in the last 12 months; none scores best"


def test_a_good_score_is_still_declined_when_dti_is_above_the_limit() -> None:
    inputs = replace(
        PRIME,
        monthly_income=Decimal("100000"),
        monthly_obligations=Decimal("40000"),
        requested_amount=Decimal("200000"),
        term_months=12,
        months_in_employment=60,
        age_years=45,
        bureau_score=800,
        purpose=Purpose.VEHICLE,
    )
    a = score(inputs)
    # installment = 200000 / 10.257765 = 19497.43; DTI = 59497.43 / 100000 = 0.5949743 -> 0.5950.
    assert a.dti_after == Decimal("0.5950")
    # DTI 45-60% 10 + LTI 60 + 80 + 45 + bureau 800: 105 + 40 + vehicle 30 + 12 months 30 = 400 -> 700 (B).
    assert (a.score, a.grade) == (700, Grade.B)
    assert a.recommendation is Recommendation.DECLINE
    assert a.failed_rules == (HardRule.DTI_ABOVE_LIMIT,)
    assert a.reasons[0].code == "policy.dti_above_limit"
    assert a.reasons[0].message == "debt-to-income after this loan is 59.5%, above the 45% limit"
    assert a.reasons[0].points_lost == 0
    assert codes(a)[1:] == ["score.debt_to_income", "score.loan_to_income"]
    # Room = 0.45 * 100000 - 40000 = 5000; 5000.005 * 10.257765 = 51288.87.
    assert a.max_affordable_amount == Decimal("51288.87")


def test_every_hard_rule_at_once_fills_the_reasons_in_rule_order() -> None:
    inputs = ScoreInputs(
        monthly_income=Decimal("60000"),
        employment_status=EmploymentStatus.STUDENT,
        months_in_employment=0,
        monthly_obligations=Decimal("30000"),
        requested_amount=Decimal("700000"),
        term_months=36,
        purpose=Purpose.OTHER,
        age_years=17,
        kyc_verified=False,
    )
    a = score(inputs, stage="approval")
    # installment = 700000 / 23.556251 = 29716.10; DTI = 59716.10 / 60000 = 0.995268 -> 0.9953.
    # DTI > 60% -30 + LTI 11.67x -20 + student 20 + under 18: 0 + no file 50 + not reported 20 + other 10
    # + 36 months 20 = 70; 300 + 70 = 370. odds = exp(-0.58440) = 0.55745; PD = 1 / 1.55745 -> 0.6421.
    assert (a.score, a.pd, a.grade) == (370, Decimal("0.6421"), Grade.E)
    assert a.recommendation is Recommendation.DECLINE
    assert a.failed_rules == tuple(HardRule)
    assert [(r.code, r.message) for r in a.reasons] == [
        ("policy.under_minimum_age", "applicant is 17; the minimum age is 18"),
        ("policy.dti_above_limit", "debt-to-income after this loan is 99.53%, above the 45% limit"),
        (
            "policy.amount_above_income_multiple",
            "requested amount 700000 is 11.67 times monthly income of 60000, above the limit of 10 times",
        ),
        (
            "policy.identity_not_verified",
            "identity (KYC) is not verified; approval needs a verified identity",
        ),
    ]
    # Obligations 30000 already exceed 0.45 * 60000 = 27000: no amount is affordable.
    assert a.max_affordable_amount == Decimal("0.00")


def test_unverified_identity_refers_at_scoring_and_declines_at_approval() -> None:
    unverified = replace(PRIME, kyc_verified=False)
    at_scoring = score(unverified, stage=Stage.SCORING)
    assert (at_scoring.score, at_scoring.recommendation) == (740, Recommendation.REFER)  # costs no points
    assert at_scoring.failed_rules == ()
    assert codes(at_scoring) == [
        "condition.identity_not_verified",
        "score.bureau_score",
        "score.debt_to_income",
        "score.loan_to_income",
    ]
    at_approval = score(unverified, stage="approval")
    assert (at_approval.score, at_approval.recommendation) == (740, Recommendation.DECLINE)
    assert at_approval.failed_rules == (HardRule.IDENTITY_NOT_VERIFIED,)
    assert codes(at_approval)[0] == "policy.identity_not_verified"
    assert score(PRIME, stage="approval").recommendation is Recommendation.APPROVE


def test_the_worst_applicant_is_clamped_to_300_and_the_best_reaches_810() -> None:
    worst = ScoreInputs(
        monthly_income=Decimal("10000"),
        employment_status=EmploymentStatus.UNEMPLOYED,
        months_in_employment=0,
        monthly_obligations=Decimal("9000"),
        requested_amount=Decimal("200000"),
        term_months=120,
        purpose=Purpose.OTHER,
        age_years=17,
        bureau_score=450,
        recent_delinquencies=5,
        kyc_verified=True,
    )
    # -30 -20 -20 + 0 -40 -30 + 10 + 0 = -130; 300 - 130 = 170 -> clamped to 300.
    # odds = exp((300 - 403.7244) / 57.7078) = exp(-1.79741) = 0.16573; PD = 1 / 1.16573 = 0.85783 -> 0.8578.
    w = score(worst)
    assert sum(c.points for c in w.breakdown) == -130
    assert (w.score, w.pd, w.grade, w.recommendation) == (
        300,
        Decimal("0.8578"),
        Grade.E,
        Recommendation.DECLINE,
    )

    best = replace(
        PRIME,
        monthly_income=Decimal("1000000"),
        monthly_obligations=Decimal("0"),
        requested_amount=Decimal("500000"),
        term_months=12,
        months_in_employment=120,
        bureau_score=800,
        purpose=Purpose.VEHICLE,
    )
    # Every best bin: 110 + 70 + 80 + 45 + 105 + 40 + 30 + 30 = 510; 300 + 510 = 810.
    # odds = exp((810 - 403.7244) / 57.7078) = exp(7.04021) = 1141.64; PD = 1 / 1142.64 = 0.000875 -> 0.0009.
    b = score(best)
    assert (b.score, b.pd, b.reasons) == (810, Decimal("0.0009"), ())


def test_dti_exactly_at_the_limit_passes_and_a_cent_more_of_obligations_fails() -> None:
    no_interest = RiskPolicy(reference_annual_rate=Decimal("0"))
    # 1200 over 12 months at 0% is 100 a month; (350 + 100) / 1000 = 0.45 exactly.
    at_limit = replace(
        PRIME,
        monthly_income=Decimal("1000"),
        monthly_obligations=Decimal("350"),
        requested_amount=Decimal("1200"),
        term_months=12,
    )
    a = score(at_limit, no_interest)
    assert (a.dti_after, a.failed_rules) == (Decimal("0.4500"), ())
    assert a.breakdown[0].bin == "over 36% to 45%"
    # 450.01 / 1000 = 0.45001, rounded UP to 0.4501: above the limit, and shown as such.
    over = score(replace(at_limit, monthly_obligations=Decimal("350.01")), no_interest)
    assert over.dti_after == Decimal("0.4501")
    assert over.failed_rules == (HardRule.DTI_ABOVE_LIMIT,)
    assert over.reasons[0].message == "debt-to-income after this loan is 45.01%, above the 45% limit"


def test_an_amount_of_exactly_the_income_multiple_passes_and_a_cent_more_fails() -> None:
    roomy = RiskPolicy(dti_limit=Decimal("1"))
    exact = replace(PRIME, requested_amount=Decimal("5000000.00"))  # 10 * 500000
    assert score(exact, roomy).failed_rules == ()
    assert score(exact, roomy).breakdown[1].bin == "over 6x to 10x"
    above = score(replace(exact, requested_amount=Decimal("5000000.01")), roomy)
    assert above.failed_rules == (HardRule.AMOUNT_ABOVE_INCOME_MULTIPLE,)
    assert above.breakdown[1].bin == "over 10x"
    assert "10.01 times monthly income of 500000" in above.reasons[0].message  # ratio rounded up


def test_missing_bureau_data_scores_the_neutral_bins() -> None:
    a = score(replace(PRIME, bureau_score=None, recent_delinquencies=None))
    bins = {c.name: (c.bin, c.points) for c in a.breakdown}
    assert bins["bureau_score"] == ("no file", 50)
    assert bins["recent_delinquencies"] == ("not reported", 20)
    # 740 - 65 + 50 - 40 + 20 = 705
    assert a.score == 705
    messages = {r.code: r.message for r in a.reasons}
    assert (
        messages["score.bureau_score"] == "no credit bureau file; a bureau score of 780 or more scores best"
    )


def test_a_policy_can_move_the_cut_offs_and_rate_bands() -> None:
    strict = RiskPolicy(approve_cutoff=750, decline_cutoff=700)
    assert score(PRIME, strict).recommendation is Recommendation.REFER  # 740
    assert score(replace(PRIME, bureau_score=590), strict).recommendation is Recommendation.DECLINE  # 690


@pytest.mark.parametrize(
    "change",
    [
        {"monthly_income": Decimal("0")},
        {"monthly_income": 500000.0},
        {"monthly_income": Decimal("NaN")},
        {"monthly_obligations": Decimal("-1")},
        {"requested_amount": Decimal("0")},
        {"term_months": 0},
        {"term_months": True},
        {"months_in_employment": -1},
        {"age_years": -1},
        {"bureau_score": 299},
        {"bureau_score": 851},
        {"recent_delinquencies": -1},
        {"kyc_verified": 1},
        {"purpose": "holiday"},
        {"employment_status": "contractor"},
    ],
)
def test_invalid_inputs_are_rejected(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(PRIME, **change)


@pytest.mark.parametrize(
    "change",
    [
        {"dti_limit": Decimal("0.45001")},
        {"dti_limit": Decimal("0")},
        {"dti_limit": Decimal("1.5")},
        {"reference_annual_rate": Decimal("-0.1")},
        {"max_income_multiple": Decimal("Infinity")},
        {"approve_cutoff": 500, "decline_cutoff": 540},
        {"decline_cutoff": 200},
        {"minimum_age": -1},
        {"rate_bands": ()},
    ],
)
def test_invalid_policies_are_rejected(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RiskPolicy(**change)


def test_an_unknown_stage_is_rejected() -> None:
    with pytest.raises(ValueError):
        score(PRIME, stage="final")


def test_the_models_enums_are_accepted_and_have_the_same_values() -> None:
    assert {e.value for e in models.Purpose} == {e.value for e in Purpose}
    assert {e.value for e in models.EmploymentStatus} == {e.value for e in EmploymentStatus}
    from_models = replace(
        PRIME,
        purpose=models.Purpose.HOME_IMPROVEMENT,  # type: ignore[arg-type]
        employment_status=models.EmploymentStatus.EMPLOYED,  # type: ignore[arg-type]
    )
    assert type(from_models.purpose) is Purpose
    assert score(from_models) == score(PRIME)
