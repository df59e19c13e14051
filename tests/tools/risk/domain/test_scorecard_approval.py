"""The scorecard at approval (``tools.risk.domain.scorecard``): the accepted offer's own installment,
not the estimate at the policy's reference rate, sets debt-to-income."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tests.tools.risk.domain.test_scorecard import PRIME
from tools.risk.domain.scorecard import HardRule, RiskPolicy, score


def test_at_approval_the_offers_own_installment_sets_debt_to_income_not_the_reference_estimate() -> None:
    no_interest = RiskPolicy(reference_annual_rate=Decimal("0"))
    # At the 0% reference 1200 over 12 months is 100 a month, (350 + 100) / 1000 = 0.45: within. The
    # offer accepted costs 100.01 a month: 0.4501, above the limit, though the estimate was not.
    asked = replace(
        PRIME,
        monthly_income=Decimal("1000"),
        monthly_obligations=Decimal("350"),
        requested_amount=Decimal("1200"),
        term_months=12,
    )
    assert score(asked, no_interest, stage="approval").failed_rules == ()
    offered = score(replace(asked, offered_installment=Decimal("100.01")), no_interest, stage="approval")
    assert (offered.installment_estimate, offered.dti_after) == (Decimal("100.01"), Decimal("0.4501"))
    assert offered.failed_rules == (HardRule.DTI_ABOVE_LIMIT,)
    # And a cheaper offer than the estimate is measured as cheaper.
    cheaper = score(replace(asked, offered_installment=Decimal("50")), no_interest, stage="approval")
    assert cheaper.dti_after == Decimal("0.4000")
