"""What every service's use cases share as ports: the call (``Invocation``), the audit record and outbox
events a state change writes, the unit of work they commit in, idempotency claims, the clock, the
personal-data vault, and the service registry (the Onasis MCP server).

The registry is discovery, not a dependency: the use case (``tools.platform.registration``) treats every
registry error as "try again later" and never lets one stop the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

from tools.platform.principal import Principal

__all__ = [
    "AuditRecord",
    "Clock",
    "IdempotencyClaim",
    "IdempotencyOutcome",
    "Invocation",
    "OutboxEvent",
    "PersonalDataVault",
    "RegisteredTool",
    "RegistryError",
    "RegistryRejected",
    "RegistryStatus",
    "RegistryTimeout",
    "RegistryUnavailable",
    "ServiceConfig",
    "ServiceNotRegistered",
    "ServiceRegistry",
    "SystemClock",
    "UnitOfWork",
    "UnitOfWorkFactory",
]


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    name: str
    description: str
    # MCP wire names (readOnlyHint, destructiveHint, ...), as a client's tools/list shows them.
    annotations: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The ``config`` of an activation (contract §3): how the registry reaches and describes us."""

    url: str
    health_url: str
    metrics_url: str
    version: str
    tools: tuple[RegisteredTool, ...]
    tags: tuple[str, ...] = ()
    transport: str = "streamable-http"


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    service: str
    active: bool
    status: str
    activated_at: str | None = None
    health: Mapping[str, Any] = field(default_factory=dict)


class RegistryError(Exception):
    """Base of every registry failure. Texts name the operation and status, never a response body."""


class RegistryUnavailable(RegistryError):
    """Connection refused or reset, or a 5xx: the registry is down or restarting."""


class RegistryTimeout(RegistryUnavailable):
    """No answer within the client timeout."""


class RegistryRejected(RegistryError):
    """A 4xx other than an unknown service (bad path, bad credentials, invalid config)."""

    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ServiceNotRegistered(RegistryError):
    """404 for a service name: the registry does not know us (it restarted and lost its state)."""


class ServiceRegistry(Protocol):
    """``POST {registry}/api/services/{name}/activate|heartbeat|deactivate``, ``GET .../status``."""

    async def activate(self, name: str, config: ServiceConfig) -> None: ...

    async def heartbeat(self, name: str) -> None: ...  # raises ServiceNotRegistered on 404

    async def deactivate(self, name: str) -> None: ...

    async def status(self, name: str) -> RegistryStatus: ...  # raises ServiceNotRegistered on 404


@dataclass(frozen=True, slots=True)
class Invocation:
    """One tool call: who made it, through which tool, with which arguments (hashed for the audit)."""

    principal: Principal
    tool: str
    args_sha256: str
    request_id: str | None = None
    # The caller's IP address as the server saw it (a trusted proxy's X-Forwarded-For), when over HTTP.
    client_ip: str | None = None


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


class PersonalDataVault(Protocol):
    """Encryption at rest for personal data (national ids, dates of birth, account numbers).

    ``field`` names the column (e.g. ``"borrowers.national_id"``) and is bound into the ciphertext, so a
    value cannot be copied into another column and still decrypt. Lookups never decrypt: they compare
    ``blind_index`` values, a keyed hash of the normalised value.
    """

    def encrypt(self, plaintext: str, *, field: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, field: str) -> str: ...

    def blind_index(self, value: str, *, field: str) -> bytes: ...

    def needs_rotation(self, blob: bytes) -> bool:
        """True when ``blob`` was encrypted under a key other than the active one."""
        ...

    def key_id_of(self, blob: bytes) -> str: ...


class UnitOfWork(Protocol):
    """One database transaction: the change, its audit record and its outbox events commit together.

    Each service's ports name the writers its use cases need on top of this (``CreditUnitOfWork``,
    ``BiddingUnitOfWork``, ...); the Postgres unit of work satisfies every one of them.
    """

    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        """Claim the key, or wait for a concurrent holder and report what it recorded."""
        ...

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None: ...

    async def release_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None:
        """Free the key that recorded ``resource_id``, so the same key may be used again (the call
        that claimed it failed after a commit that could not be undone)."""
        ...

    async def record(
        self,
        audit: AuditRecord,
        events: Sequence[OutboxEvent] = (),
        *,
        completes: IdempotencyClaim | None = None,
    ) -> None:
        """The audit row and the outbox events; with ``completes``, that claimed key records
        ``audit.object_id`` as what it produced (``complete_idempotency_key``), in the same write."""
        ...


U_co = TypeVar("U_co", covariant=True)


class UnitOfWorkFactory(Protocol[U_co]):
    """Each call opens one transaction: ``async with deps.uow() as uow: ...``.

    ``single_statement=True`` promises that the block makes exactly one statement, which writes the
    whole change with its audit row and outbox events (such as ``ApplicationWriter.insert`` with a
    ``call``): a statement is atomic on its own, so no transaction is opened around it (two round trips
    fewer). A second statement in such a block is a programming error and raises."""

    def __call__(self, *, single_statement: bool = False) -> AbstractAsyncContextManager[U_co]: ...


class Clock(Protocol):
    """The time a use case acts at. Production reads the system clock; tests move a clock of their own."""

    def now(self) -> datetime:
        """Now, timezone-aware UTC."""
        ...

    def today(self) -> date:
        """Today's date in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(UTC).date()
