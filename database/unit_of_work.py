"""One transaction on one pooled connection, with every writer a use case may need inside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from database.credit.applications import PgApplicationWriter
from database.credit.documents import PgDocumentWriter
from database.ledger.ledger import PgLedgerWriter
from database.loans.loans import PgLoanWriter
from database.marketplace.bids import PgBidWriter
from database.marketplace.providers import PgProviderWriter
from database.payments.payments import PgPaymentWriter
from database.platform.audit import Connection, record_audit
from database.risk.assessments import PgRiskWriter
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

__all__ = ["PgUnitOfWork", "pg_unit_of_work"]


class PgUnitOfWork:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # Declared as the ports' Protocols: mypy checks each writer against its port here, and this
        # unit of work against every service's unit-of-work Protocol where it is wired.
        self.applications: ApplicationWriter = PgApplicationWriter(conn)
        self.documents: DocumentWriter = PgDocumentWriter(conn)
        self.risk: RiskWriter = PgRiskWriter(conn)
        self.ledger: LedgerWriter = PgLedgerWriter(conn)
        self.loans: LoanWriter = PgLoanWriter(conn)
        self.providers: ProviderWriter = PgProviderWriter(conn)
        self.bids: BidWriter = PgBidWriter(conn)
        self.payments: PaymentWriter = PgPaymentWriter(conn)

    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        # A concurrent holder of the same key blocks this INSERT until it commits or rolls back, so a
        # duplicate never runs twice: it either replays the committed result or takes over the key.
        inserted = await self._conn.fetchval(
            """
            INSERT INTO caas_core.idempotency_keys (principal_id, operation, key, request_sha256)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (principal_id, operation, key) DO UPDATE
                SET request_sha256 = EXCLUDED.request_sha256, resource_id = NULL,
                    created_at = now(), expires_at = now() + interval '24 hours'
                WHERE caas_core.idempotency_keys.expires_at <= now()
            RETURNING true
            """,
            claim.principal_id,
            claim.operation,
            claim.key,
            claim.request_sha256,
        )
        if inserted:
            return IdempotencyOutcome(resource_id=None, request_sha256=None)
        row = await self._conn.fetchrow(
            "SELECT request_sha256, resource_id FROM caas_core.idempotency_keys "
            "WHERE principal_id = $1 AND operation = $2 AND key = $3",
            claim.principal_id,
            claim.operation,
            claim.key,
        )
        assert row is not None
        return IdempotencyOutcome(resource_id=row["resource_id"], request_sha256=row["request_sha256"])

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None:
        await self._conn.execute(
            "UPDATE caas_core.idempotency_keys SET resource_id = $4 "
            "WHERE principal_id = $1 AND operation = $2 AND key = $3",
            claim.principal_id,
            claim.operation,
            claim.key,
            resource_id,
        )

    async def record(self, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None:
        await record_audit(self._conn, audit, events)


def pg_unit_of_work(pool: asyncpg.Pool) -> UnitOfWorkFactory[PgUnitOfWork]:
    """Each call opens one transaction on one pooled connection. Typed precisely, so that mypy checks
    ``PgUnitOfWork`` against every service's unit-of-work Protocol where ``mcp_servers.wiring`` hands
    this factory to the use cases."""

    @asynccontextmanager
    async def factory() -> AsyncIterator[PgUnitOfWork]:
        async with pool.acquire() as conn, conn.transaction():
            yield PgUnitOfWork(conn)

    return factory
