"""What the credit use cases need from storage: applications, KYC documents and their store, and the
unit of work an application's journey commits in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord, NewApplication, Transition
from tools.credit.domain.documents import (
    DEFAULT_MAX_BYTES,
    DocumentRecord,
    NewDocument,
    NewUpload,
    UploadRecord,
)
from tools.marketplace.domain.bids import BidRecord
from tools.platform.ports import (
    Clock,
    Invocation,
    OutboxEvent,
    PersonalDataVault,
    UnitOfWork,
    UnitOfWorkFactory,
)
from tools.platform.principal import Principal

if TYPE_CHECKING:  # type-only: these services' ports build on this module
    from tools.ledger.ports import LedgerWriter
    from tools.marketplace.ports import BidWriter, ProviderWriter
    from tools.risk.domain.scorecard import RiskPolicy
    from tools.risk.ports import RiskReader, RiskWriter

__all__ = [
    "ApplicationQuery",
    "ApplicationReader",
    "ApplicationWriter",
    "CreditDeps",
    "CreditUnitOfWork",
    "CreditUnitOfWorkFactory",
    "DocumentReader",
    "DocumentStore",
    "DocumentWriter",
    "FileCheck",
    "LocalFiles",
    "UploadTarget",
]


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
    async def insert(
        self, new: NewApplication, reason: str, call: Invocation | None = None
    ) -> ApplicationRecord:
        """Store a new application and open its timeline with ``reason``. With ``call``, also the audit
        row of ``call`` and the status event (``lifecycle.status_event(app, None, reason)``), written by
        the same statement: the whole change is then atomic on its own."""
        ...

    async def lock(self, id_or_reference: str) -> ApplicationRecord | None:
        """Read and hold the row until the transaction ends (concurrent transitions serialise)."""
        ...

    async def lock_stale_open(self, opened_before: datetime, limit: int) -> list[ApplicationRecord]:
        """Open-for-bids applications opened before the cutoff that no other transaction holds."""
        ...

    async def has_loan(self, application_id: UUID) -> bool:
        """Whether a loan was originated from the application."""
        ...

    async def lock_lapsed_offers(self, now: datetime, limit: int) -> list[ApplicationRecord]:
        """Offer-accepted or approved applications without a loan whose accepted offer's validity has
        passed at ``now``, that no other transaction holds."""
        ...

    async def end_active_bids(self, application_id: UUID, *, lapsed: bool) -> list[BidRecord]:
        """Every still-active bid on the application -> expired; the bids so ended. Every invitation
        still unanswered -> expired too, and counted as its lender's decision (not an approval) when
        the bidding window ``lapsed`` (the lender let it), not when the borrower or a decision ended it."""
        ...

    async def move(
        self,
        app: ApplicationRecord,
        to_status: str,
        actor: Principal,
        reason: str,
        call: Invocation | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> ApplicationRecord:
        """Change status and append the timeline entry. With ``call``, also the audit row of ``call``,
        the status event (``lifecycle.status_event(moved, app.status, reason)``) and ``events`` after
        it, in the same statement."""
        ...

    async def update_draft(
        self, app_id: UUID, new: NewApplication, actor: Principal
    ) -> ApplicationRecord: ...

    async def timeline(self, application_id: UUID) -> Sequence[Transition]:
        """As ``ApplicationReader.timeline``, inside the transaction (no second pooled connection)."""
        ...


class ApplicationReader(Protocol):
    async def get(self, id_or_reference: str) -> ApplicationRecord | None: ...

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]: ...

    async def timeline(self, application_id: UUID) -> Sequence[Transition]: ...

    async def offer_valid_until(self, application_id: UUID) -> datetime | None:
        """Until when the application's accepted offer binds its lender; None without one."""
        ...


class CreditUnitOfWork(UnitOfWork, Protocol):
    """The writers of an application's journey: the transaction that moves it also writes its
    documents, assessments, bids, ledger journals and provider rows."""

    applications: ApplicationWriter
    documents: DocumentWriter
    risk: RiskWriter
    ledger: LedgerWriter
    providers: ProviderWriter
    bids: BidWriter


CreditUnitOfWorkFactory = UnitOfWorkFactory[CreditUnitOfWork]


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


class LocalFiles(Protocol):
    """The local store's door for bytes sent over HTTP (a browser cannot write to a local path)."""

    async def write(self, object_path: str, data: bytes) -> None:
        """Put ``data`` at ``object_path`` whole (replacing an earlier attempt), never half-written."""
        ...


class DocumentReader(Protocol):
    async def get_upload(self, upload_id: UUID) -> UploadRecord | None: ...

    async def pending_uploads(self, application_id: UUID, document_type: str) -> list[UploadRecord]: ...

    async def find_by_sha256(self, application_id: UUID, sha256: str) -> DocumentRecord | None: ...

    async def list_for_application(
        self, application_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[DocumentRecord]:
        """Up to ``limit`` of the application's documents, oldest first (registered_at, id), after
        that position when given."""
        ...

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        """The document types with at least one verified document on this application."""
        ...


class DocumentWriter(Protocol):
    """Each write is one statement with its audit row (and event): atomic without a transaction."""

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        """As ``DocumentReader``'s, inside the transaction (no second pooled connection)."""
        ...

    async def insert_upload(self, new: NewUpload, call: Invocation, *, at_most: int) -> UploadRecord | None:
        """The pending upload, with ``call``'s audit row, counted on its application; None (and nothing
        written) when the application has already asked for ``at_most`` uploads."""
        ...

    async def register(self, upload_id: UUID, new: NewDocument, call: Invocation) -> DocumentRecord | None:
        """Mark the pending upload registered and store ``new`` as a pending document, with ``call``'s
        audit row and the document.registered event; None (and nothing written) when the upload is
        not pending. Raises Conflict when the application already has a document with this SHA-256."""
        ...

    async def lock(self, document_id: UUID) -> tuple[DocumentRecord, ApplicationRecord] | None:
        """The document, held until the transaction ends, and its application (read, not locked), in
        one statement."""
        ...

    async def reopen(self, application_id: UUID, document_types: set[str], call: Invocation) -> int:
        """Verified documents of ``document_types`` back to pending (a change to what they proved),
        each with ``call``'s audit row and a document.pending event; how many."""
        ...

    async def decide(
        self, document_id: UUID, status: str, decided_by: Principal, reason: str | None, call: Invocation
    ) -> DocumentRecord:
        """The one decision on a pending document, with ``call``'s audit row and its document.<status>
        event; Conflict when it is no longer pending."""
        ...


@dataclass(frozen=True, slots=True)
class CreditDeps:
    """What the credit use cases get (applications, decisions, documents); built in ``mcp_servers.wiring``."""

    uow: UnitOfWorkFactory[CreditUnitOfWork]
    applications: ApplicationReader
    documents: DocumentReader
    risk: RiskReader
    store: DocumentStore
    vault: PersonalDataVault
    clock: Clock
    policy: RiskPolicy
    # How long an application stays open for bids before it expires.
    bidding_window: timedelta = timedelta(hours=72)
    # The largest KYC document accepted.
    document_max_bytes: int = DEFAULT_MAX_BYTES
    # Approvals above these amounts (per currency, major units) need an operator; other currencies always do.
    operator_approval_above: Mapping[str, Decimal] = field(default_factory=dict)
    # The currencies the payment routes can pay out (None: any), checked when an application is submitted.
    payable_currencies: frozenset[str] | None = None
