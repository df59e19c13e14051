"""The Supabase status mirror's port (``StatusMirror``) and what it is given: what the
``supabase_sync`` queue writes for each outbox event (``tools.notifications.supabase_sync``).
``tools.notifications.ports`` re-exports every name here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from tools.platform.ports import Clock

__all__ = [
    "Activity",
    "ApplicationSnapshot",
    "Applied",
    "DocumentChange",
    "DocumentUpdate",
    "MirrorEvent",
    "MirrorSources",
    "MirrorUnavailable",
    "StatusMirror",
    "StatusUpdate",
    "SyncResult",
]


class Applied(StrEnum):
    APPLIED = "applied"
    # The mirror already holds this event or a later one (a redelivery, or an older event).
    STALE = "stale"
    # No mirror row to update: the application's own events never reached the mirror.
    MISSING = "missing"


class MirrorUnavailable(Exception):
    """Supabase did not take the write (down, timed out, refused): try again later. The text names
    the failure (an error code, a status), never the data."""


@dataclass(frozen=True, slots=True)
class ApplicationSnapshot:
    """What an application event says about the application; it can create the mirror row."""

    reference: str
    borrower_id: str
    status: str
    requested_amount: Decimal | None
    currency: str
    term_months: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """One event applied to ``application_status``. ``sequence`` orders the events of one application
    (the sync job's id, assigned in outbox order); a row whose ``last_sequence`` is not below it is
    left alone. None fields leave the column as it is."""

    application_id: UUID
    sequence: int
    event_id: UUID
    event_type: str
    occurred_at: datetime
    application: ApplicationSnapshot | None = None
    progress_percent: int | None = None
    loan_id: UUID | None = None
    loan_status: str | None = None
    payment_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentUpdate:
    document_id: UUID
    application_id: UUID
    user_id: str
    sequence: int
    kind: str
    status: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """One line of the borrower's activity feed, written once per event (keyed by ``event_id``)."""

    event_id: UUID
    user_id: str
    kind: str
    application_id: UUID | None
    detail: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one event did to the mirror: its status and document rows (None: it writes no such row)
    and whether its activity line is new."""

    status: Applied | None
    document: Applied | None
    activity: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentChange:
    document_id: UUID
    kind: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorEvent:
    """Every write of one event, for ``StatusMirror.apply_events``, in this order: its status move;
    its ``document`` row, for the mirrored application's owner (``MISSING`` without one); and its
    activity line, for ``borrower_id`` or else that owner (none without either), with a bare profile
    for that user first when ``new_borrower`` (an application event)."""

    event_id: UUID
    event_type: str
    application_id: UUID
    sequence: int
    occurred_at: datetime
    status: StatusUpdate | None
    document: DocumentChange | None
    borrower_id: str | None
    new_borrower: bool
    detail: Mapping[str, Any]

    def document_update(self, owner: str) -> DocumentUpdate | None:
        d = self.document
        if d is None:
            return None
        return DocumentUpdate(
            document_id=d.document_id,
            application_id=self.application_id,
            user_id=owner,
            sequence=self.sequence,
            kind=d.kind,
            status=d.status,
            occurred_at=self.occurred_at,
        )

    def activity(self, user_id: str) -> Activity:
        return Activity(
            event_id=self.event_id,
            user_id=user_id,
            kind=self.event_type,
            application_id=self.application_id,
            detail=self.detail,
            occurred_at=self.occurred_at,
        )


class StatusMirror(Protocol):
    async def apply_events(self, events: Sequence[MirrorEvent]) -> list[SyncResult]:
        """Every write of each event (see ``MirrorEvent``), in as few round trips as the writer allows;
        the events are of different applications. Each write is as conditional as the single ones
        below, so running them again changes nothing. Raises ``MirrorUnavailable`` when the mirror
        cannot be reached (some writes may have been made)."""
        ...

    async def apply_status(self, update: StatusUpdate) -> Applied:
        """Create the row (from an application event) or move it forward; never backwards."""
        ...

    async def apply_document(self, update: DocumentUpdate) -> Applied: ...

    async def record_activity(self, activity: Activity) -> bool:
        """False when this event's activity is already there."""
        ...

    async def ensure_profile(self, user_id: str) -> None:
        """A bare profile row for a borrower the mirror has just met (the user fills it in)."""
        ...

    async def borrower_of(self, application_id: UUID) -> str | None:
        """The owner of a mirrored application, for events that do not name the borrower."""
        ...

    async def aclose(self) -> None: ...


class MirrorSources(Protocol):
    """What the Supabase sync needs (``NotificationDeps`` has it): the mirror, the clock, and where to
    report how far behind the mirror is."""

    @property
    def mirror(self) -> StatusMirror: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def observe_lag(self) -> Callable[[float], None]: ...
