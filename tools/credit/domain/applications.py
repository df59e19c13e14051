"""The application as the domain sees it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

__all__ = ["ApplicationRecord", "NewApplication", "Transition", "age_on"]


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
    # Optional only while the application is a draft; the database refuses gaps past draft.
    requested_amount_minor: int | None
    term_months: int | None
    purpose: str | None
    purpose_detail: str | None
    monthly_income_minor: int | None
    monthly_obligations_minor: int | None
    employment_status: str | None
    employer_name: str | None
    months_in_employment: int
    # Personal data, encrypted by the vault before it reaches this record (see tools/platform/domain/pii.py).
    date_of_birth_encrypted: bytes | None
    national_id_encrypted: bytes | None
    national_id_index: bytes | None
    bank_account_encrypted: bytes | None


@dataclass(frozen=True, slots=True)
class ApplicationRecord(NewApplication):
    id: UUID
    reference: str
    created_at: datetime
    submitted_at: datetime | None
    updated_at: datetime
    status_changed_at: datetime
    updated_by: str | None
    version: int
    # The document uploads asked for under it, ever (bounded by documents.MAX_DOCUMENT_UPLOADS).
    document_uploads: int = 0
    # Who changed its fields as a draft (update_application), each once: makers (maker_checker).
    edited_by: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of an application's timeline."""

    from_status: str | None
    to_status: str
    actor_id: str
    actor_role: str
    reason: str
    occurred_at: datetime


def age_on(born: date, today: date) -> int:
    """Completed years of age on ``today``; someone born on 29 February ages on 1 March."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
