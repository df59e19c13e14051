"""The application as the domain sees it, and who may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

__all__ = ["ApplicationRecord", "NewApplication"]


@dataclass(frozen=True, slots=True)
class NewApplication:
    borrower_id: str
    created_by: str
    created_by_role: str
    status: str
    applicant_name: str
    applicant_email: str
    applicant_phone: str | None
    applicant_country: str
    currency: str
    requested_amount_minor: int
    term_months: int
    purpose: str
    purpose_detail: str | None
    monthly_income_minor: int
    monthly_obligations_minor: int
    employment_status: str
    employer_name: str | None
    months_in_employment: int


@dataclass(frozen=True, slots=True)
class ApplicationRecord(NewApplication):
    id: UUID
    reference: str
    created_at: datetime
    submitted_at: datetime | None
    updated_at: datetime
    version: int
