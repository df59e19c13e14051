"""What the notification and support-chat use cases need: the Supabase tables (inbox, deliveries,
preferences, conversations) and, from the system of record, the installments coming due.

The gateway that sends SMS and email is ``tools.payments.ports.CommunicationGateway``; the Supabase
mirror of application statuses is ``StatusMirror``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol
from uuid import UUID

from tools.credit.ports import ApplicationReader, CreditUnitOfWork
from tools.loans.ports import LoanReader
from tools.notifications.mirror_ports import (
    Activity,
    ApplicationSnapshot,
    Applied,
    DocumentChange,
    DocumentUpdate,
    MirrorEvent,
    MirrorSources,
    MirrorUnavailable,
    StatusMirror,
    StatusUpdate,
    SyncResult,
)
from tools.payments.ports import CommunicationGateway
from tools.platform.ports import Clock, UnitOfWorkFactory

__all__ = [
    "Activity",
    "ApplicationSnapshot",
    "Applied",
    "ConversationRecord",
    "ConversationSummary",
    "DeliveryStatus",
    "DocumentChange",
    "DocumentUpdate",
    "DueInstallment",
    "DueInstallmentReader",
    "MessageRecord",
    "MirrorEvent",
    "MirrorSources",
    "MirrorUnavailable",
    "NewNotification",
    "NotificationDeps",
    "NotificationRecord",
    "NotificationStore",
    "PreferenceRow",
    "StatusMirror",
    "StatusUpdate",
    "SupportStore",
    "SyncResult",
]

DeliveryStatus = Literal["pending", "sent", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewNotification:
    """One channel's copy of an event's message for one user; (event_id, user_id, channel) is unique."""

    event_id: UUID
    user_id: str
    application_id: UUID | None
    kind: str
    channel: str
    title: str
    body: str
    status: DeliveryStatus
    # The row's id when the caller chooses it (to tell whether this add stored it); else the store's.
    id: UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationRecord:
    id: UUID
    event_id: UUID | None
    user_id: str
    application_id: UUID | None
    kind: str
    channel: str
    title: str
    body: str
    delivery_status: DeliveryStatus
    attempts: int
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class PreferenceRow:
    """``kind`` '*' applies to every kind without a row of its own."""

    kind: str
    channel: str
    enabled: bool
    updated_at: datetime | None = None


class NotificationStore(Protocol):
    async def add(self, new: NewNotification) -> NotificationRecord:
        """Store the row unless the event already has one for this user and channel; either way
        return the stored row (the first one wins)."""
        ...

    async def delivered(
        self, notification_id: UUID, status: DeliveryStatus, message_id: str | None, error: str | None
    ) -> None:
        """Record one send attempt of an sms/email row and its outcome."""
        ...

    async def inbox(
        self, user_id: str, unread_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[NotificationRecord]:
        """In-app rows of ``user_id``, newest first, strictly after the cursor."""
        ...

    async def unread_count(self, user_id: str) -> int: ...

    async def mark_read(self, user_id: str, notification_id: UUID) -> NotificationRecord | None:
        """Set read_at once (a second call keeps the first time); None unless it is this user's
        in-app notification."""
        ...

    async def preferences(self, user_id: str) -> list[PreferenceRow]: ...

    async def add_reading_preferences(
        self, new: NewNotification
    ) -> tuple[NotificationRecord, list[PreferenceRow]]:
        """``add`` and then ``preferences`` of ``new.user_id`` (a queued notice's two reads and writes),
        in one transaction where the store can."""
        ...

    async def set_preferences(self, user_id: str, rows: list[PreferenceRow]) -> list[PreferenceRow]:
        """Upsert the given rows in one transaction; returns every row of the user."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DueInstallment:
    loan_id: UUID
    application_id: UUID
    borrower_id: str
    reference: str  # the application's CAAS-YYYY-NNNNNN
    number: int
    due_date: date
    amount_due_minor: int  # what the installment still owes
    currency: str


class DueInstallmentReader(Protocol):
    async def due_between(
        self, first: date, last: date, after: tuple[date, UUID, int] | None, limit: int
    ) -> list[DueInstallment]:
        """Unpaid, uncancelled installments of loans being repaid (active or delinquent) due in
        [first, last], ordered by (due date, loan, number), strictly after ``after``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRecord:
    id: UUID
    user_id: str  # the owner: who opened it
    application_id: UUID | None
    subject: str
    status: Literal["open", "closed"]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRecord:
    id: UUID
    conversation_id: UUID
    author_id: str
    author_role: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationSummary:
    conversation: ConversationRecord
    last_message: MessageRecord | None
    unread_count: int  # messages by others since the reader last read the conversation


class SupportStore(Protocol):
    async def open(
        self,
        user_id: str,
        application_id: UUID | None,
        subject: str,
        author_role: str,
        body: str,
    ) -> tuple[ConversationRecord, MessageRecord]:
        """The conversation and its first message, in one transaction; the opener has read it."""
        ...

    async def get(self, conversation_id: UUID) -> ConversationRecord | None: ...

    async def post(
        self,
        conversation_id: UUID,
        message_id: UUID,
        author_id: str,
        author_role: str,
        body: str,
        notify: NewNotification | None,
    ) -> MessageRecord | None:
        """Append a message to an *open* conversation (None when it is closed), mark it read by its
        author, and store ``notify`` (the owner's in-app notice of a reply) in the same transaction."""
        ...

    async def messages(
        self, conversation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[MessageRecord]:
        """Oldest first, strictly after the cursor."""
        ...

    async def mark_read(self, conversation_id: UUID, reader_id: str) -> None: ...

    async def summaries(
        self,
        reader_id: str,
        owner_id: str | None,
        status: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[ConversationSummary]:
        """Conversations (of ``owner_id``, or everyone's when None) most recently active first."""
        ...

    async def close(self, conversation_id: UUID, closed_by: str) -> ConversationRecord | None:
        """Close it; a closed one stays as it is. None when there is no such conversation."""
        ...


def _no_metric(_seconds: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class NotificationDeps:
    """What the notification use cases get (the notifications queue and reminders, the inbox, support
    chat and the Supabase status mirror); built in ``mcp_servers.wiring``."""

    uow: UnitOfWorkFactory[CreditUnitOfWork]  # audit rows of the tools that change preferences or chat
    store: NotificationStore
    support: SupportStore
    mirror: StatusMirror
    applications: ApplicationReader
    loans: LoanReader
    due: DueInstallmentReader
    comms: CommunicationGateway
    clock: Clock
    # Borrowers are reminded of an installment this many days before it falls due.
    reminder_days: int = 3
    # How far behind the mirror is, in seconds, each time an event takes effect (a Prometheus gauge in
    # production; the use case does not know about metrics).
    observe_lag: Callable[[float], None] = _no_metric
