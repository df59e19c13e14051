"""The fake unit of work: one transaction on the in-memory store, with every writer a use case may need
(as ``database.unit_of_work.PgUnitOfWork``), idempotency keys with the Pg semantics, and the audit
records and outbox events that ``record`` writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from tests.fakes.credit import FakeApplicationWriter, FakeDocumentWriter, FakeRiskWriter
from tests.fakes.ledger import FakeLedgerWriter
from tests.fakes.loans import FakeLoanWriter
from tests.fakes.marketplace import FakeBidWriter, FakeProviderWriter
from tests.fakes.payments import FakePaymentWriter
from tests.fakes.store import FakeStore, IdempotencyRow, Transaction
from tools.credit.ports import ApplicationWriter, DocumentWriter
from tools.ledger.ports import LedgerWriter
from tools.loans.ports import LoanWriter
from tools.marketplace.ports import BidWriter, ProviderWriter
from tools.payments.ports import PaymentWriter
from tools.platform.ports import (
    AuditRecord,
    IdempotencyClaim,
    IdempotencyOutcome,
    OutboxEvent,
    UnitOfWorkFactory,
)
from tools.risk.ports import RiskWriter

__all__ = ["KEY_LIFETIME", "FakeUnitOfWork", "fake_unit_of_work"]

KEY_LIFETIME = timedelta(hours=24)


class FakeUnitOfWork:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        # Declared as the ports' Protocols, so mypy checks each fake writer against its port here and
        # this unit of work against every service's unit-of-work Protocol where the deps are built.
        self.applications: ApplicationWriter = FakeApplicationWriter(tx)
        self.documents: DocumentWriter = FakeDocumentWriter(tx)
        self.risk: RiskWriter = FakeRiskWriter(tx)
        self.ledger: LedgerWriter = FakeLedgerWriter(tx)
        self.loans: LoanWriter = FakeLoanWriter(tx)
        self.providers: ProviderWriter = FakeProviderWriter(tx)
        self.bids: BidWriter = FakeBidWriter(tx)
        self.payments: PaymentWriter = FakePaymentWriter(tx)

    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        """As the Pg INSERT ... ON CONFLICT: a new key (or one past its 24 hours) is claimed afresh;
        a live one reports what it recorded. Transactions run one at a time, so there is never a
        concurrent holder to wait for."""
        keys, now = self.tx.tables.idempotency_keys, self.tx.now
        row_key = (claim.principal_id, claim.operation, claim.key)
        row = keys.get(row_key)
        if row is None or row.expires_at <= now:
            keys[row_key] = IdempotencyRow(claim.request_sha256, None, now + KEY_LIFETIME)
            return IdempotencyOutcome(resource_id=None, request_sha256=None)
        return IdempotencyOutcome(resource_id=row.resource_id, request_sha256=row.request_sha256)

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None:
        keys = self.tx.tables.idempotency_keys
        row_key = (claim.principal_id, claim.operation, claim.key)
        row = keys.get(row_key)
        if row is not None:  # the Pg UPDATE touches no row otherwise
            keys[row_key] = IdempotencyRow(row.request_sha256, resource_id, row.expires_at)

    async def release_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None:
        keys = self.tx.tables.idempotency_keys
        row_key = (claim.principal_id, claim.operation, claim.key)
        row = keys.get(row_key)
        if row is not None and row.resource_id == resource_id:
            del keys[row_key]

    async def record(
        self,
        audit: AuditRecord,
        events: Sequence[OutboxEvent] = (),
        *,
        completes: IdempotencyClaim | None = None,
    ) -> None:
        self.tx.tables.audit.append(audit)
        self.tx.tables.outbox.extend(events)
        if completes is not None:
            await self.complete_idempotency_key(completes, audit.object_id)


def fake_unit_of_work(store: FakeStore) -> UnitOfWorkFactory[FakeUnitOfWork]:
    """Each call opens one transaction on ``store``: committed when the block exits normally,
    discarded when it raises. Typed precisely, so mypy checks ``FakeUnitOfWork`` against every
    service's unit-of-work Protocol where ``tests.fakes.deps`` hands it to a dependency dataclass."""

    @asynccontextmanager
    async def factory(*, single_statement: bool = False) -> AsyncIterator[FakeUnitOfWork]:
        # Every fake block is atomic; ``single_statement`` (no transaction in Pg) changes nothing here.
        tx = await store.begin()
        committed = False
        try:
            yield FakeUnitOfWork(tx)
            committed = True
        finally:
            store.end(tx, commit=committed)

    return factory
