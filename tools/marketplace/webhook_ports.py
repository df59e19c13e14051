"""What the provider webhook use cases need: an HTTP sender (adapters/marketplace/webhook_sender.py) and the
delivery records (database/marketplace/webhook_deliveries.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from tools.credit.ports import AuditRecord, OutboxEvent
from tools.marketplace.domain.provider_webhooks import DeliveryStatus

__all__ = [
    "AttemptResult",
    "DeliveryQuery",
    "DeliveryRecord",
    "DeliveryRequeue",
    "DeliveryStore",
    "WebhookAnswer",
    "WebhookSendError",
    "WebhookSender",
]


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status_code: int
    retry_after: str | None = None  # the raw Retry-After header, if the receiver sent one


class WebhookSendError(Exception):
    """No HTTP answer: timeout, connection refused, DNS, TLS. The text names the kind of failure only
    (never a response body), so it is safe to store and show to the provider."""


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        """POST ``body`` to ``url`` with a timeout; raises WebhookSendError when no answer came."""
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
