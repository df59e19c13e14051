"""Inputs and outputs of the application tools."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

import pycountry
from pydantic import AwareDatetime, EmailStr, Field, ValidationInfo, field_validator, model_validator

from tools.domain.money import MoneyError, to_minor
from tools.models.common import CurrencyCode, Input, Money, Output, check_currency

__all__ = [
    "Applicant",
    "ApplicationPage",
    "ApplicationStatus",
    "ApplicationSummary",
    "ApplicationView",
    "Employment",
    "EmploymentStatus",
    "ListApplications",
    "Purpose",
    "SubmitApplication",
]

MIN_TERM_MONTHS = 1
MAX_TERM_MONTHS = 120


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"


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


class EmploymentStatus(StrEnum):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"


Amount = Annotated[
    Decimal,
    Field(description='Decimal string in major units, e.g. "250000.00"; at most the currency\'s decimals.'),
]


class Applicant(Input):
    full_name: Annotated[str, Field(min_length=2, max_length=200, description="Legal name.")]
    email: Annotated[EmailStr, Field(max_length=254)]
    phone: Annotated[
        str | None,
        Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +2348012345678."),
    ] = None
    country: Annotated[
        str,
        Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 country of residence, e.g. NG."),
    ]

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not value.isupper() or pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(
                f"'{value}' is not an ISO 3166-1 alpha-2 code; use two upper-case letters such as NG"
            )
        return value


class Employment(Input):
    status: EmploymentStatus
    employer_name: Annotated[str | None, Field(default=None, max_length=200)] = None
    months_in_employment: Annotated[
        int, Field(ge=0, le=720, description="Months with the current employer.")
    ] = 0


class SubmitApplication(Input):
    """A borrower's request for credit. Every amount is in ``currency``."""

    borrower_id: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=128,
            description="Subject id of the borrower this is for. Borrowers leave it out (it is themselves); "
            "agents and operators must give it.",
        ),
    ] = None
    applicant: Applicant
    currency: CurrencyCode
    amount: Annotated[Amount, Field(gt=0, description="Requested principal.")]
    term_months: Annotated[
        int, Field(ge=MIN_TERM_MONTHS, le=MAX_TERM_MONTHS, description="Loan term in months.")
    ]
    purpose: Purpose
    purpose_detail: Annotated[str | None, Field(default=None, max_length=500)] = None
    monthly_income: Annotated[Amount, Field(gt=0, description="Gross monthly income.")]
    monthly_obligations: Annotated[Amount, Field(ge=0, description="Existing monthly debt repayments.")]
    employment: Employment

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("amount", "monthly_income", "monthly_obligations")
    @classmethod
    def _fits_currency(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        currency = info.data.get("currency")
        if currency is not None:  # an invalid currency is reported on its own field
            try:
                to_minor(value, currency)
            except MoneyError as exc:
                raise ValueError(str(exc)) from None
        return value


class ListApplications(Input):
    status: Annotated[list[ApplicationStatus] | None, Field(default=None, max_length=10)] = None
    borrower_id: Annotated[
        str | None,
        Field(default=None, max_length=128, description="Staff only: one borrower's applications."),
    ] = None
    created_from: Annotated[
        AwareDatetime | None, Field(default=None, description="Inclusive, with a UTC offset.")
    ] = None
    created_to: Annotated[
        AwareDatetime | None, Field(default=None, description="Exclusive, with a UTC offset.")
    ] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[
        str | None, Field(default=None, max_length=200, description="next_cursor from the previous page.")
    ] = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("created_from must be before created_to")
        return self


class EmploymentView(Output):
    status: EmploymentStatus
    employer_name: str | None
    months_in_employment: int


class ApplicantView(Output):
    full_name: str
    email: str
    phone: str | None
    country: str


class ApplicationSummary(Output):
    id: UUID
    reference: str = Field(description="Human-readable reference, e.g. CAAS-2026-000123.")
    status: ApplicationStatus
    borrower_id: str
    requested_amount: Money
    term_months: int
    purpose: Purpose
    created_at: datetime
    submitted_at: datetime | None


class ApplicationView(ApplicationSummary):
    applicant: ApplicantView
    purpose_detail: str | None
    monthly_income: Money
    monthly_obligations: Money
    employment: EmploymentView
    created_by: str
    updated_at: datetime
    replayed: bool = Field(
        default=False, description="True when an idempotency key replayed an earlier submission; nothing new."
    )


class ApplicationPage(Output):
    items: list[ApplicationSummary]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")
