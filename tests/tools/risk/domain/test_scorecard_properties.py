"""Properties of the scorecard over generated applications and policies."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, Context, Decimal, localcontext
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from tools.risk.domain.scorecard import (
    DEFAULT_POLICY,
    GRADE_MIN_SCORES,
    MAX_REASONS,
    MAX_SCORE,
    MIN_SCORE,
    Assessment,
    EmploymentStatus,
    Grade,
    HardRule,
    Purpose,
    Recommendation,
    RiskPolicy,
    ScoreInputs,
    Stage,
    grade_for_score,
    odds_for_score,
    probability_of_default,
    score,
)

CENT = Decimal("0.01")
AFFORDABILITY_RULES = {HardRule.DTI_ABOVE_LIMIT, HardRule.AMOUNT_ABOVE_INCOME_MULTIPLE}


def cents(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)


@st.composite
def applications(draw: st.DrawFn) -> ScoreInputs:
    """Applications around the decision boundaries: obligations as a share of income (0-60%) and the
    amount as a multiple of it (0.01x-15x), so DTI and income-multiple rules both pass and fail."""
    income = cents(draw(st.integers(1_000, 10**9)))
    with localcontext(Context(prec=60)):
        obligations = (income * draw(st.integers(0, 60)) / 100).quantize(CENT, rounding=ROUND_DOWN)
        amount = max(CENT, (income * draw(st.integers(1, 1500)) / 100).quantize(CENT, rounding=ROUND_DOWN))
    return ScoreInputs(
        monthly_income=income,
        employment_status=draw(st.sampled_from(EmploymentStatus)),
        months_in_employment=draw(st.integers(0, 720)),
        monthly_obligations=obligations,
        requested_amount=amount,
        term_months=draw(st.integers(1, 120)),
        purpose=draw(st.sampled_from(Purpose)),
        age_years=draw(st.integers(14, 100)),  # mostly adults, some under the minimum age
        bureau_score=draw(st.none() | st.integers(300, 850)),
        recent_delinquencies=draw(st.none() | st.integers(0, 10)),
        kyc_verified=draw(st.booleans()),
    )


policies = st.one_of(
    st.just(DEFAULT_POLICY),
    st.builds(
        RiskPolicy,
        dti_limit=st.integers(1, 10_000).map(lambda bp: Decimal(bp).scaleb(-4)),
        max_income_multiple=st.integers(1, 40).map(Decimal),
        reference_annual_rate=st.integers(0, 6_000).map(lambda bp: Decimal(bp).scaleb(-4)),
    ),
)
stages = st.sampled_from(Stage)
extra_money = st.integers(0, 10**9).map(cents)


@given(applications(), policies, extra_money)
def test_more_income_never_lowers_the_score(inputs: ScoreInputs, policy: RiskPolicy, extra: Decimal) -> None:
    richer = replace(inputs, monthly_income=inputs.monthly_income + extra)
    assert score(richer, policy).score >= score(inputs, policy).score


@given(applications(), policies, extra_money)
def test_more_obligations_never_raise_the_score(
    inputs: ScoreInputs, policy: RiskPolicy, extra: Decimal
) -> None:
    indebted = replace(inputs, monthly_obligations=inputs.monthly_obligations + extra)
    assert score(indebted, policy).score <= score(inputs, policy).score


@given(applications(), st.integers(0, 720))
def test_a_longer_employment_never_lowers_the_score(inputs: ScoreInputs, more: int) -> None:
    longer = replace(inputs, months_in_employment=inputs.months_in_employment + more)
    assert score(longer).score >= score(inputs).score


def test_pd_strictly_falls_as_the_score_rises() -> None:
    # The odds rise strictly, so the exact PD 1 / (1 + odds) falls strictly. The reported PD has 4
    # decimals, and above ~700 a one-point step moves PD by less than 0.0001: it never rises, and it
    # falls strictly wherever the exact PD moves by more than a rounding step.
    with localcontext(Context(prec=50)):
        exact = [1 / (1 + odds_for_score(s)) for s in range(MIN_SCORE, MAX_SCORE + 1)]
    reported = [probability_of_default(s) for s in range(MIN_SCORE, MAX_SCORE + 1)]
    assert all(a > b for a, b in pairwise(exact))
    assert all(a >= b for a, b in pairwise(reported))
    steps = zip(pairwise(reported), pairwise(exact), strict=True)
    assert all(a > b for (a, b), (x, y) in steps if x - y > CENT / 100)
    assert all(0 < pd < 1 for pd in reported)


@given(applications(), policies, stages)
def test_the_assessment_is_internally_consistent(
    inputs: ScoreInputs, policy: RiskPolicy, stage: Stage
) -> None:
    a = score(inputs, policy, stage=stage)
    assert MIN_SCORE <= a.score <= MAX_SCORE
    assert a.score == min(max(300 + sum(c.points for c in a.breakdown), MIN_SCORE), MAX_SCORE)
    assert a.pd == probability_of_default(a.score)
    assert a.grade == grade_for_score(a.score)
    assert a.suggested_rate_band == policy.rate_band(a.grade)
    assert a.dti_after.as_tuple().exponent == -4
    assert a.installment_estimate.as_tuple().exponent == -2
    assert a.max_affordable_amount.as_tuple().exponent == -2
    assert a.max_affordable_amount >= 0
    if a.failed_rules or a.score < policy.decline_cutoff:
        assert a.recommendation is Recommendation.DECLINE
    elif a.score >= policy.approve_cutoff and inputs.kyc_verified:
        assert a.recommendation is Recommendation.APPROVE
    else:
        assert a.recommendation is Recommendation.REFER


@given(applications(), policies, stages)
def test_reasons_are_at_most_four_rules_first_then_the_largest_shortfalls(
    inputs: ScoreInputs, policy: RiskPolicy, stage: Stage
) -> None:
    a = score(inputs, policy, stage=stage)
    assert len(a.reasons) <= MAX_REASONS
    failed = [rule.value for rule in a.failed_rules]
    assert [r.code for r in a.reasons[: len(failed)]] == failed
    rest = list(a.reasons[len(failed) :])
    if rest and rest[0].code == "condition.identity_not_verified":
        assert not inputs.kyc_verified and a.recommendation is Recommendation.REFER
        assert rest.pop(0).points_lost == 0
    lost = {f"score.{c.name}": c.points_lost for c in a.breakdown}
    assert all(r.code in lost and r.points_lost == lost[r.code] > 0 for r in rest)
    assert rest == sorted(rest, key=lambda r: (-r.points_lost, r.code))
    # The kept score reasons are the largest shortfalls: nothing left out lost more than the last kept.
    shortfalls = sorted(((-p, code) for code, p in lost.items() if p > 0))
    assert [code for _, code in shortfalls[: len(rest)]] == [r.code for r in rest]
    if len(a.reasons) < MAX_REASONS:
        assert len(rest) == len(shortfalls)
    assert all(r.message for r in a.reasons)


def _hard_rule_cases(inputs: ScoreInputs, policy: RiskPolicy) -> dict[HardRule, ScoreInputs]:
    with localcontext(Context(prec=60)):
        return {
            HardRule.UNDER_MINIMUM_AGE: replace(inputs, age_years=policy.minimum_age - 1),
            HardRule.DTI_ABOVE_LIMIT: replace(inputs, monthly_obligations=inputs.monthly_income * 2),
            HardRule.AMOUNT_ABOVE_INCOME_MULTIPLE: replace(
                inputs, requested_amount=policy.max_income_multiple * inputs.monthly_income + CENT
            ),
            HardRule.IDENTITY_NOT_VERIFIED: replace(inputs, kyc_verified=False),
        }


@given(applications(), policies, st.sampled_from(HardRule))
def test_every_hard_rule_declines_whatever_the_score_and_is_named_first(
    inputs: ScoreInputs, policy: RiskPolicy, rule: HardRule
) -> None:
    # The best attainable profile in every other respect, so only the rule can decline it.
    good = replace(inputs, bureau_score=850, recent_delinquencies=0, age_years=40, kyc_verified=True)
    a = score(_hard_rule_cases(good, policy)[rule], policy, stage=Stage.APPROVAL)
    assert a.recommendation is Recommendation.DECLINE
    assert rule in a.failed_rules
    assert a.reasons[0].code.startswith("policy.")
    assert [r.code for r in a.reasons[: len(a.failed_rules)]] == [r.value for r in a.failed_rules]
    assert list(a.failed_rules) == [r for r in HardRule if r in a.failed_rules]  # documented order


@given(applications())
def test_unverified_identity_never_declines_at_scoring_and_always_does_at_approval(
    inputs: ScoreInputs,
) -> None:
    unverified = replace(inputs, kyc_verified=False)
    assert HardRule.IDENTITY_NOT_VERIFIED not in score(unverified, stage="scoring").failed_rules
    assert score(unverified, stage="scoring").recommendation is not Recommendation.APPROVE
    assert score(unverified, stage="approval").recommendation is Recommendation.DECLINE


@given(applications(), policies, stages)
def test_the_same_inputs_give_an_identical_assessment(
    inputs: ScoreInputs, policy: RiskPolicy, stage: Stage
) -> None:
    first = score(inputs, policy, stage=stage)
    again = score(replace(inputs), replace(policy), stage=stage.value)
    assert first == again
    assert repr(first) == repr(again)  # down to each Decimal's exponent


def _affordability_failures(a: Assessment) -> set[HardRule]:
    return set(a.failed_rules) & AFFORDABILITY_RULES


@given(applications(), policies)
def test_max_affordable_amount_keeps_dti_within_the_limit_and_one_cent_more_does_not(
    inputs: ScoreInputs, policy: RiskPolicy
) -> None:
    most = score(inputs, policy).max_affordable_amount
    if most > 0:
        at_most = score(replace(inputs, requested_amount=most), policy)
        assert _affordability_failures(at_most) == set()
        assert at_most.dti_after <= policy.dti_limit
        assert at_most.max_affordable_amount == most  # it does not depend on the amount requested
    one_cent_more = score(replace(inputs, requested_amount=most + CENT), policy)
    assert _affordability_failures(one_cent_more) != set()


def test_grade_bands_cover_every_score_once() -> None:
    assert [g for g, _ in GRADE_MIN_SCORES] == list(Grade)
    assert {grade_for_score(s) for s in range(MIN_SCORE, MAX_SCORE + 1)} == set(Grade)
