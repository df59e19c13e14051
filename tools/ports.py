"""What the use cases need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from tools.domain.applications import ApplicationRecord, NewApplication
from tools.principal import Principal

__all__ = [
    "ApplicationQuery",
    "ApplicationReader",
    "ApplicationWriter",
    "AuditRecord",
    "IdempotencyClaim",
    "IdempotencyOutcome",
    "Invocation",
    "OutboxEvent",
    "UnitOfWork",
    "UnitOfWorkFactory",
]


@dataclass(frozen=True, slots=True)
class Invocation:
    """One tool call: who made it, through which tool, with which arguments (hashed for the audit)."""

    principal: Principal
    tool: str
    args_sha256: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    invocation: Invocation
    object_type: str
    object_id: str
    outcome: str = "succeeded"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    principal_id: str
    operation: str
    key: str
    request_sha256: str


@dataclass(frozen=True, slots=True)
class IdempotencyOutcome:
    """``resource_id`` is set when the key was used before with the same request."""

    resource_id: str | None
    request_sha256: str | None


@dataclass(frozen=True, slots=True)
class ApplicationQuery:
    statuses: Sequence[str] | None
    borrower_id: str | None
    created_by: str | None
    created_from: datetime | None
    created_to: datetime | None
    after: tuple[datetime, UUID] | None
    limit: int


class ApplicationWriter(Protocol):
    async def insert(self, new: NewApplication) -> ApplicationRecord: ...


class ApplicationReader(Protocol):
    async def get(self, id_or_reference: str) -> ApplicationRecord | None: ...

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]: ...


class UnitOfWork(Protocol):
    """One database transaction: the change, its audit record and its outbox events commit together."""

    applications: ApplicationWriter

    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        """Claim the key, or wait for a concurrent holder and report what it recorded."""
        ...

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None: ...

    async def record(self, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...
