"""The writer of bids, bidding rounds and the provider side of an acceptance (a port of
``tools.marketplace.ports``, where the use cases import it from)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from tools.marketplace.domain.bids import BiddingRound, BiddingState, BidRecord, BidTerms, NewBid
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.ports import Invocation

__all__ = ["BidWriter"]


class BidWriter(Protocol):
    """Bids, bidding rounds and the provider side of an acceptance, inside the unit of work."""

    async def invited_providers(self, application_id: UUID) -> set[UUID]: ...  # as ProviderReader.invited

    async def round(self, application_id: UUID, opened_at: datetime, window: timedelta) -> BiddingRound:
        """The application's round, written now (opened_at + window) if it has none yet."""
        ...

    async def close_round(self, application_id: UUID, by: str, reason: str, now: datetime) -> BiddingRound:
        """End the round at ``now`` (earlier than planned); the caller checked it was open."""
        ...

    async def end_round(
        self, application_id: UUID, opened: datetime, window: timedelta, by: str, reason: str, now: datetime
    ) -> None:
        """``round`` then, unless it is closed already, ``close_round``: in one round trip."""
        ...

    async def invitation_status(self, application_id: UUID, provider_id: UUID) -> str | None:
        """The provider's invitation to this application (locked), or None when it was not invited."""
        ...

    async def place(
        self, new: NewBid, call: Invocation, event_fields: dict[str, Any]
    ) -> tuple[BidRecord, ProviderRecord | None]:
        """In one statement: the bid, its audit row, its bid.placed event (``event_fields``, the payload
        but for ``bid_events.STORED_FIELDS``, which the stored row gives), the invitation invited ->
        bid_submitted (counted as an approving decision of the provider the first time), and the
        provider's row, locked (None if it does not exist)."""
        ...

    async def decline_invitation(self, application_id: UUID, provider_id: UUID) -> UUID | None:
        """Invitation invited -> declined, counted as a declining decision of the provider; the
        invitation's id, or None when it was not 'invited' (nothing changed)."""
        ...

    async def reserve_or_waiting(self, application_id: UUID, provider_id: UUID, amount: int) -> list[UUID]:
        """The providers still 'invited' to the application (never bid); when there are none, also
        ``reserve_capital(provider_id, amount)`` in the same statement (and raises as it does)."""
        ...

    async def expire_invitations(self, application_id: UUID) -> int:
        """Invitations still 'invited' -> 'expired', each counted as a declining decision; how many."""
        ...

    async def lock(self, bid_id: UUID) -> BidRecord | None: ...

    async def bidding_state(
        self, application_id: UUID, provider_id: UUID, is_open: bool, opened_at: datetime, window: timedelta
    ) -> BiddingState:
        """``BiddingState`` in one round trip; the round, when made, opens at ``opened_at``."""
        ...

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

    async def accepted_bid(self, application_id: UUID) -> BidRecord | None: ...

    async def release_capital(self, provider_id: UUID, amount_minor: int) -> None:
        """Give reserved capital back to the provider's available capital, as ``add_capital``."""
        ...

    async def reserve_capital(self, provider_id: UUID, amount_minor: int) -> int:
        """Take ``amount_minor`` off the provider's available capital and return what is left;
        Conflict when it has less (the CHECK >= 0 refuses it in any case) or is not active. One
        statement: it locks the provider's row and decides under that lock."""
        ...
