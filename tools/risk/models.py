"""Inputs and outputs of the risk and decision tools."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import ConfigDict, Field

from tools.credit.models.applications import ApplicationStatus, EmploymentStatus, Purpose
from tools.platform.models import DecimalString, Input, Output

__all__ = [
    "AdverseActionNoticeView",
    "ApprovalResult",
    "BatchItem",
    "BatchReport",
    "BureauData",
    "ReasonView",
    "ReviewDecision",
    "ReviewQueue",
    "ReviewQueueItem",
    "RiskAssessmentView",
    "SimulateScore",
]


class BureauData(Input):
    """What a credit bureau reported, when the caller has it; absent data scores as 'no file'."""

    bureau_score: Annotated[
        int | None,
        Field(default=None, ge=300, le=850, description="The bureau's score, 300-850.", examples=[690]),
    ] = None
    recent_delinquencies: Annotated[
        int | None, Field(default=None, ge=0, le=99, description="Delinquencies in the last 12 months.")
    ] = None


class SimulateScore(BureauData):
    """What-if inputs for the scorecard; amounts are decimal strings in major units."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "monthly_income": "450000.00",
                    "monthly_obligations": "50000.00",
                    "requested_amount": "500000.00",
                    "term_months": 12,
                    "purpose": "business",
                    "employment_status": "employed",
                    "months_in_employment": 36,
                    "age_years": 34,
                    "kyc_verified": True,
                    "bureau_score": 690,
                    "recent_delinquencies": 0,
                }
            ]
        }
    )

    monthly_income: Annotated[
        DecimalString, Field(gt=0, max_digits=20, description="Gross monthly income, major units.")
    ]
    monthly_obligations: Annotated[
        DecimalString,
        Field(ge=0, max_digits=20, description="Existing monthly debt repayments, major units."),
    ]
    requested_amount: Annotated[
        DecimalString, Field(gt=0, max_digits=20, description="Principal asked for, major units.")
    ]
    term_months: Annotated[int, Field(ge=1, le=120, description="Loan term in months.")]
    purpose: Annotated[Purpose, Field(description="What the loan is for.")]
    employment_status: Annotated[EmploymentStatus, Field(description="The applicant's employment.")]
    months_in_employment: Annotated[
        int, Field(ge=0, le=720, description="Months in the current job or business.")
    ] = 0
    age_years: Annotated[int, Field(ge=0, le=120, description="The applicant's age in whole years.")]
    kyc_verified: Annotated[bool, Field(description="Whether identity (KYC) is verified.")] = False
    stage: Annotated[
        str,
        Field(
            pattern="^(scoring|approval)$",
            description="scoring (the first assessment) or approval (the re-check before approval).",
        ),
    ] = "scoring"


class ReasonView(Output):
    code: str
    message: str
    points_lost: int


class RiskAssessmentView(Output):
    id: UUID | None = Field(description="Null for a simulation (nothing stored).")
    application_id: UUID | None
    model_version: str
    stage: str
    score: int = Field(description="300-850; higher is safer.")
    pd: Decimal = Field(description="Probability of default, 4 decimals.")
    grade: str
    recommendation: str = Field(description="approve, refer or decline.")
    dti_after: Decimal = Field(description="Debt-to-income after the new installment (0.45 = 45%).")
    installment_estimate: Decimal
    max_affordable_amount: Decimal
    suggested_rate_band: dict[str, Decimal]
    reasons: list[ReasonView] = Field(description="Up to four specific reasons, most costly first.")
    breakdown: list[dict[str, object]]
    inputs: dict[str, object] = Field(description="Every input the model used (no personal data).")
    assessed_at: datetime | None
    application_status: ApplicationStatus | None = Field(
        default=None, description="Where scoring moved the application."
    )


class BatchItem(Output):
    application: str
    outcome: str = Field(description="The recommendation, or the error code if it could not be scored.")
    status: ApplicationStatus | None
    error: str | None = None


class BatchReport(Output):
    scored: int
    failed: int
    items: list[BatchItem]


class AdverseActionNoticeView(Output):
    application_id: UUID
    reference: str
    reasons: list[ReasonView]
    notice_text: str
    issued_at: datetime


class ReviewDecision(StrEnum):
    OPEN_FOR_BIDS = "open_for_bids"
    DECLINE = "decline"
    REQUEST_INFORMATION = "request_information"


class ReviewQueueItem(Output):
    id: UUID
    reference: str
    borrower_id: str
    referred_at: datetime
    score: int | None
    grade: str | None
    reasons: list[ReasonView]


class ReviewQueue(Output):
    items: list[ReviewQueueItem]
    next_cursor: str | None


class ApprovalResult(Output):
    application_id: UUID
    reference: str
    status: ApplicationStatus
    approved: bool
    reasons: list[ReasonView] = Field(description="Why approval failed the policy re-check, if it did.")
