"""One transaction on one pooled connection, with every writer a use case may need inside it, and the
runner that replays a call whose transaction the database aborted to break a deadlock.

Row locks are taken in the order ``tools.platform.locking`` writes down; ``retry_transient`` is the
safety net for what that order does not cover.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import asyncpg

from database.credit.applications import PgApplicationWriter
from database.credit.documents import PgDocumentWriter
from database.ledger.ledger import PgLedgerWriter
from database.loans.loans import PgLoanWriter
from database.marketplace.bids import PgBidWriter
from database.marketplace.capital_at_commit import CapitalAtCommit
from database.marketplace.providers import PgProviderWriter
from database.payments.payments import PgPaymentWriter
from database.platform.audit import Connection, record_audit
from database.risk.assessments import PgRiskWriter
from tools.credit.ports import ApplicationWriter, DocumentWriter
from tools.ledger.ports import LedgerWriter
from tools.loans.ports import LoanWriter
from tools.marketplace.ports import BidWriter, ProviderWriter
from tools.payments.ports import PaymentWriter
from tools.platform.errors import Unavailable
from tools.platform.ports import (
    AuditRecord,
    IdempotencyClaim,
    IdempotencyOutcome,
    OutboxEvent,
    UnitOfWorkFactory,
)
from tools.platform.transactions import Attempt, current_attempt, note_commit, roll_back, transaction
from tools.risk.ports import RiskWriter

__all__ = ["PgUnitOfWork", "is_transient", "pg_unit_of_work", "retry_transient"]

log = logging.getLogger("caas.transactions")
R = TypeVar("R")
# Deadlock detected, serialization failure: the database rolled the transaction back and says so.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 4
BACKOFF_BASE_S = 0.02
BACKOFF_CAP_S = 0.25


class PgUnitOfWork:
    def __init__(self, conn: Connection, *, transaction: bool = True) -> None:
        self._conn = conn
        # Capital given back to lenders, written with COMMIT (``commit``); a unit of work without a
        # transaction has no COMMIT to write it with, and refuses it.
        self._capital = CapitalAtCommit(enabled=transaction)
        # Declared as the ports' Protocols: mypy checks each writer against its port here, and this
        # unit of work against every service's unit-of-work Protocol where it is wired.
        self.applications: ApplicationWriter = PgApplicationWriter(conn)
        self.documents: DocumentWriter = PgDocumentWriter(conn)
        self.risk: RiskWriter = PgRiskWriter(conn)
        self.ledger: LedgerWriter = PgLedgerWriter(conn)
        self.loans: LoanWriter = PgLoanWriter(conn)
        self.providers: ProviderWriter = PgProviderWriter(conn, self._capital)
        self.bids: BidWriter = PgBidWriter(conn, self._capital)
        self.payments: PaymentWriter = PgPaymentWriter(conn, self._capital)

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

    async def release_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM caas_core.idempotency_keys "
            "WHERE principal_id = $1 AND operation = $2 AND key = $3 AND resource_id = $4",
            claim.principal_id,
            claim.operation,
            claim.key,
            resource_id,
        )

    async def commit(self) -> None:
        """COMMIT, with the capital given back to lenders in the same query (capital_at_commit)."""
        await self._conn.execute(self._capital.commit_sql())

    async def record(
        self,
        audit: AuditRecord,
        events: Sequence[OutboxEvent] = (),
        *,
        completes: IdempotencyClaim | None = None,
    ) -> None:
        await record_audit(self._conn, audit, events, completes)


class _OneStatement:
    """The connection of a ``single_statement`` unit of work: its one statement runs, a second raises
    (without a transaction it would commit apart from the first). Methods other than these four are
    absent on purpose: a writer that needs one does not belong in a single-statement block."""

    __slots__ = ("_conn", "_used")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._used = False

    def _take(self) -> Connection:
        if self._used:
            raise AssertionError("a single_statement unit of work made a second statement")
        self._used = True
        return self._conn

    async def execute(self, query: str, *args: object) -> str:
        return await self._take().execute(query, *args)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        return await self._take().fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        return await self._take().fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> object:
        return await self._take().fetchval(query, *args)


def pg_unit_of_work(pool: asyncpg.Pool, *, pooled: bool = False) -> UnitOfWorkFactory[PgUnitOfWork]:
    """Each call opens one transaction on one pooled connection, or none for a ``single_statement``
    block, whose one statement is atomic on its own. ``pooled``: ``pool`` goes through a transaction
    pooler, where a statement outside a transaction may be prepared on one server connection and run
    on another; there a single statement keeps its transaction. Typed precisely, so that mypy checks
    ``PgUnitOfWork`` against every service's unit-of-work Protocol where ``mcp_servers.wiring`` hands
    this factory to the use cases."""

    @asynccontextmanager
    async def factory(*, single_statement: bool = False) -> AsyncIterator[PgUnitOfWork]:
        async with pool.acquire() as conn:
            if not single_statement:
                # BEGIN and COMMIT by hand, not asyncpg's ``transaction()``: COMMIT carries the
                # capital given back to lenders (``PgUnitOfWork.commit``).
                await conn.execute("BEGIN")
                try:
                    uow = PgUnitOfWork(conn)
                    yield uow
                    await uow.commit()
                except BaseException:
                    await roll_back(conn)
                    raise
            elif pooled:
                async with transaction(conn):
                    yield PgUnitOfWork(cast(Connection, _OneStatement(conn)), transaction=False)
            else:
                yield PgUnitOfWork(cast(Connection, _OneStatement(conn)), transaction=False)
        note_commit()

    return factory


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is, or was raised while handling, a deadlock or serialization failure."""
    seen: BaseException | None = exc
    for _ in range(8):  # a use case may have wrapped it; the chain is short
        if seen is None:
            return False
        if isinstance(seen, asyncpg.PostgresError) and seen.sqlstate in TRANSIENT_SQLSTATES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def retry_transient(run: Callable[[], Awaitable[R]], *, attempts: int = ATTEMPTS) -> R:
    """Run ``run``; when the database aborts its transaction to break a deadlock or a serialization
    conflict, run it again (up to ``attempts`` runs, with jittered exponential backoff so that the
    transactions that collided do not collide again in step). Replaying is safe because the aborted
    transaction kept nothing and idempotency keys are claimed inside it; a run that already committed a
    transaction or wrote outside the database (``tools.platform.transactions``) is not replayed. What
    is not replayed becomes ``unavailable``, which tells the caller to retry with the same arguments."""
    variable = current_attempt()
    for n in range(1, attempts + 1):
        attempt = Attempt()
        token = variable.set(attempt)
        try:
            return await run()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if not attempt.replayable or n == attempts:
                log.warning("transaction conflict not replayed (run %d of %d)", n, attempts)
                raise Unavailable(
                    "this call collided with concurrent calls on the same records and the database rolled "
                    "its last step back; call it again with the same arguments (and idempotency_key)"
                ) from None
            log.info("transaction conflict, replaying the call (run %d of %d)", n, attempts)
        finally:
            variable.reset(token)
        # Full jitter: a random wait up to an exponentially growing cap.
        await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**n)))  # noqa: S311
    raise AssertionError("unreachable")  # pragma: no cover
