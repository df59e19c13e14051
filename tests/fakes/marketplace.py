"""Providers, invitations, bids and bidding rounds in memory, with the semantics of
``database/marketplace/providers.py`` and ``database/marketplace/bids.py``; lenders' webhooks are not
faked (no use case under fast test sends one)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tests.fakes.store import FakeStore, Tables, Transaction, not_implemented
from tools.ledger.domain.ledger import JournalKind
from tools.marketplace.domain.bids import BiddingRound, BiddingState, BidRecord, BidStatus, BidTerms, NewBid
from tools.marketplace.domain.matching import MatchRequest
from tools.marketplace.domain.providers import InvitationRecord, NewInvitation, ProviderRecord, ProviderTerms
from tools.marketplace.ports import (
    AttemptResult,
    BidQuery,
    Candidates,
    CapitalFigures,
    DeliveryQuery,
    DeliveryRecord,
    DeliveryRequeue,
    InvitationQuery,
    ProviderQuery,
    WebhookAnswer,
)
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation

__all__ = [
    "FakeBidReader",
    "FakeBidWriter",
    "FakeDeliveryStore",
    "FakeProviderReader",
    "FakeProviderWriter",
    "FakeWebhookSender",
    "add_capital",
    "expire_active_bids",
]


def joined(tables: Tables, bid: BidRecord) -> BidRecord:
    """The bid with its provider's name and status, as the Pg queries join them."""
    provider = tables.providers[bid.provider_id]
    return replace(bid, provider_name=provider.name, provider_status=provider.status)


def _bids(tables: Tables, application_id: UUID, statuses: Iterable[str]) -> list[BidRecord]:
    """The application's bids in these statuses, oldest first (creation order breaks ties)."""
    wanted = set(statuses)
    mine = [b for b in tables.bids.values() if b.application_id == application_id and b.status in wanted]
    return [joined(tables, b) for b in sorted(mine, key=lambda b: b.created_at)]


def _set_bid(tables: Tables, bid: BidRecord, **changes: object) -> BidRecord:
    tables.bids[bid.id] = replace(tables.bids[bid.id], **changes)  # type: ignore[arg-type]
    return joined(tables, tables.bids[bid.id])


def expire_active_bids(tables: Tables, application_id: UUID) -> list[BidRecord]:
    """Every still-active bid of the application -> expired; the bids so ended."""
    return [
        _set_bid(tables, b, status=BidStatus.EXPIRED.value)
        for b in _bids(tables, application_id, [BidStatus.ACTIVE])
    ]


def expire_invitations(tables: Tables, application_id: UUID, *, tally: bool) -> int:
    """Unanswered invitations -> expired; with ``tally``, each a decision of its lender's."""
    waiting = sorted(
        p for (a, p), status in tables.invitations.items() if a == application_id and status == "invited"
    )
    for provider_id in waiting:
        tables.invitations[application_id, provider_id] = "expired"
        if tally:
            provider = tables.providers[provider_id]
            tables.providers[provider_id] = replace(provider, decided_count=provider.decided_count + 1)
    return len(waiting)


def add_capital(tx: Transaction, provider_id: UUID, amount_minor: int) -> int:
    """Available capital + ``amount_minor`` (negative: a reservation); the CHECK keeps it >= 0."""
    provider = tx.tables.providers[provider_id]
    left = provider.capital_available_minor + amount_minor
    if left < 0:
        raise Conflict("the provider's available capital no longer covers this offer; it cannot be accepted")
    tx.tables.providers[provider_id] = replace(
        provider, capital_available_minor=left, updated_at=tx.now, version=provider.version + 1
    )
    return left


class FakeProviderReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get(self, provider_id: UUID) -> ProviderRecord | None:
        return self._store.tables.providers.get(provider_id)

    async def get_many(self, provider_ids: Sequence[UUID]) -> list[ProviderRecord]:
        providers = self._store.tables.providers
        return [providers[i] for i in provider_ids if i in providers]

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        raise not_implemented("ProviderReader.candidates")

    async def invited(self, application_id: UUID) -> set[UUID]:
        return {p for (a, p) in self._store.tables.invitations if a == application_id}

    async def invitations(self, query: InvitationQuery) -> list[InvitationRecord]:
        raise not_implemented("ProviderReader.invitations")

    async def list(self, query: ProviderQuery) -> list[ProviderRecord]:
        raise not_implemented("ProviderReader.list")

    async def capital(self, provider_id: UUID, currency: str) -> CapitalFigures:
        raise not_implemented("ProviderReader.capital")


class FakeProviderWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def insert(self, terms: ProviderTerms, secret_encrypted: bytes, created_by: str) -> ProviderRecord:
        raise not_implemented("ProviderWriter.insert")

    async def lock(self, provider_id: UUID) -> ProviderRecord | None:
        return self._tx.tables.providers.get(provider_id)

    async def share(self, provider_id: UUID) -> ProviderRecord | None:
        return self._tx.tables.providers.get(provider_id)

    async def update_terms(self, provider_id: UUID, terms: ProviderTerms) -> ProviderRecord:
        raise not_implemented("ProviderWriter.update_terms")

    async def set_status(
        self, provider_id: UUID, status: str, reason: str | None, actor: str | None
    ) -> ProviderRecord:
        raise not_implemented("ProviderWriter.set_status")

    async def set_secret(self, provider_id: UUID, secret_encrypted: bytes) -> ProviderRecord:
        raise not_implemented("ProviderWriter.set_secret")

    async def in_currency(self, provider_id: UUID, currency: str) -> tuple[int, int, int]:
        raise not_implemented("ProviderWriter.in_currency")

    async def add_capital(self, provider_id: UUID, amount_minor: int) -> None:
        add_capital(self._tx, provider_id, amount_minor)

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        raise not_implemented("ProviderWriter.candidates")

    async def invite(
        self, application_id: UUID, assessment_id: UUID, invitations: Sequence[NewInvitation], by: str
    ) -> tuple[list[tuple[UUID, UUID]], set[UUID]]:
        raise not_implemented("ProviderWriter.invite")


class FakeBidReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get(self, bid_id: UUID) -> BidRecord | None:
        bid = self._store.tables.bids.get(bid_id)
        return None if bid is None else joined(self._store.tables, bid)

    async def listing(self, query: BidQuery) -> list[BidRecord]:
        raise not_implemented("BidReader.listing")

    async def active(self, application_id: UUID) -> list[BidRecord]:
        return _bids(self._store.tables, application_id, [BidStatus.ACTIVE])

    async def settled(self, application_id: UUID, accepted_id: UUID) -> list[BidRecord]:
        ended = _bids(self._store.tables, application_id, [BidStatus.REJECTED, BidStatus.EXPIRED])
        return [b for b in ended if b.id != accepted_id]

    async def invited(self, application_id: UUID, provider_id: UUID) -> bool:
        return (application_id, provider_id) in self._store.tables.invitations

    async def reservation_journal(self, bid_id: UUID) -> UUID | None:
        found = self._store.journals_of(JournalKind.RESERVATION, bid_id)
        return found[0].id if found else None


class FakeBidWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def invited_providers(self, application_id: UUID) -> set[UUID]:
        return {p for (a, p) in self._tx.tables.invitations if a == application_id}

    async def round(self, application_id: UUID, opened_at: datetime, window: timedelta) -> BiddingRound:
        new = BiddingRound(application_id, opened_at, opened_at + window, None, None, None)
        return self._tx.tables.rounds.setdefault(application_id, new)

    async def close_round(self, application_id: UUID, by: str, reason: str, now: datetime) -> BiddingRound:
        rnd = self._tx.tables.rounds[application_id]
        closed = replace(
            rnd,
            closed_at=now,
            closed_by=by,
            close_reason=reason,
            closes_at=min(rnd.closes_at, max(now, rnd.opened_at)),
        )
        self._tx.tables.rounds[application_id] = closed
        return closed

    async def end_round(
        self, application_id: UUID, opened: datetime, window: timedelta, by: str, reason: str, now: datetime
    ) -> None:
        if (await self.round(application_id, opened, window)).closed_at is None:
            await self.close_round(application_id, by, reason, now)

    async def invitation_status(self, application_id: UUID, provider_id: UUID) -> str | None:
        raise not_implemented("BidWriter.invitation_status")

    async def place(
        self, new: NewBid, call: Invocation, event_fields: dict[str, Any]
    ) -> tuple[BidRecord, ProviderRecord | None]:
        raise not_implemented("BidWriter.place")

    async def decline_invitation(self, application_id: UUID, provider_id: UUID) -> UUID | None:
        raise not_implemented("BidWriter.decline_invitation")

    async def waiting_providers(self, application_id: UUID) -> list[UUID]:
        invitations = self._tx.tables.invitations
        return sorted(p for (a, p), s in invitations.items() if a == application_id and s == "invited")

    async def expire_invitations(self, application_id: UUID) -> int:
        return expire_invitations(self._tx.tables, application_id, tally=True)

    async def lock(self, bid_id: UUID) -> BidRecord | None:
        bid = self._tx.tables.bids.get(bid_id)
        return None if bid is None else joined(self._tx.tables, bid)

    async def bidding_state(
        self, application_id: UUID, provider_id: UUID, is_open: bool, opened_at: datetime, window: timedelta
    ) -> BiddingState:
        raise not_implemented("BidWriter.bidding_state")

    async def next_version(self, application_id: UUID, provider_id: UUID) -> int:
        raise not_implemented("BidWriter.next_version")

    async def insert(
        self, application_id: UUID, provider_id: UUID, version: int, terms: BidTerms, by: str
    ) -> BidRecord:
        raise not_implemented("BidWriter.insert")

    async def set_status(self, bid_id: UUID, status: str) -> BidRecord:
        raise not_implemented("BidWriter.set_status")

    async def accept(self, bid_id: UUID, now: datetime) -> BidRecord:
        tables = self._tx.tables
        bid = tables.bids[bid_id]
        if _bids(tables, bid.application_id, [BidStatus.ACCEPTED]):  # the partial unique index
            raise Conflict("another bid on this application was accepted first")
        if bid.status != BidStatus.ACTIVE:
            raise Conflict(f"bid {bid_id} is no longer active")
        return _set_bid(tables, bid, status=BidStatus.ACCEPTED.value, accepted_at=now)

    async def settle_others(self, application_id: UUID, accepted_id: UUID, now: datetime) -> list[BidRecord]:
        tables = self._tx.tables
        return [
            _set_bid(
                tables, b, status=(BidStatus.EXPIRED if b.valid_until <= now else BidStatus.REJECTED).value
            )
            for b in _bids(tables, application_id, [BidStatus.ACTIVE])
            if b.id != accepted_id
        ]

    async def accepted_bid(self, application_id: UUID) -> BidRecord | None:
        accepted = _bids(self._tx.tables, application_id, [BidStatus.ACCEPTED])
        return accepted[0] if accepted else None

    async def release_capital(self, provider_id: UUID, amount_minor: int) -> None:
        add_capital(self._tx, provider_id, amount_minor)

    async def reserve_or_waiting(self, application_id: UUID, provider_id: UUID, amount: int) -> list[UUID]:
        waiting = await self.waiting_providers(application_id)
        if not waiting:
            await self.reserve_capital(provider_id, amount)
        return waiting

    async def reserve_capital(self, provider_id: UUID, amount_minor: int) -> int:
        left = add_capital(self._tx, provider_id, -amount_minor)
        if self._tx.tables.providers[provider_id].status != "active":
            raise Conflict("the provider is suspended; its offer cannot be accepted now")
        return left


class FakeDeliveryStore:
    async def by_job(self, job_id: int) -> DeliveryRecord | None:
        raise not_implemented("DeliveryStore.by_job")

    async def get(self, event_id: UUID) -> DeliveryRecord | None:
        raise not_implemented("DeliveryStore.get")

    async def record(self, job_id: int, result: AttemptResult) -> None:
        raise not_implemented("DeliveryStore.record")

    async def list(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        raise not_implemented("DeliveryStore.list")

    def requeueing(self) -> AbstractAsyncContextManager[DeliveryRequeue]:
        raise not_implemented("DeliveryStore.requeueing")


class FakeWebhookSender:
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        raise not_implemented("WebhookSender.post")

    async def aclose(self) -> None:
        return None
