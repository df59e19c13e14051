"""What the Supabase sync needs from the Supabase side: a writer for the borrower-facing mirror.

Two adapters implement it (adapters/notifications/supabase_sync.py): direct Postgres (``SUPABASE_DB_URL``, or
the embedded second database) and PostgREST through supabase-py (only ``SUPABASE_URL`` and the
service-role key). Every write is conditional or keyed so that running it again changes nothing:
the sync is delivered at least once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

__all__ = [
    "Activity",
    "ApplicationSnapshot",
    "Applied",
    "DocumentUpdate",
    "MirrorUnavailable",
    "StatusMirror",
    "StatusUpdate",
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


class StatusMirror(Protocol):
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
