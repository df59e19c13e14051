"""Credit providers (lenders) as the system of record holds them, and their invitations to bid.

A provider lends in **one currency**: its minimum and maximum amount and its available capital are
integer minor units of that currency, so no comparison ever crosses currencies and no exchange rate is
needed. A lender active in several currencies onboards one provider per currency (in practice one
licensed entity per market). It may serve several countries that use that currency (XOF: SN, CI, ...).
Rates and the debt-to-income ceiling are Decimal fractions (0.24 is 24%).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from tools.loans.domain.commission_plan import CommissionPlan

__all__ = [
    "GRADES",
    "TERM_FIELDS",
    "InvitationRecord",
    "InvitationStatus",
    "NewInvitation",
    "ProviderRecord",
    "ProviderStatus",
    "ProviderTerms",
    "ProviderType",
]

GRADES = ("A", "B", "C", "D", "E")


class ProviderType(StrEnum):
    BANK = "bank"
    FINTECH = "fintech"
    MICROFINANCE = "microfinance"
    P2P_LENDING = "p2p_lending"


class ProviderStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class InvitationStatus(StrEnum):
    INVITED = "invited"
    BID_SUBMITTED = "bid_submitted"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ProviderTerms:
    """What an operator sets on a provider: who it is, what it lends against, how it is paid and called."""

    name: str
    provider_type: str
    currency: str
    countries: list[str]
    accepted_grades: list[str]
    min_score: int
    max_dti: Decimal
    min_term_months: int
    max_term_months: int
    min_amount_minor: int
    max_amount_minor: int
    capital_available_minor: int
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    commission_plan: CommissionPlan
    webhook_url: str


TERM_FIELDS = tuple(f.name for f in fields(ProviderTerms))


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    id: UUID
    name: str
    provider_type: str
    status: str
    suspended_reason: str | None
    suspended_at: datetime | None
    suspended_by: str | None
    currency: str
    countries: list[str]
    accepted_grades: list[str]
    min_score: int
    max_dti: Decimal
    min_term_months: int
    max_term_months: int
    min_amount_minor: int
    max_amount_minor: int
    capital_available_minor: int
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    commission_plan: CommissionPlan
    webhook_url: str
    webhook_secret_encrypted: bytes
    webhook_secret_rotated_at: datetime
    decided_count: int
    approved_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int
    # The secret the latest rotation replaced, still signing while the overlap lasts.
    webhook_secret_previous_encrypted: bytes | None = None

    def terms(self) -> ProviderTerms:
        return ProviderTerms(**{name: getattr(self, name) for name in TERM_FIELDS})


@dataclass(frozen=True, slots=True)
class NewInvitation:
    provider_id: UUID
    rank: int
    fit_score: Decimal


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    """An invitation with what the provider needs to decide whether to bid (no personal data)."""

    id: UUID
    application_id: UUID
    reference: str
    application_status: str
    provider_id: UUID
    provider_name: str
    status: str
    rank: int
    fit_score: Decimal
    currency: str
    requested_amount_minor: int
    term_months: int
    purpose: str
    country: str
    grade: str | None
    score: int | None
    dti: Decimal | None
    invited_by: str
    invited_at: datetime
    # The bidding deadline: the round's, once bidding was first touched; else it opened when the
    # application last changed status (open_for_bids) and closes a bidding window later.
    round_closes_at: datetime | None = None
    status_changed_at: datetime | None = None

    def bidding_closes_at(self, window: timedelta) -> datetime | None:
        """When bidding ends: the round's deadline, or (no round yet) a window after it opened."""
        if self.round_closes_at is not None:
            return self.round_closes_at
        if self.application_status == "open_for_bids" and self.status_changed_at is not None:
            return self.status_changed_at + window
        return None
