"""What the payment use cases need: payments and the webhook inbox in storage, the vendor routing,
and the Onasis gateway (payments, and the SMS and email routes the notifications use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

from tools.credit.ports import ApplicationReader
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.marketplace.ports import BidWriter
from tools.payments.domain.payments import Booking, PaymentRecord
from tools.platform.locks import KeyedLocks
from tools.platform.ports import Clock, Invocation, OutboxEvent, PersonalDataVault, UnitOfWorkFactory

__all__ = [
    "CommunicationGateway",
    "Flagged",
    "GatewayCharge",
    "GatewayError",
    "GatewayNotAccepted",
    "GatewayNotFound",
    "GatewayRejected",
    "GatewayTimeout",
    "GatewayTransfer",
    "GatewayUnavailable",
    "GatewayVerification",
    "InboxEntry",
    "InboxOutcome",
    "InboxUnitOfWork",
    "InboxUnitOfWorkFactory",
    "NewPayment",
    "PaymentDeps",
    "PaymentGateway",
    "PaymentQuery",
    "PaymentReader",
    "PaymentUnitOfWork",
    "PaymentWriter",
    "TransferStatus",
    "VendorRouting",
    "VerificationStatus",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPayment:
    kind: str
    loan_id: UUID
    amount_minor: int
    currency: str
    simulated: bool
    simulate_outcome: str | None
    requested_by: str
    prepay: str | None = None  # a collection's prepayment choice (tools/loans/domain/prepay_choices.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentQuery:
    """One page of payments, newest first; ``borrower_id``, ``created_by`` (the agent who filed the
    application) and ``provider_id`` narrow it to what the caller may see; None means no limit."""

    loan_id: UUID | None
    kind: str | None
    statuses: Sequence[str] | None
    provider_id: UUID | None
    borrower_id: str | None
    created_by: str | None
    after: tuple[datetime, UUID] | None
    limit: int


@dataclass(frozen=True, slots=True)
class InboxEntry:
    source: str
    event_id: str
    event_type: str
    outcome: str
    detail: str | None
    payment_id: UUID | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Flagged:
    """How many things need a person's look, and the ids of the first few (never personal data)."""

    count: int
    first: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    """How an inbound event ended, for its inbox row (the row of ``source`` and ``event_id``)."""

    source: str
    event_id: str
    outcome: str
    detail: str | None


class PaymentReader(Protocol):
    async def get(self, payment_id: UUID) -> PaymentRecord | None: ...

    async def listing(self, query: PaymentQuery) -> list[PaymentRecord]: ...

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None: ...

    async def disputed_successes(self) -> int:
        """Payments not succeeded whose success a vendor reported and the platform rejected."""
        ...

    async def events_with_other_bodies(self, since: timedelta) -> Flagged:
        """Inbound events received again with another body within ``since`` (``source:event id``)."""
        ...

    async def undone_after_success(self, since: timedelta) -> Flagged:
        """Succeeded payments a vendor reported failed or reversed within ``since`` (payment ids)."""
        ...

    async def unapplied_receipts(self) -> int:
        """How many payments were received (``succeeded``) but their effect on the loan was refused,
        so the money is held, not applied, until a person refunds it."""
        ...

    async def booking(self, payment_id: UUID) -> Booking | None:
        """Where the booking of a succeeded payment no loan took stands (None: it has none)."""
        ...

    async def stalled_charges(self, older_than: timedelta, limit: int) -> list[PaymentRecord]:
        """Collections still ``requested`` (their charge never recorded as initialized) created more than
        ``older_than`` ago by the database's clock, oldest first."""
        ...


class PaymentWriter(Protocol):
    """Payments and the webhook inbox inside the unit of work."""

    async def insert(self, new: NewPayment) -> PaymentRecord:
        """Raises Conflict when the loan already has a disbursement requested, sent or succeeded."""
        ...

    async def get(self, payment_id: UUID) -> PaymentRecord | None:
        """Read without holding the row (to learn which loan to lock first)."""
        ...

    async def lock(self, payment_id: UUID) -> PaymentRecord | None: ...

    async def active_disbursement(self, loan_id: UUID) -> PaymentRecord | None:
        """The loan's disbursement in flight or succeeded (applied, or not and its money not yet
        recovered), if any: while there is one the loan is neither paid out again nor cancelled."""
        ...

    async def other_payout(self, loan_id: UUID, besides: UUID) -> PaymentRecord | None:
        """A disbursement of the loan but ``besides`` in flight or applied (the rows of the one-payout
        index, migration 0035), if any."""
        ...

    async def booked_payout(self, loan_id: UUID) -> tuple[PaymentRecord, UUID] | None:
        """A payout of the loan the vendor paid that no loan took, locked, with its payout_recovery
        journal not yet reversed (the money not yet recovered), if any."""
        ...

    async def mark_applied(self, payment_id: UUID) -> PaymentRecord:
        """A succeeded payment's refusal cleared (``last_error``): it is applied now."""
        ...

    async def start_attempt(self, payment_id: UUID, vendor: str) -> PaymentRecord:
        """Count an attempt at ``vendor`` before the gateway is called (committed first, so a crash
        after the call is known to need a verification)."""
        ...

    async def release_attempt(self, payment_id: UUID, error: str) -> None:
        """The latest attempt was never accepted by its vendor: no vendor holds the payment any more
        (``vendor`` back to NULL), so routing may send it to any vendor of its currency."""
        ...

    async def note_error(self, payment_id: UUID, error: str) -> None: ...

    async def success_disputed(self, payment_id: UUID) -> bool:
        """Whether a vendor reported the payment succeeded and the report was rejected (another amount
        or currency, or none): money may have moved, so a failure reported later is no answer."""
        ...

    async def mark_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        transfer_code: str | None = None,
    ) -> PaymentRecord: ...

    async def mark_charge_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        authorization_url: str,
        access_code: str,
        call: Invocation,
        event: OutboxEvent,
    ) -> PaymentRecord | None:
        """A collection's charge opened: ``sent`` with the payer's URL, with ``call``'s audit row and
        ``event``, in one statement; only while it is still ``requested`` (None otherwise, writing
        nothing: it was failed meanwhile, and the URL must not be handed out)."""
        ...

    async def settle(
        self,
        payment_id: UUID,
        status: str,
        error: str | None,
        call: Invocation,
        event: OutboxEvent,
        inbox: InboxOutcome | None = None,
    ) -> PaymentRecord:
        """Move to a final status (the use case checked it is a forward move) and write ``call``'s
        audit row and ``event`` (the moved payment's), and conclude the inbound event's inbox row
        (``inbox``, naming this payment) when there is one, in one statement."""
        ...

    async def receive(self, source: str, event_id: str, event_type: str, payload_sha256: str) -> bool:
        """Insert the inbox row; False when (source, event_id) was received before (or is being
        received by a concurrent transaction, which this waits for)."""
        ...

    async def conclude(
        self, source: str, event_id: str, outcome: str, detail: str | None, payment_id: UUID | None
    ) -> None: ...

    async def other_body(self, source: str, event_id: str, payload_sha256: str) -> bool:
        """Whether a copy of a received event has another body than the first: when so it is counted on
        the event's inbox row (migration 0044)."""
        ...

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: an effect that fails rolls back alone and the inbox row stays."""
        ...


class PaymentUnitOfWork(LoanUnitOfWork, Protocol):
    payments: PaymentWriter


class VendorRouting(Protocol):
    """``tools.payments.domain.routing.VendorRouter``: the currency's vendors in order, breakers applied."""

    def vendors(self, currency: str) -> tuple[str, ...]:
        """Every vendor configured for the currency; raises ``tools.payments.domain.routing.NoRoute``."""
        ...

    def candidates(self, currency: str) -> list[str]: ...

    def record_success(self, vendor: str) -> None: ...

    def record_failure(self, vendor: str) -> None: ...

    def states(self) -> dict[str, str]:
        """Each vendor's breaker state (closed, open, half_open)."""
        ...


TransferStatus = Literal["pending", "success", "failed"]


VerificationStatus = Literal["success", "failed", "pending"]


class GatewayError(Exception):
    """A gateway call that did not give a usable answer. Texts carry no personal data."""

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id


class GatewayTimeout(GatewayError):
    """No answer in time: the outcome is unknown, so verify the reference before any re-send."""


class GatewayUnavailable(GatewayError):
    """The vendor is unhealthy and may have received the request (a 500/502/504, a connection broken
    after sending, an answer we cannot read): for a transfer the outcome is unknown."""


class GatewayNotAccepted(GatewayUnavailable):
    """The vendor is unhealthy and certainly created nothing: the connection was never made, or it
    answered 503/429/408 (busy, refusing work). A transfer may go to the next vendor of its route."""


class GatewayRejected(GatewayError):
    """A 4xx answer: final for this request; ``code`` is the gateway's own error code."""


class GatewayNotFound(GatewayError):
    """The gateway has no record of the reference (verify): nothing was created under it."""


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    reference: str
    authorization_url: str
    access_code: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayTransfer:
    reference: str
    status: TransferStatus
    transfer_code: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayVerification:
    reference: str
    status: VerificationStatus
    amount_minor: int
    currency: str


class PaymentGateway(Protocol):
    simulated: bool  # True when the gateway is the in-process sandbox: no real money moves

    async def initialize(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        email: str,
        metadata: Mapping[str, Any],
    ) -> GatewayCharge: ...

    async def transfer(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        recipient: Mapping[str, str],
        metadata: Mapping[str, Any],
    ) -> GatewayTransfer: ...

    async def verify(self, *, vendor: str, reference: str) -> GatewayVerification:
        """Raises GatewayNotFound when the gateway never saw ``reference``."""
        ...


class CommunicationGateway(Protocol):
    async def send_sms(self, *, to: str, message: str, reference: str) -> str:
        """Returns the gateway's message id."""
        ...

    async def send_email(self, *, to: str, subject: str, text: str, reference: str) -> str:
        """Returns the gateway's message id."""
        ...


class InboxUnitOfWork(PaymentUnitOfWork, Protocol):
    """The payment writers in the journey's transaction: a webhook's effect may move a loan, place a bid
    or decline an invitation."""

    bids: BidWriter


InboxUnitOfWorkFactory = UnitOfWorkFactory[InboxUnitOfWork]


@dataclass(frozen=True, slots=True)
class PaymentDeps:
    """What the payment use cases get; built in ``mcp_servers.wiring``."""

    uow: InboxUnitOfWorkFactory
    reader: PaymentReader
    loans: LoanDeps
    applications: ApplicationReader
    vault: PersonalDataVault
    gateway: PaymentGateway
    router: VendorRouting
    clock: Clock
    inflight: KeyedLocks = field(default_factory=KeyedLocks)
