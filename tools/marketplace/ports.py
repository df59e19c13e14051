"""What the marketplace use cases need: providers and the matching candidates, invitations, bids and
bidding rounds (readers, and the writers of a unit of work), and the HTTP sender and delivery store of
the signed webhooks sent to lenders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from tools.credit.ports import ApplicationReader, CreditUnitOfWork
from tools.marketplace.bid_writer import BidWriter
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.domain.matching import MatchRequest
from tools.marketplace.domain.provider_webhooks import DeliveryStatus
from tools.marketplace.domain.providers import InvitationRecord, NewInvitation, ProviderRecord, ProviderTerms
from tools.platform.ports import AuditRecord, Clock, OutboxEvent, PersonalDataVault, UnitOfWorkFactory
from tools.risk.ports import RiskReader

__all__ = [
    "AttemptResult",
    "BidQuery",
    "BidReader",
    "BidWriter",
    "BiddingUnitOfWork",
    "BiddingUnitOfWorkFactory",
    "Candidates",
    "CapitalFigures",
    "DeliveryQuery",
    "DeliveryRecord",
    "DeliveryRequeue",
    "DeliveryStore",
    "InvitationQuery",
    "MarketplaceDeps",
    "ProviderQuery",
    "ProviderReader",
    "ProviderWriter",
    "RankedCandidate",
    "WebhookAnswer",
    "WebhookRefused",
    "WebhookSendError",
    "WebhookSender",
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


@dataclass(frozen=True, slots=True)
class CapitalFigures:
    """A provider's capital in its currency, from the ledger, in minor units."""

    available_minor: int  # provider capital_available: free to lend
    reserved_minor: int  # provider capital_reserved: held for accepted offers not yet disbursed
    lent_minor: int  # principal_receivable of its loans: principal borrowers still owe it
    loans_outstanding: int  # its loans that still owe principal


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

    async def capital(self, provider_id: UUID, currency: str) -> CapitalFigures:
        """The provider's capital accounts and its loans' principal receivable, as the ledger has them."""
        ...


class ProviderWriter(Protocol):
    async def insert(self, terms: ProviderTerms, secret_encrypted: bytes, created_by: str) -> ProviderRecord:
        """Raises Conflict when another provider has the same name (case-insensitive)."""

    async def lock(self, provider_id: UUID) -> ProviderRecord | None: ...

    async def share(self, provider_id: UUID) -> ProviderRecord | None:
        """The provider's row held FOR SHARE to COMMIT: a change of the provider (a suspension, its
        capital) waits for it, the provider's other bids do not."""
        ...

    async def update_terms(self, provider_id: UUID, terms: ProviderTerms) -> ProviderRecord:
        """Raises Conflict when the new name is another provider's."""

    async def set_status(
        self, provider_id: UUID, status: str, reason: str | None, actor: str | None
    ) -> ProviderRecord: ...

    async def set_secret(self, provider_id: UUID, secret_encrypted: bytes) -> ProviderRecord:
        """The new secret, rotated now; the replaced one is kept as the previous secret (its overlap
        runs from ``webhook_secret_rotated_at``), and any older one is dropped."""
        ...

    async def in_currency(self, provider_id: UUID, currency: str) -> tuple[int, int, int]:
        """What the provider still has going in ``currency``: its live bids, the capital reserved for
        its accepted offers (minor units, from the ledger) and its loans not yet closed or written off."""
        ...

    async def add_capital(self, provider_id: UUID, amount_minor: int) -> None:
        """Money back in the provider's hands (a withheld fee, a settlement): free to lend again once
        the transaction commits. In a unit of work it is written with COMMIT, the lender's row locked
        only then, so nothing in the transaction reads it back."""
        ...

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        """As ``ProviderReader.candidates``, inside the transaction."""
        ...

    async def invite(
        self, application_id: UUID, assessment_id: UUID, invitations: Sequence[NewInvitation], by: str
    ) -> tuple[list[tuple[UUID, UUID]], set[UUID]]:
        """Insert the invitations not made before; returns (invitation id, provider id) of the new ones
        and the providers the application's invitations name once this commits, in one statement."""
        ...


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


# The marketplace writes in the transaction of the application's journey (bids included).
BiddingUnitOfWork = CreditUnitOfWork
BiddingUnitOfWorkFactory = UnitOfWorkFactory[CreditUnitOfWork]


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status_code: int
    retry_after: str | None = None  # the raw Retry-After header, if the receiver sent one


class WebhookSendError(Exception):
    """No HTTP answer: timeout, connection refused, DNS, TLS. The text names the kind of failure only
    (never a response body), so it is safe to store and show to the provider."""


class WebhookRefused(WebhookSendError):
    """The receiver's URL or address is one the platform must not send to (not public, plain http);
    retrying cannot help until the provider's webhook_url is changed."""


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        """POST ``body`` to ``url`` with a timeout; raises WebhookSendError when no answer came, and
        WebhookRefused (sending nothing) when the URL or its address is not allowed."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """A provider_webhooks job and what its attempts got; not attempted yet: pending, attempts 0."""

    job_id: int
    event_id: UUID
    event_type: str
    provider_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    url: str | None
    requeue_count: int
    requeued_at: datetime | None
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one run of the handler. ``attempted``: an HTTP request was made (a skip is not
    an attempt)."""

    status: DeliveryStatus
    attempted: bool
    status_code: int | None = None
    error: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryQuery:
    provider_id: str | None
    statuses: Sequence[str] | None
    event_type: str | None  # exact, or a prefix when it ends with "."
    after: tuple[datetime, UUID] | None
    limit: int


class DeliveryRequeue(Protocol):
    """One transaction: lock a delivery, queue it again, write the audit row and event."""

    async def lock(self, event_id: UUID) -> DeliveryRecord | None:
        """The delivery with its job locked; raises Conflict while a worker is attempting it."""
        ...

    async def requeue(self, job_id: int, by: str) -> DeliveryRecord:
        """Make the job due now with a fresh attempt budget; the delivery becomes pending."""
        ...

    async def record(self, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None: ...


class DeliveryStore(Protocol):
    async def by_job(self, job_id: int) -> DeliveryRecord | None: ...

    async def get(self, event_id: UUID) -> DeliveryRecord | None: ...

    async def record(self, job_id: int, result: AttemptResult) -> None:
        """Store one handler run's outcome (the first one creates the row)."""
        ...

    async def list(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        """Newest first by (queued_at, event_id), after the cursor."""
        ...

    def requeueing(self) -> AbstractAsyncContextManager[DeliveryRequeue]: ...


@dataclass(frozen=True, slots=True)
class MarketplaceDeps:
    """What the marketplace use cases get (providers, matching, invitations, bids, offers, lenders'
    events in and webhooks out); built in ``mcp_servers.wiring``."""

    uow: UnitOfWorkFactory[CreditUnitOfWork]
    applications: ApplicationReader
    risk: RiskReader
    providers: ProviderReader
    bids: BidReader
    deliveries: DeliveryStore
    sender: WebhookSender
    vault: PersonalDataVault
    clock: Clock
    # How long an application stays open for bids.
    bidding_window: timedelta = timedelta(hours=72)
    # Webhooks to lenders: attempts before a delivery fails, and the backoff's first wait and cap.
    webhook_max_attempts: int = 10
    webhook_retry_base: timedelta = timedelta(seconds=30)
    webhook_retry_cap: timedelta = timedelta(minutes=30)
    # How long the secret a rotation replaced still signs and verifies beside the new one.
    webhook_secret_overlap: timedelta = timedelta(hours=24)
    # Whether a webhook_url may name loopback or use plain http (CAAS_WEBHOOK_ALLOW_LOCAL).
    webhook_allow_local: bool = False
    # The currencies the payment routes can pay out (None: any): a lender lends only in one of them.
    payable_currencies: frozenset[str] | None = None
