"""Applications in ``caas_core``: the reader (pool) and the writer (inside a unit of work)."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any
from uuid import UUID

import asyncpg

from database.audit import Connection
from tools.domain.applications import ApplicationRecord, NewApplication
from tools.ports import ApplicationQuery

__all__ = ["PgApplicationReader", "PgApplicationWriter"]

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


class PgApplicationWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, new: NewApplication) -> ApplicationRecord:
        row = await self._conn.fetchrow(_INSERT, *(getattr(new, c) for c in _NEW_COLUMNS))
        assert row is not None
        return _record(row)
