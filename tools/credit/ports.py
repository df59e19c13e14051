"""What the use cases need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord, NewApplication, Transition
from tools.credit.domain.documents import DocumentRecord, NewDocument, NewUpload, UploadRecord
from tools.ledger.domain.ledger import AccountBalance, Journal, JournalDraft, Reconciliation, StatementLine
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.ports import (
    Candidates,
    InvitationQuery,
    ProviderQuery,
    ProviderReader,
    ProviderWriter,
    RankedCandidate,
)
from tools.platform.principal import Principal

__all__ = [
    "ApplicationQuery",
    "ApplicationReader",
    "ApplicationWriter",
    "AuditRecord",
    "Candidates",
    "DocumentReader",
    "DocumentStore",
    "DocumentWriter",
    "FileCheck",
    "IdempotencyClaim",
    "IdempotencyOutcome",
    "InvitationQuery",
    "Invocation",
    "LedgerReader",
    "LedgerWriter",
    "OutboxEvent",
    "PersonalDataVault",
    "ProviderQuery",
    "ProviderReader",
    "ProviderWriter",
    "RankedCandidate",
    "RiskReader",
    "RiskWriter",
    "StoredAssessment",
    "StoredNotice",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UploadTarget",
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
    national_id_index: bytes | None = None


class ApplicationWriter(Protocol):
    async def insert(self, new: NewApplication, reason: str) -> ApplicationRecord:
        """Store a new application and open its timeline with ``reason``."""
        ...

    async def lock(self, id_or_reference: str) -> ApplicationRecord | None:
        """Read and hold the row until the transaction ends (concurrent transitions serialise)."""
        ...

    async def lock_stale_open(self, opened_before: datetime, limit: int) -> list[ApplicationRecord]:
        """Open-for-bids applications opened before the cutoff that no other transaction holds."""
        ...

    async def end_active_bids(self, application_id: UUID) -> list[BidRecord]:
        """Every still-active bid on the application -> expired; the bids so ended."""
        ...

    async def move(
        self, app: ApplicationRecord, to_status: str, actor: Principal, reason: str
    ) -> ApplicationRecord:
        """Change status and append the timeline entry."""
        ...

    async def update_draft(
        self, app_id: UUID, new: NewApplication, actor: Principal
    ) -> ApplicationRecord: ...


class ApplicationReader(Protocol):
    async def get(self, id_or_reference: str) -> ApplicationRecord | None: ...

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]: ...

    async def timeline(self, application_id: UUID) -> Sequence[Transition]: ...


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    id: UUID
    application_id: UUID
    model_version: str
    stage: str
    inputs: dict[str, Any]
    result: dict[str, Any]
    assessed_by: str
    assessed_at: datetime


@dataclass(frozen=True, slots=True)
class StoredNotice:
    reasons: list[dict[str, Any]]
    notice_text: str
    issued_at: datetime


class RiskWriter(Protocol):
    async def add_assessment(
        self,
        application_id: UUID,
        model_version: str,
        stage: str,
        inputs: dict[str, Any],
        result: dict[str, Any],
        assessed_by: str,
    ) -> StoredAssessment: ...

    async def add_notice(
        self,
        application_id: UUID,
        assessment_id: UUID | None,
        reasons: list[dict[str, Any]],
        text: str,
        by: str,
    ) -> None: ...


class RiskReader(Protocol):
    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None: ...

    async def notice(self, application_id: UUID) -> StoredNotice | None: ...

    async def review_queue(self, after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]: ...


class LedgerWriter(Protocol):
    """Posting inside the unit of work's transaction; the database checks the balance at COMMIT."""

    async def post(self, draft: JournalDraft, created_by: str) -> UUID:
        """Insert the journal and its postings (cached balances follow in the same statement); returns
        the journal id. Raises ``tools.ledger.ledger.JournalAlreadyPosted`` (a Conflict) when the movement
        (kind, source_id) was posted before; the transaction stays usable."""
        ...

    async def journal(self, journal_id: UUID) -> Journal | None: ...


class LedgerReader(Protocol):
    async def balance(self, account: UUID | str, as_of: datetime | None = None) -> AccountBalance | None:
        """By account id or code: the cached balance, or the sum of postings up to ``as_of``."""
        ...

    async def statement(
        self, account_id: UUID, after: tuple[datetime, int] | None, limit: int
    ) -> list[StatementLine]:
        """Postings newest first, after the (created_at, posting id) keyset position."""
        ...

    async def journal(self, journal_id: UUID) -> Journal | None: ...

    async def reconcile(self) -> Reconciliation:
        """Every balance recomputed from the postings in one snapshot, compared with the cache."""
        ...


class UnitOfWork(Protocol):
    """One database transaction: the change, its audit record and its outbox events commit together."""

    applications: ApplicationWriter
    documents: DocumentWriter
    risk: RiskWriter
    ledger: LedgerWriter
    providers: ProviderWriter

    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        """Claim the key, or wait for a concurrent holder and report what it recorded."""
        ...

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None: ...

    async def record(self, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


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


class FileCheck(StrEnum):
    """What a document store found at an object path, compared with the size and hash given."""

    MATCHES = "matches"
    MISSING = "missing"
    SIZE_MISMATCH = "size_mismatch"
    HASH_MISMATCH = "hash_mismatch"


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where a client puts a file: a signed URL (Supabase Storage) or a local path (embedded default)."""

    storage: str  # "supabase" | "local"
    object_path: str
    expires_at: datetime
    url: str | None = None
    local_path: str | None = None


class DocumentStore(Protocol):
    """Object storage for KYC files; use cases never see its credentials."""

    kind: str

    async def upload_target(self, object_path: str, media_type: str) -> UploadTarget:
        """Somewhere the caller may write ``object_path``; raises Unavailable when the store is down."""
        ...

    async def check(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck: ...

    async def aclose(self) -> None: ...


class DocumentReader(Protocol):
    async def get_upload(self, upload_id: UUID) -> UploadRecord | None: ...

    async def pending_uploads(self, application_id: UUID, document_type: str) -> list[UploadRecord]: ...

    async def find_by_sha256(self, application_id: UUID, sha256: str) -> DocumentRecord | None: ...

    async def list_for_application(self, application_id: UUID) -> list[DocumentRecord]: ...

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        """The document types with at least one verified document on this application."""
        ...


class DocumentWriter(Protocol):
    async def insert_upload(self, new: NewUpload) -> UploadRecord: ...

    async def claim_upload(self, upload_id: UUID) -> bool:
        """Mark a pending upload registered; False when it was registered already (or meanwhile)."""
        ...

    async def insert(self, new: NewDocument) -> DocumentRecord:
        """Raises Conflict when the application already has a document with this SHA-256."""
        ...

    async def lock(self, document_id: UUID) -> DocumentRecord | None: ...

    async def decide(
        self, document_id: UUID, status: str, decided_by: Principal, reason: str | None
    ) -> DocumentRecord: ...
