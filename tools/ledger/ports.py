"""What the ledger use cases need from storage: posting journals inside a unit of work, and reading
balances, statements and the reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from tools.ledger.domain.ledger import (
    AccountBalance,
    Journal,
    JournalDraft,
    JournalKind,
    Reconciliation,
    StatementLine,
)
from tools.platform.ports import Clock, Invocation, UnitOfWork, UnitOfWorkFactory

__all__ = ["LedgerDeps", "LedgerReader", "LedgerUnitOfWork", "LedgerWriter"]


class LedgerWriter(Protocol):
    """Posting inside the unit of work's transaction; the database checks the balance at COMMIT."""

    async def post(self, draft: JournalDraft, call: Invocation, event_fields: dict[str, Any]) -> UUID:
        """Insert the journal and its postings (cached balances follow in the same statement), created
        by ``call``'s caller, with its audit row and its ``ledger.journal_posted`` event (``event_fields``
        plus the ``journal_id`` the statement assigns: ``tools.ledger.ledger.journal_event``); returns
        the journal id. Raises ``tools.ledger.ledger.JournalAlreadyPosted`` (a Conflict) when the movement
        (kind, source_id) was posted before, having written nothing; the transaction stays usable."""
        ...

    async def journal(self, journal_id: UUID) -> Journal | None: ...

    async def journal_of(self, kind: JournalKind, source_id: str) -> Journal | None:
        """The journal of the movement (kind, source_id), which is posted at most once."""
        ...

    async def hold_journal(self, journal_id: UUID) -> None:
        """Until COMMIT, only this transaction settles ``journal_id`` (reverses it or writes it off); a
        journal is append-only, so this is not a row lock."""
        ...

    async def lock_provider_capital(self, provider_id: UUID) -> tuple[str, int, int] | None:
        """The provider row's currency, available capital (what matching reads) and when it took that
        currency, locked for this transaction; None when there is no such provider."""
        ...

    async def add_provider_capital(self, provider_id: UUID, amount_minor: int) -> None:
        """Add ``amount_minor`` (negative: take it) to the provider row's available capital."""
        ...

    async def take_loan_commission(self, loan_id: UUID, amount_minor: int) -> bool:
        """Take ``amount_minor`` off the commission the loan row says it earned (its view, and the cap
        on later interest shares); False, writing nothing, when it has no such loan or not that much."""
        ...


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

    async def reconcile(self, full: bool) -> Reconciliation:
        """In one snapshot, every cached balance compared with its postings: with the last run's
        verified sums plus the journals posted since, or (``full``, or no run before) with all of them."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerDeps:
    """What the ledger use cases get; built in ``mcp_servers.wiring``."""

    uow: UnitOfWorkFactory[LedgerUnitOfWork]
    reader: LedgerReader
    clock: Clock


class LedgerUnitOfWork(UnitOfWork, Protocol):
    """Posting needs only the ledger writer (and the audit), inside whoever's transaction."""

    ledger: LedgerWriter
