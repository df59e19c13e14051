"""The in-memory system of record: every table the fakes read and write, the transaction a fake unit of
work runs in, and the integrity errors PostgreSQL would raise.

A ``FakeStore`` holds the committed ``Tables``. A unit of work (``tests.fakes.unit_of_work``) works on a
copy of them and swaps it in when its block exits normally, so readers (which read the committed
tables, as the Pg readers read the pool) see a change only after its commit, and an exception discards
it. Transactions run one at a time (the store's lock stands in for the row locks that serialise
concurrent writers in PostgreSQL). Records are frozen dataclasses, so a copy shares them and copies
only the containers; a writer replaces a record, it never changes one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tests.helpers.clock import MovableClock
from tools.credit.domain.applications import ApplicationRecord, Transition
from tools.ledger.domain.chart import Account
from tools.ledger.domain.ledger import Journal, sums_by_currency
from tools.loans.domain.loans import InstallmentRecord, LoanRecord, LoanTransition, RepaymentRecord
from tools.marketplace.domain.bids import BiddingRound, BidRecord
from tools.marketplace.domain.providers import ProviderRecord
from tools.payments.domain.payments import PaymentRecord
from tools.payments.ports import InboxEntry
from tools.platform.ports import AuditRecord, OutboxEvent
from tools.risk.ports import StoredAssessment, StoredNotice

__all__ = [
    "START",
    "CheckViolation",
    "FakeStore",
    "IdempotencyRow",
    "Tables",
    "Transaction",
    "UniqueViolation",
    "not_implemented",
]

# Where a store's clock starts unless a test gives its own: a fixed instant, so figures are stable.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class CheckViolation(Exception):
    """A CHECK constraint or constraint trigger refused the change (PostgreSQL's check_violation)."""


class UniqueViolation(Exception):
    """A unique constraint refused the row (PostgreSQL's unique_violation)."""


def not_implemented(method: str) -> NotImplementedError:
    """For the Protocol methods no use case under fast test calls: named, so a new caller finds it."""
    return NotImplementedError(f"{method} is not implemented by the in-memory fakes yet")


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    request_sha256: str
    resource_id: str | None
    expires_at: datetime


@dataclass
class Tables:
    """One attribute per table (or per join the Pg code makes), keyed as the table is."""

    applications: dict[UUID, ApplicationRecord] = field(default_factory=dict)
    application_transitions: dict[UUID, list[Transition]] = field(default_factory=dict)
    verified_documents: dict[UUID, set[str]] = field(default_factory=dict)  # document types
    assessments: list[StoredAssessment] = field(default_factory=list)  # oldest first
    notices: dict[UUID, StoredNotice] = field(default_factory=dict)
    providers: dict[UUID, ProviderRecord] = field(default_factory=dict)
    invitations: dict[tuple[UUID, UUID], str] = field(default_factory=dict)  # (app, provider) -> status
    bids: dict[UUID, BidRecord] = field(default_factory=dict)  # insertion order is created order
    rounds: dict[UUID, BiddingRound] = field(default_factory=dict)
    journals: dict[UUID, Journal] = field(default_factory=dict)
    loans: dict[UUID, LoanRecord] = field(default_factory=dict)
    installments: dict[UUID, list[InstallmentRecord]] = field(default_factory=dict)
    loan_transitions: dict[UUID, list[LoanTransition]] = field(default_factory=dict)
    repayments: dict[UUID, RepaymentRecord] = field(default_factory=dict)
    payments: dict[UUID, PaymentRecord] = field(default_factory=dict)
    inbox: dict[tuple[str, str], InboxEntry] = field(default_factory=dict)
    # Each inbox row's payload hash, and how many copies came with another (migration 0044).
    inbox_sha256: dict[tuple[str, str], str] = field(default_factory=dict)
    other_bodies: dict[tuple[str, str], int] = field(default_factory=dict)
    idempotency_keys: dict[tuple[str, str, str], IdempotencyRow] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    outbox: list[OutboxEvent] = field(default_factory=list)
    application_sequence: int = 0

    def copy(self) -> Tables:
        """A copy whose containers (and the lists and sets inside them) are new; records are shared."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                value = {k: _copied(v) for k, v in value.items()}
            elif isinstance(value, list):
                value = list(value)
            values[f.name] = value
        return Tables(**values)


def _copied(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, set):
        return set(value)
    return value


class Transaction:
    """What the writers of one unit of work share: its working tables, the clock, and the journals it
    opened (checked at commit, as the deferred trigger does)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.tables = store.tables.copy()
        self.opened_journals: list[UUID] = []

    @property
    def now(self) -> datetime:
        return self.store.clock.now()

    def check_at_commit(self) -> None:
        """``caas_ledger.assert_journal_balanced`` for every journal this transaction opened."""
        for journal_id in self.opened_journals:
            journal = self.tables.journals.get(journal_id)
            if journal is None:  # rolled back with a savepoint
                continue
            if len(journal.postings) < 2:
                lines = len(journal.postings)
                raise CheckViolation(
                    f"journal {journal_id} has {lines} posting(s); a journal needs at least two"
                )
            for currency, total in sorted(sums_by_currency(journal.postings).items()):
                if total:
                    raise CheckViolation(
                        f"journal {journal_id} does not balance: its {currency} postings sum to {total} "
                        "minor units, not 0"
                    )


class FakeStore:
    """The committed tables, the clock every fake reads, and what a test asserts on."""

    def __init__(self, clock: MovableClock | None = None) -> None:
        self.clock = clock or MovableClock(START)
        self.tables = Tables()
        self.commits = 0
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @property
    def audit(self) -> list[AuditRecord]:
        return self.tables.audit

    @property
    def outbox(self) -> list[OutboxEvent]:
        return self.tables.outbox

    def event_types(self, aggregate_id: object | None = None) -> list[str]:
        """The committed outbox events' types, oldest first (of one aggregate, when given)."""
        return [
            e.event_type for e in self.outbox if aggregate_id is None or e.aggregate_id == str(aggregate_id)
        ]

    def postings(self, account: Account) -> Iterator[int]:
        for journal in self.tables.journals.values():
            yield from (p.amount_minor for p in journal.postings if p.account.code == account.code)

    def balance(self, account: Account) -> int:
        """The account's committed balance in its normal direction (0 before its first posting)."""
        net = sum(self.postings(account))
        return net if account.kind.value in ("asset", "expense") else -net

    def journals_of(self, kind: str, source_id: object | None = None) -> list[Journal]:
        return [
            j
            for j in self.tables.journals.values()
            if j.kind == kind and (source_id is None or j.source_id == str(source_id))
        ]

    async def begin(self) -> Transaction:
        """Wait for the transaction before to end; refuses a second one in the same task (it would
        wait for itself)."""
        if self._holder is not None and self._holder is asyncio.current_task():
            raise RuntimeError("a unit of work is already open in this task: use cases never nest them")
        await self._lock.acquire()
        self._holder = asyncio.current_task()
        return Transaction(self)

    def end(self, tx: Transaction, commit: bool) -> None:
        try:
            if commit:
                tx.check_at_commit()
                self.tables = tx.tables
                self.commits += 1
        finally:
            self._holder = None
            self._lock.release()
