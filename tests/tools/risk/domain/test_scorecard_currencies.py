"""The scorecard's money figures are in the application currency's minor unit (issue 10, the class of
item 12): a yen has no cents and a Kuwaiti dinar has three decimals, so the installment estimate and the
largest affordable amount are rounded to a yen or a fils, never to a cent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tools.risk.domain.test_scorecard_properties import AFFORDABILITY_RULES, applications, policies
from tools.risk.domain.scorecard import RiskPolicy, ScoreInputs, installment_estimate, score

UNITS = {"JPY": Decimal(1), "NGN": Decimal("0.01"), "USD": Decimal("0.01"), "KWD": Decimal("0.001")}


def test_a_yen_application_is_estimated_and_capped_in_whole_yen() -> None:
    # 1,000,000 yen over 24 months at the reference 30% a year: 55,912.82 -> 55,913 yen, not 55,912.82.
    assert installment_estimate(Decimal(1_000_000), 24, unit=Decimal(1)) == Decimal(55_913)
    inputs = ScoreInputs(
        monthly_income=Decimal(500_000),
        employment_status="employed",
        months_in_employment=36,
        monthly_obligations=Decimal(50_000),
        requested_amount=Decimal(1_000_000),
        term_months=24,
        purpose="home_improvement",
        age_years=40,
        kyc_verified=True,
        currency="JPY",
    )
    assessment = score(inputs)
    assert assessment.installment_estimate == Decimal(55_913)
    # Room = 0.45 * 500,000 - 50,000 = 175,000 yen; the installment must stay below 175,000.5 yen before
    # rounding: 3,129,881 yen gives 175,000.47 (-> 175,000), 3,129,882 gives 175,000.53 (-> 175,001).
    assert assessment.max_affordable_amount == Decimal(3_129_881)
    with pytest.raises(ValueError):
        replace(inputs, currency="XYZ")


@given(applications(), policies, st.sampled_from(sorted(UNITS)))
def test_figures_are_whole_minor_units_and_one_unit_more_is_unaffordable(
    inputs: ScoreInputs, policy: RiskPolicy, currency: str
) -> None:
    unit = UNITS[currency]
    inputs = replace(inputs, currency=currency)
    assessment = score(inputs, policy)
    most = assessment.max_affordable_amount
    assert assessment.installment_estimate.as_tuple().exponent == unit.as_tuple().exponent
    assert most.as_tuple().exponent == unit.as_tuple().exponent and most >= 0
    if most > 0:
        at_most = score(replace(inputs, requested_amount=most), policy)
        assert set(at_most.failed_rules) & AFFORDABILITY_RULES == set()
    one_more = score(replace(inputs, requested_amount=most + unit), policy)
    assert set(one_more.failed_rules) & AFFORDABILITY_RULES != set()
