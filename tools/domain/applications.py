"""The application as the domain sees it, and who may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tools.principal import Principal, Role

__all__ = ["ApplicationRecord", "NewApplication", "can_view", "visibility_filter"]


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


def can_view(principal: Principal, app: ApplicationRecord) -> bool:
    """Borrowers see their own, agents those they filed, staff everything; providers nothing yet."""
    if principal.is_staff:
        return True
    if principal.role is Role.BORROWER:
        return app.borrower_id == principal.subject
    if principal.role is Role.AGENT:
        return app.created_by == principal.subject
    return False


def visibility_filter(principal: Principal) -> tuple[str | None, str | None]:
    """(borrower_id, created_by) constraints a listing must apply for this principal."""
    if principal.role is Role.BORROWER:
        return principal.subject, None
    if principal.role is Role.AGENT:
        return None, principal.subject
    return None, None
