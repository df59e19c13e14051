"""``risk_model.md`` is what an agent reads to explain a decision: it must say what the code does.

Each table in the document is parsed and compared, value for value, with the constants in the code.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from tools.risk.domain import scorecard
from tools.risk.domain.characteristics import grade_characteristics
from tools.risk.domain.scorecard import (
    CHARACTERISTICS,
    DEFAULT_POLICY,
    GRADE_MIN_SCORES,
    IDENTITY_CONDITION,
    MAX_SCORE,
    MODEL_VERSION,
    Characteristic,
    EmploymentStatus,
    HardRule,
    Purpose,
    ScoreInputs,
    installment_estimate,
    probability_of_default,
    score,
)

DOCUMENT = Path(scorecard.__file__).with_name("risk_model.md")
TEXT = DOCUMENT.read_text(encoding="utf-8")


def section(heading_start: str) -> list[list[str]]:
    """The table rows (cells stripped, header and separator dropped) under the heading that starts
    with ``heading_start``, up to the next heading."""
    lines = TEXT.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading_start)]
    assert len(starts) == 1, f"expected one heading starting {heading_start!r}, found {len(starts)}"
    rows: list[list[str]] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"no table under {heading_start!r}"
    return rows[1:]  # without the header row


def test_the_document_names_the_model_version_in_its_title() -> None:
    assert TEXT.splitlines()[0] == f"# CaaS application scorecard `{MODEL_VERSION}`"


def test_the_constants_table_matches_the_code() -> None:
    documented = {row[0].strip("`"): row[1] for row in section("## Constants")}
    expected = {
        name: str(getattr(scorecard, name))
        for name in (
            "MODEL_VERSION",
            "BASE_SCORE",
            "BASE_ODDS",
            "PDO",
            "BASE_POINTS",
            "MIN_SCORE",
            "MAX_SCORE",
            "MAX_REASONS",
        )
    }
    expected["FACTOR"] = str(scorecard.FACTOR.quantize(Decimal("0.0001")))
    expected["OFFSET"] = str(scorecard.OFFSET.quantize(Decimal("0.0001")))
    assert documented == expected


@pytest.mark.parametrize("characteristic", CHARACTERISTICS, ids=lambda c: c.name)
def test_every_bin_and_its_points_are_in_the_characteristic_table(characteristic: Characteristic) -> None:
    rows = section(f"### `{characteristic.name}` — {characteristic.title}")
    assert [(row[0], int(row[1])) for row in rows] == [(b.label, b.points) for b in characteristic.bins]


def test_every_characteristic_is_documented_and_nothing_else_is() -> None:
    documented = [line.split("`")[1] for line in TEXT.splitlines() if line.startswith("### `")]
    assert documented == [c.name for c in CHARACTERISTICS]


def test_the_grade_and_rate_band_table_matches_the_code() -> None:
    expected = []
    upper = MAX_SCORE
    for (grade, lowest), band in zip(GRADE_MIN_SCORES, DEFAULT_POLICY.rate_bands, strict=True):
        expected.append(
            [grade.value, str(lowest), str(upper), str(band.min_annual_rate), str(band.max_annual_rate)]
        )
        upper = lowest - 1
    assert section("## Grades and default rate bands") == expected


def test_the_default_policy_table_matches_the_code() -> None:
    documented = {row[0].strip("`"): row[1] for row in section("## Default policy")}
    assert documented == {
        "dti_limit": str(DEFAULT_POLICY.dti_limit),
        "max_income_multiple": str(DEFAULT_POLICY.max_income_multiple),
        "reference_annual_rate": str(DEFAULT_POLICY.reference_annual_rate),
        "minimum_age": str(DEFAULT_POLICY.minimum_age),
        "approve_cutoff": str(DEFAULT_POLICY.approve_cutoff),
        "decline_cutoff": str(DEFAULT_POLICY.decline_cutoff),
    }


def test_the_pd_reference_table_matches_the_code() -> None:
    rows = section("## From points to score and probability of default")
    assert rows, "the PD table is missing"
    assert all(Decimal(pd) == probability_of_default(int(points)) for points, pd in rows)


def test_hard_rules_are_documented_in_the_order_the_code_applies_them() -> None:
    assert [row[0].strip("`") for row in section("## Hard rules")] == [rule.value for rule in HardRule]


def test_every_reason_code_is_documented() -> None:
    assert [row[0].strip("`") for row in section("## Reason codes")] == [
        c.reason_code for c in CHARACTERISTICS
    ]
    assert f"`{IDENTITY_CONDITION}`" in TEXT


def test_the_example_messages_are_what_the_code_says_for_those_figures() -> None:
    # Obligations chosen so that obligations + installment is exactly 38.5% and 52% of income.
    scored = ScoreInputs(
        monthly_income=Decimal("60000"),
        employment_status=EmploymentStatus.EMPLOYED,
        months_in_employment=4,
        monthly_obligations=Decimal("23100") - installment_estimate(Decimal("250000"), 48),
        requested_amount=Decimal("250000"),
        term_months=48,
        purpose=Purpose.BUSINESS,
        age_years=23,
        bureau_score=612,
        recent_delinquencies=2,
        kyc_verified=True,
    )
    dti = score(scored).dti_after
    assert dti == Decimal("0.3850")
    shortfalls = {g.characteristic.reason_code: g.shortfall for g in grade_characteristics(scored, dti)}
    assert {row[0].strip("`"): row[1] for row in section("## Reason codes")} == shortfalls

    declined = replace(
        scored,
        age_years=17,
        requested_amount=Decimal("700000"),
        term_months=36,
        monthly_obligations=Decimal("31200") - installment_estimate(Decimal("700000"), 36),
        kyc_verified=False,
    )
    documented = [(row[0].strip("`"), row[2]) for row in section("## Hard rules")]
    assert [(r.code, r.message) for r in score(declined, stage="approval").reasons] == documented
