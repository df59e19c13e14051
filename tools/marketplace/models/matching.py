"""Outputs of matching and of the invitation listing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from tools.marketplace.domain.matching import Criterion
from tools.marketplace.domain.providers import InvitationStatus, ProviderType
from tools.platform.models import Money, Output

__all__ = [
    "FitView",
    "InvitationPage",
    "InvitationStatus",
    "InvitationView",
    "MatchCriteria",
    "MatchReport",
    "ProviderExplanation",
    "RankedProvider",
    "UnmetCriterionView",
]


class MatchCriteria(Output):
    """The application's side of every criterion: its request and its latest risk assessment."""

    currency: str
    country: str
    amount: Money
    term_months: int
    grade: str
    score: int
    dti: Decimal = Field(description="Debt-to-income after the loan, from the latest assessment.")
    rate_band: dict[str, Decimal] = Field(description="The assessment's suggested annual rate band.")
    assessment_id: UUID


class FitView(Output):
    score: Decimal = Field(description="0-100: 100 * (0.5 rate + 0.3 capital + 0.2 approval).")
    rate: Decimal = Field(
        description="0-1: where its mid rate falls in the band, 1 = at or below the minimum."
    )
    capital: Decimal = Field(description="0-1: headroom after this loan, 1 = at least 20 times the amount.")
    approval: Decimal = Field(description="0-1: (approved + 5) / (decided + 10).")


class RankedProvider(Output):
    rank: int
    provider_id: UUID
    name: str
    provider_type: ProviderType
    fit: FitView
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    capital_available: Money
    invited: bool = Field(description="An invitation exists (made now or by an earlier run).")
    newly_invited: bool = Field(description="Invited by this call.")


class UnmetCriterionView(Output):
    criterion: Criterion
    required: str = Field(description="The provider's condition.")
    actual: str = Field(description="The application's value.")
    message: str


class ProviderExplanation(Output):
    provider_id: UUID
    found: bool = Field(description="False when no provider has this id.")
    name: str | None
    eligible: bool
    rank: int | None = Field(description="Its place in the ranking when it made the list.")
    fit: FitView | None = Field(description="Its fit score when eligible.")
    invited: bool
    unmet: list[UnmetCriterionView] = Field(description="Every criterion it fails, with both values.")
    note: str


class MatchReport(Output):
    application_id: UUID
    reference: str
    criteria: MatchCriteria
    more_eligible: bool = Field(
        description="More providers are eligible than ranked; raise limit to see them."
    )
    ranking: list[RankedProvider] = Field(description="The best eligible providers, best first.")
    explanations: list[ProviderExplanation]
    invited: bool = Field(description="True when this call sent invitations (invite: true).")
    invitations_created: int = Field(description="New invitations (0 when every ranked one had one already).")


class InvitationView(Output):
    id: UUID
    application_id: UUID
    reference: str
    application_status: str
    provider_id: UUID
    provider_name: str
    status: InvitationStatus
    rank: int
    fit_score: Decimal
    requested_amount: Money
    term_months: int
    purpose: str
    country: str
    grade: str | None
    score: int | None
    dti: Decimal | None
    invited_at: datetime
    bidding_closes_at: datetime | None = Field(
        default=None,
        description="When bidding on the application ends (or ended early); null once it is no longer "
        "open_for_bids and no round was recorded.",
    )


class InvitationPage(Output):
    items: list[InvitationView]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")
