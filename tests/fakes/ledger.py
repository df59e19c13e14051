"""The double-entry ledger in memory, with the semantics of ``database/ledger/ledger.py``: a movement
(kind, source_id) posts once (``JournalAlreadyPosted``, the transaction still usable), and every journal
a transaction opened must balance per currency when it commits (``CheckViolation`` otherwise, as the
deferred constraint trigger raises)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tests.fakes.marketplace import add_capital
from tests.fakes.store import FakeStore, Tables, Transaction, not_implemented
from tools.ledger.domain.ledger import (
    AccountBalance,
    Journal,
    JournalDraft,
    JournalKind,
    Reconciliation,
    StatementLine,
)
from tools.ledger.ledger import JournalAlreadyPosted, journal_event
from tools.platform.ports import AuditRecord, Invocation

__all__ = ["FakeLedgerReader", "FakeLedgerWriter"]


def _journal(tables: Tables, journal_id: UUID) -> Journal | None:
    journal = tables.journals.get(journal_id)
    if journal is None:
        return None
    reversal = next(
        (
            j.id
            for j in tables.journals.values()
            if j.kind == JournalKind.REVERSAL and j.source_id == str(journal_id)
        ),
        None,
    )
    return Journal(
        id=journal.id,
        kind=journal.kind,
        source_id=journal.source_id,
        memo=journal.memo,
        created_by=journal.created_by,
        created_at=journal.created_at,
        reverses_journal_id=journal.reverses_journal_id,
        postings=journal.postings,
        reversed_by=reversal,
    )


class FakeLedgerWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def post(self, draft: JournalDraft, call: Invocation, event_fields: dict[str, Any]) -> UUID:
        journals = self._tx.tables.journals
        for earlier in journals.values():
            if (earlier.kind, earlier.source_id) == (draft.kind, draft.source_id):
                raise JournalAlreadyPosted(draft.kind.value, draft.source_id, earlier.id)
        journal = Journal(
            id=uuid4(),
            kind=draft.kind,
            source_id=draft.source_id,
            memo=draft.memo,
            created_by=call.principal.subject,
            created_at=self._tx.now,
            reverses_journal_id=draft.reverses_journal_id,
            postings=draft.postings,
        )
        journals[journal.id] = journal
        self._tx.opened_journals.append(journal.id)
        self._tx.tables.audit.append(AuditRecord(call, "journal", str(journal.id)))
        self._tx.tables.outbox.append(journal_event(journal.id, draft))
        return journal.id

    async def journal(self, journal_id: UUID) -> Journal | None:
        return _journal(self._tx.tables, journal_id)

    async def journal_of(self, kind: JournalKind, source_id: str) -> Journal | None:
        found = [j for j in self._tx.tables.journals.values() if (j.kind, j.source_id) == (kind, source_id)]
        return found[0] if found else None

    async def hold_journal(self, journal_id: UUID) -> None:
        return None  # the fake store runs one transaction at a time

    async def lock_provider_capital(self, provider_id: UUID) -> tuple[str, int, int] | None:
        # The fake store changes no provider's currency: it holds the one it was onboarded with (v1).
        provider = self._tx.tables.providers.get(provider_id)
        if provider is None:
            return None
        return provider.currency, provider.capital_available_minor, 1

    async def add_provider_capital(self, provider_id: UUID, amount_minor: int) -> None:
        add_capital(self._tx, provider_id, amount_minor)

    async def take_loan_commission(self, loan_id: UUID, amount_minor: int) -> bool:
        loan = self._tx.tables.loans.get(loan_id)
        if loan is None or loan.commission_minor < amount_minor:
            return False
        self._tx.tables.loans[loan_id] = replace(loan, commission_minor=loan.commission_minor - amount_minor)
        return True


class FakeLedgerReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def balance(self, account: UUID | str, as_of: datetime | None = None) -> AccountBalance | None:
        found = None
        net = 0
        opened_at = None
        for journal in self._store.tables.journals.values():
            for p in journal.postings:
                if account not in (p.account.id, p.account.code):
                    continue
                found = p.account
                opened_at = journal.created_at if opened_at is None else min(opened_at, journal.created_at)
                if as_of is None or journal.created_at <= as_of:
                    net += p.amount_minor
        if found is None or opened_at is None:
            return None
        return AccountBalance(found.id, found, net, opened_at, as_of)

    async def statement(
        self, account_id: UUID, after: tuple[datetime, int] | None, limit: int
    ) -> list[StatementLine]:
        raise not_implemented("LedgerReader.statement")

    async def journal(self, journal_id: UUID) -> Journal | None:
        return _journal(self._store.tables, journal_id)

    async def reconcile(self, full: bool) -> Reconciliation:
        raise not_implemented("LedgerReader.reconcile")
