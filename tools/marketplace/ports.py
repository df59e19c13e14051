"""The ports of lenders: listing and reading providers, the matching candidates, invitations, and the
writes a unit of work makes to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from tools.marketplace.domain.matching import MatchRequest
from tools.marketplace.domain.providers import InvitationRecord, NewInvitation, ProviderRecord, ProviderTerms

__all__ = [
    "Candidates",
    "InvitationQuery",
    "ProviderQuery",
    "ProviderReader",
    "ProviderWriter",
    "RankedCandidate",
]


@dataclass(frozen=True, slots=True)
class ProviderQuery:
    statuses: Sequence[str] | None
    provider_type: str | None
    currency: str | None
    country: str | None
    after: tuple[datetime, UUID] | None
    limit: int


@dataclass(frozen=True, slots=True)
class InvitationQuery:
    provider_id: UUID | None
    application_id: UUID | None
    statuses: Sequence[str] | None
    after: tuple[datetime, UUID] | None
    limit: int


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    """An eligible provider with its fit score, as the matching query ranked it."""

    provider_id: UUID
    name: str
    provider_type: str
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    capital_available_minor: int
    approved_count: int
    decided_count: int
    fit_score: float


@dataclass(frozen=True, slots=True)
class Candidates:
    ranked: list[RankedCandidate]  # the best ``limit`` eligible providers, best first
    more: bool  # more providers are eligible than were ranked


class ProviderReader(Protocol):
    async def get(self, provider_id: UUID) -> ProviderRecord | None: ...

    async def get_many(self, provider_ids: Sequence[UUID]) -> list[ProviderRecord]: ...

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        """The eligible active providers, ranked by fit score: one indexed query."""
        ...

    async def invited(self, application_id: UUID) -> set[UUID]:
        """The providers already invited to bid on the application."""
        ...

    async def invitations(self, query: InvitationQuery) -> list[InvitationRecord]: ...

    async def list(self, query: ProviderQuery) -> list[ProviderRecord]: ...


class ProviderWriter(Protocol):
    async def insert(self, terms: ProviderTerms, secret_encrypted: bytes, created_by: str) -> ProviderRecord:
        """Raises Conflict when another provider has the same name (case-insensitive)."""
        ...

    async def lock(self, provider_id: UUID) -> ProviderRecord | None: ...

    async def update_terms(self, provider_id: UUID, terms: ProviderTerms) -> ProviderRecord:
        """Raises Conflict when the new name is another provider's."""
        ...

    async def set_status(
        self, provider_id: UUID, status: str, reason: str | None, actor: str | None
    ) -> ProviderRecord: ...

    async def set_secret(self, provider_id: UUID, secret_encrypted: bytes) -> ProviderRecord: ...

    async def add_capital(self, provider_id: UUID, amount_minor: int) -> int:
        """Money back in the provider's hands (a withheld fee, a settlement): free to lend again;
        returns the new available capital."""
        ...

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        """As ``ProviderReader.candidates``, inside the transaction."""
        ...

    async def invite(
        self, application_id: UUID, assessment_id: UUID, invitations: Sequence[NewInvitation], by: str
    ) -> list[tuple[UUID, UUID]]:
        """Insert the invitations not made before; returns (invitation id, provider id) of the new ones."""
        ...
