"""The stored commission plan: defaults, validation and a canonical JSON form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tools.loans.domain.commission_plan import CommissionPlan


def test_the_default_is_8_5_percent_of_the_principal_and_nothing_else() -> None:
    plan = CommissionPlan()
    assert plan.principal_rate == Decimal("0.085")
    assert (plan.tiers, plan.caps, plan.interest_share) == ((), (), Decimal("0"))
    assert plan.cap_for("NGN") is None and plan.tiers_for("NGN") == ()


def test_json_round_trips_in_one_canonical_order() -> None:
    plan = CommissionPlan.model_validate(
        {
            "tiers": [
                {"currency": "NGN", "from_principal_minor": 100_000_000, "principal_rate": "0.07"},
                {"currency": "KES", "from_principal_minor": 0, "principal_rate": "0.08"},
                {"currency": "NGN", "from_principal_minor": 0, "principal_rate": "0.09"},
            ],
            "caps": [{"currency": "NGN", "max_commission_minor": 50_000_000}],
            "interest_share": "0.1",
        }
    )
    stored = plan.model_dump(mode="json")
    assert stored["principal_rate"] == "0.085" and stored["interest_share"] == "0.1"
    assert [(t["currency"], t["from_principal_minor"]) for t in stored["tiers"]] == [
        ("KES", 0),
        ("NGN", 0),
        ("NGN", 100_000_000),
    ]
    assert CommissionPlan.model_validate(stored) == plan
    assert [t.principal_rate for t in plan.tiers_for("NGN")] == [Decimal("0.09"), Decimal("0.07")]
    assert plan.cap_for("NGN") == 50_000_000


BAD: dict[str, dict[str, Any]] = {
    "rate above 1": {"principal_rate": "1.01"},
    "negative rate": {"principal_rate": "-0.01"},
    "too precise": {"principal_rate": "0.0850001"},
    "not a number": {"interest_share": "NaN"},
    "unknown currency": {"caps": [{"currency": "XYZ", "max_commission_minor": 1}]},
    "zero cap": {"caps": [{"currency": "NGN", "max_commission_minor": 0}]},
    "two caps": {"caps": [{"currency": "NGN", "max_commission_minor": 1}] * 2},
    "same tier twice": {
        "tiers": [{"currency": "NGN", "from_principal_minor": 0, "principal_rate": "0.1"}] * 2
    },
    "negative tier start": {
        "tiers": [{"currency": "NGN", "from_principal_minor": -1, "principal_rate": "0.1"}]
    },
    "unknown field": {"flat_fee": 100},
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_invalid_plans_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CommissionPlan.model_validate(data)
