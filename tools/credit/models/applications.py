"""Inputs and outputs of the application tools."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Self
from uuid import UUID

import pycountry
from pydantic import AwareDatetime, Field, ValidationInfo, field_validator, model_validator

from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.domain.maker_checker import Step
from tools.platform.domain.money import MoneyError, to_minor
from tools.platform.models import (
    CurrencyCode,
    DecimalString,
    Email,
    FreeText,
    Identifier,
    Input,
    Line,
    Money,
    Output,
    check_currency,
)
from tools.risk.domain.score_inputs import EmploymentStatus, Purpose

__all__ = [
    "Applicant",
    "ApplicationPage",
    "ApplicationStatus",
    "ApplicationSummary",
    "ApplicationTimeline",
    "ApplicationView",
    "DraftApplication",
    "DraftChanges",
    "Employment",
    "EmploymentStatus",
    "ExpiryReport",
    "ListApplications",
    "MakerChecker",
    "MakerView",
    "Purpose",
    "SubmitApplication",
    "TimelineEntry",
]

MIN_TERM_MONTHS = 1
MAX_TERM_MONTHS = 120


# A national identity number as an applicant gives it and as staff search by it: the same form in both.
NATIONAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 -]{3,22}[A-Za-z0-9]$"

Amount = Annotated[
    DecimalString,
    Field(description='Decimal string in major units, e.g. "250000.00"; at most the currency\'s decimals.'),
]


class BankAccount(Input):
    bank_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{3,11}$", description="Bank code or SWIFT/BIC.")]
    account_number: Annotated[str, Field(pattern=r"^[0-9]{6,20}$", description="Digits only, e.g. NUBAN.")]


class Applicant(Input):
    full_name: Annotated[Line, Field(min_length=2, max_length=200, description="Legal name.")]
    email: Annotated[Email, Field(max_length=254, description="Where the borrower is told of progress.")]
    phone: Annotated[
        str | None,
        Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +2348012345678."),
    ] = None
    country: Annotated[
        str,
        Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country of residence, e.g. NG."),
    ]
    date_of_birth: Annotated[
        date | None, Field(default=None, description="YYYY-MM-DD. Needed to submit; stored encrypted.")
    ] = None
    national_id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=NATIONAL_ID_PATTERN,
            description="National identity number (e.g. NIN). Stored encrypted, shown masked.",
        ),
    ] = None
    bank_account: BankAccount | None = Field(default=None, description="For disbursement; stored encrypted.")

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        today = datetime.now(UTC).date()
        # Not today.replace(year=...): on 29 February that day does not exist 120 years earlier.
        if value is not None and not (date(today.year - 120, 1, 1) <= value < today):
            raise ValueError("must be a real date of birth in the past (YYYY-MM-DD)")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not value.isupper() or pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(
                f"'{value}' is not an ISO 3166-1 alpha-2 code; use two upper-case letters such as NG"
            )
        return value


class Employment(Input):
    status: Annotated[
        EmploymentStatus, Field(description="employed, self_employed, unemployed, retired or student.")
    ]
    employer_name: Annotated[
        Line | None, Field(default=None, max_length=200, description="The employer or business name.")
    ] = None
    months_in_employment: Annotated[
        int, Field(ge=0, le=720, description="Months with the current employer.")
    ] = 0


BorrowerId = Annotated[
    Identifier | None,
    Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Subject id of the borrower this is for. Borrowers leave it out (it is themselves); "
        "agents and operators must give it.",
    ),
]
TermMonths = Annotated[int, Field(ge=MIN_TERM_MONTHS, le=MAX_TERM_MONTHS, description="Loan term in months.")]
PurposeDetail = Annotated[
    FreeText | None, Field(default=None, max_length=500, description="What the money is for, in words.")
]
Requested = Annotated[Amount, Field(gt=0, description="Requested principal.")]
Income = Annotated[Amount, Field(gt=0, description="Gross monthly income.")]
Obligations = Annotated[Amount, Field(ge=0, description="Existing monthly debt repayments.")]


class _AmountsInCurrency(Input):
    """Every amount is in ``currency`` and has at most its decimals."""

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("amount", "monthly_income", "monthly_obligations", check_fields=False)
    @classmethod
    def _fits_currency(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        currency = info.data.get("currency")
        if value is not None and currency is not None:  # a bad currency is reported on its own field
            try:
                to_minor(value, currency)
            except MoneyError as exc:
                raise ValueError(str(exc)) from None
        return value


class SubmitApplication(_AmountsInCurrency):
    """A borrower's complete request for credit. Every amount is in ``currency``."""

    borrower_id: BorrowerId = None
    applicant: Annotated[Applicant, Field(description="Who borrows; personal data, stored encrypted.")]
    currency: CurrencyCode
    amount: Requested
    term_months: TermMonths
    purpose: Annotated[
        Purpose, Field(description="What the loan is for (personal, business, education, ...).")
    ]
    purpose_detail: PurposeDetail = None
    monthly_income: Income
    monthly_obligations: Obligations
    employment: Annotated[
        Employment, Field(description="The applicant's work: status, employer, months in it.")
    ]

    @model_validator(mode="after")
    def _born(self) -> Self:
        if self.applicant.date_of_birth is None:
            raise ValueError("applicant.date_of_birth is needed to submit (age is part of the assessment)")
        return self


class DraftApplication(_AmountsInCurrency):
    """An application still being prepared: the applicant and currency now, the rest when known."""

    borrower_id: BorrowerId = None
    applicant: Annotated[Applicant, Field(description="Who borrows; personal data, stored encrypted.")]
    currency: CurrencyCode
    amount: Requested | None = None
    term_months: TermMonths | None = None
    purpose: Annotated[
        Purpose | None, Field(description="What the loan is for (personal, business, education, ...).")
    ] = None
    purpose_detail: PurposeDetail = None
    monthly_income: Income | None = None
    monthly_obligations: Obligations | None = None
    employment: Annotated[
        Employment | None, Field(description="The applicant's work: status, employer, months in it.")
    ] = None


class DraftChanges(_AmountsInCurrency):
    """Fields to change on a draft; fields left out keep their value, null clears an optional one."""

    applicant: Annotated[
        Applicant | None, Field(description="Who borrows; personal data, stored encrypted.")
    ] = None
    currency: CurrencyCode | None = None
    amount: Requested | None = None
    term_months: TermMonths | None = None
    purpose: Annotated[
        Purpose | None, Field(description="What the loan is for (personal, business, education, ...).")
    ] = None
    purpose_detail: PurposeDetail = None
    monthly_income: Income | None = None
    monthly_obligations: Obligations | None = None
    employment: Annotated[
        Employment | None, Field(description="The applicant's work: status, employer, months in it.")
    ] = None


class ListApplications(Input):
    status: Annotated[list[ApplicationStatus] | None, Field(default=None, max_length=10)] = None
    borrower_id: Annotated[
        Identifier | None,
        Field(default=None, max_length=128, description="Staff only: one borrower's applications."),
    ] = None
    created_from: Annotated[
        AwareDatetime | None, Field(default=None, description="Inclusive, with a UTC offset.")
    ] = None
    created_to: Annotated[
        AwareDatetime | None, Field(default=None, description="Exclusive, with a UTC offset.")
    ] = None
    national_id: Annotated[
        str | None,
        Field(default=None, pattern=NATIONAL_ID_PATTERN, description="Staff only: find by national id."),
    ] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[
        Identifier | None,
        Field(default=None, max_length=200, description="next_cursor from the previous page."),
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


class BankAccountView(Output):
    bank_code: str
    account_number: str = Field(description="Masked (****6789) unless your role handles payouts or KYC.")


class ApplicantView(Output):
    full_name: str
    email: str
    phone: str | None
    country: str
    date_of_birth: str | None = Field(description="Masked unless your role reviews identity.")
    age_years: int | None
    national_id: str | None = Field(description="Masked (****6789) unless your role reviews identity.")
    bank_account: BankAccountView | None


class ApplicationSummary(Output):
    id: UUID
    reference: str = Field(description="Human-readable reference, e.g. CAAS-2026-000123.")
    status: ApplicationStatus
    borrower_id: str
    requested_amount: Money | None = Field(description="Null only on a draft that has no amount yet.")
    term_months: int | None
    purpose: Purpose | None
    created_at: datetime
    submitted_at: datetime | None
    status_changed_at: datetime


class ApplicationView(ApplicationSummary):
    applicant: ApplicantView
    purpose_detail: str | None
    monthly_income: Money | None
    monthly_obligations: Money | None
    employment: EmploymentView | None
    created_by: str
    updated_at: datetime
    version: int = Field(description="Increases with every change.")
    replayed: bool = Field(
        default=False, description="True when an idempotency key replayed an earlier submission; nothing new."
    )


class ApplicationPage(Output):
    items: list[ApplicationSummary]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class TimelineEntry(Output):
    from_status: ApplicationStatus | None
    to_status: ApplicationStatus
    actor_id: str
    actor_role: str
    reason: str
    occurred_at: datetime


class MakerView(Output):
    subject: str = Field(description="Who made the step.")
    step: Step
    at: datetime


class MakerChecker(Output):
    makers: list[MakerView] = Field(
        description="Every step someone made, oldest first; none of them may give the final approval."
    )
    you_made: Step | None = Field(
        description="Your latest step on it (so approve_application refuses you); null when you made none."
    )
    you_may_approve: bool = Field(
        description="True when it awaits approval (offer_accepted), its offer has not lapsed and you made "
        "none of its steps; approval still re-checks KYC and policy."
    )
    offer_valid_until: datetime | None = Field(
        description="When the accepted offer lapses: approve, and make the loan, before it; null without one."
    )


class ApplicationTimeline(Output):
    application_id: UUID
    reference: str
    status: ApplicationStatus
    entries: list[TimelineEntry] = Field(description="Oldest first: who moved it, when, from, to and why.")
    maker_checker: MakerChecker | None = Field(
        default=None,
        description="Operators and admins only (null for others): who made each step, so who may not "
        "approve it, and whether you may.",
    )


class ExpiryReport(Output):
    count: int
    expired: list[str] = Field(description="References of the applications expired by this run.")
