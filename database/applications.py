"""Applications in ``caas_core``: the reader, the writer, and the unit of work that commits them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tools.domain.applications import ApplicationRecord, NewApplication
from tools.ports import ApplicationQuery, AuditRecord, IdempotencyClaim, IdempotencyOutcome, OutboxEvent

__all__ = ["PgApplicationReader", "PgUnitOfWork", "pg_unit_of_work"]

Connection = asyncpg.Connection | PoolConnectionProxy

_NEW_COLUMNS = [f.name for f in fields(NewApplication)]
_RECORD_COLUMNS = [f.name for f in fields(ApplicationRecord)]
_SELECT = f"SELECT {', '.join(_RECORD_COLUMNS)} FROM caas_core.applications"
_REFERENCE = re.compile(r"^CAAS-\d{4}-\d{6,}$")

_INSERT = f"""
INSERT INTO caas_core.applications ({", ".join(_NEW_COLUMNS)}, reference, submitted_at)
VALUES ({", ".join(f"${i}" for i in range(1, len(_NEW_COLUMNS) + 1))},
        'CAAS-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-'
            || lpad(nextval('caas_core.application_reference_seq')::text, 6, '0'),
        now())
RETURNING {", ".join(_RECORD_COLUMNS)}
"""

# Audit row and outbox events in one round trip; the statement is atomic with the transaction.
_RECORD = """
WITH audit AS (
    INSERT INTO caas_audit.audit_log
        (principal_id, principal_role, provider_id, tool, object_type, object_id, args_sha256, outcome,
         request_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
)
INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::jsonb[])
"""


def _record(row: asyncpg.Record) -> ApplicationRecord:
    return ApplicationRecord(**dict(row.items()))


class PgApplicationReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, id_or_reference: str) -> ApplicationRecord | None:
        key = id_or_reference.strip()
        if _REFERENCE.match(key):
            row = await self._pool.fetchrow(f"{_SELECT} WHERE reference = $1", key)
        else:
            try:
                app_id = UUID(key)
            except ValueError:
                return None
            row = await self._pool.fetchrow(f"{_SELECT} WHERE id = $1", app_id)
        return _record(row) if row else None

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]:
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.statuses:
            where.append(f"status = ANY({arg(list(query.statuses))}::text[])")
        if query.borrower_id is not None:
            where.append(f"borrower_id = {arg(query.borrower_id)}")
        if query.created_by is not None:
            where.append(f"created_by = {arg(query.created_by)}")
        if query.created_from is not None:
            where.append(f"created_at >= {arg(query.created_from)}")
        if query.created_to is not None:
            where.append(f"created_at < {arg(query.created_to)}")
        if query.after is not None:
            where.append(f"(created_at, id) < ({arg(query.after[0])}, {arg(query.after[1])})")
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY created_at DESC, id DESC LIMIT {arg(query.limit)}"
        return [_record(r) for r in await self._pool.fetch(sql, *args)]


class _PgApplicationWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, new: NewApplication) -> ApplicationRecord:
        row = await self._conn.fetchrow(_INSERT, *(getattr(new, c) for c in _NEW_COLUMNS))
        assert row is not None
        return _record(row)


class PgUnitOfWork:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.applications = _PgApplicationWriter(conn)

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
        call = audit.invocation
        await self._conn.execute(
            _RECORD,
            call.principal.subject,
            call.principal.role.value,
            call.principal.provider_id,
            call.tool,
            audit.object_type,
            audit.object_id,
            call.args_sha256,
            audit.outcome,
            call.request_id,
            [e.aggregate_type for e in events],
            [e.aggregate_id for e in events],
            [e.event_type for e in events],
            [e.payload for e in events],
        )


def pg_unit_of_work(pool: asyncpg.Pool) -> Any:
    """A ``UnitOfWorkFactory``: each call opens one transaction on one pooled connection."""

    @asynccontextmanager
    async def factory() -> AsyncIterator[PgUnitOfWork]:
        async with pool.acquire() as conn, conn.transaction():
            yield PgUnitOfWork(conn)

    return factory
