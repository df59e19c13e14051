"""What the bidding and offer use cases need from storage, beside ``tools.credit.ports``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from tools.credit.ports import UnitOfWork
from tools.marketplace.domain.bids import BiddingRound, BidRecord, BidTerms
from tools.marketplace.domain.providers import ProviderRecord

__all__ = [
    "BidQuery",
    "BidReader",
    "BidWriter",
    "BiddingUnitOfWork",
    "BiddingUnitOfWorkFactory",
]


@dataclass(frozen=True, slots=True)
class BidQuery:
    application_id: UUID
    provider_id: UUID | None
    statuses: Sequence[str] | None  # as of ``now``: an active bid past its validity is expired
    now: datetime
    after: tuple[datetime, UUID] | None
    limit: int


class BidReader(Protocol):
    async def get(self, bid_id: UUID) -> BidRecord | None: ...

    async def listing(self, query: BidQuery) -> list[BidRecord]:
        """Every version, newest first, after the (created_at, id) keyset position."""
        ...

    async def active(self, application_id: UUID) -> list[BidRecord]:
        """The application's bids whose stored status is active (valid or not), oldest first."""
        ...

    async def settled(self, application_id: UUID, accepted_id: UUID) -> list[BidRecord]:
        """The latest version of every other provider's bid, once an offer was accepted."""
        ...

    async def invited(self, application_id: UUID, provider_id: UUID) -> bool: ...

    async def reservation_journal(self, bid_id: UUID) -> UUID | None:
        """The capital reservation journal posted when ``bid_id`` was accepted."""
        ...


class BidWriter(Protocol):
    """Bids, bidding rounds and the provider side of an acceptance, inside the unit of work."""

    async def round(self, application_id: UUID, opened_at: datetime, window: timedelta) -> BiddingRound:
        """The application's round, written now (opened_at + window) if it has none yet."""
        ...

    async def close_round(self, application_id: UUID, by: str, reason: str, now: datetime) -> BiddingRound:
        """End the round at ``now`` (earlier than planned); the caller checked it was open."""
        ...

    async def invitation_status(self, application_id: UUID, provider_id: UUID) -> str | None:
        """The provider's invitation to this application (locked), or None when it was not invited."""
        ...

    async def mark_bid_submitted(self, application_id: UUID, provider_id: UUID) -> bool:
        """Invitation invited -> bid_submitted, counted as an approving decision of the provider the
        first time; False when it was already marked."""
        ...

    async def decline_invitation(self, application_id: UUID, provider_id: UUID) -> UUID | None:
        """Invitation invited -> declined, counted as a declining decision of the provider; the
        invitation's id, or None when it was not 'invited' (nothing changed)."""
        ...

    async def waiting_providers(self, application_id: UUID) -> list[UUID]:
        """The providers whose invitation to this application is still 'invited' (not yet bid)."""
        ...

    async def expire_invitations(self, application_id: UUID) -> int:
        """Invitations still 'invited' -> 'expired', each counted as a declining decision; how many."""
        ...

    async def lock(self, bid_id: UUID) -> BidRecord | None: ...

    async def active_for(self, application_id: UUID, provider_id: UUID) -> BidRecord | None: ...

    async def next_version(self, application_id: UUID, provider_id: UUID) -> int: ...

    async def insert(
        self, application_id: UUID, provider_id: UUID, version: int, terms: BidTerms, by: str
    ) -> BidRecord: ...

    async def set_status(self, bid_id: UUID, status: str) -> BidRecord:
        """Move an active bid to ``status``; Conflict when it is no longer active."""
        ...

    async def accept(self, bid_id: UUID, now: datetime) -> BidRecord:
        """Mark the bid accepted; Conflict when another bid of the application is accepted already."""
        ...

    async def settle_others(self, application_id: UUID, accepted_id: UUID, now: datetime) -> list[BidRecord]:
        """Every other active bid -> rejected, or expired when its validity had passed by ``now``."""
        ...

    async def lock_providers(self, provider_ids: Sequence[UUID]) -> list[ProviderRecord]:
        """Lock the providers' rows in id order (so concurrent acceptances cannot deadlock)."""
        ...

    async def accepted_bid(self, application_id: UUID) -> BidRecord | None: ...

    async def release_capital(self, provider_id: UUID, amount_minor: int) -> int:
        """Give reserved capital back to the provider's available capital; returns the new amount."""
        ...

    async def reserve_capital(self, provider_id: UUID, amount_minor: int) -> int:
        """Take ``amount_minor`` off the provider's available capital and return what is left;
        Conflict when it has less (the CHECK >= 0 refuses it in any case)."""
        ...


class BiddingUnitOfWork(UnitOfWork, Protocol):
    bids: BidWriter


class BiddingUnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[BiddingUnitOfWork]: ...
