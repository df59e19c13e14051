"""Applications in ``caas_core``: the reader (pool) and the writer (inside a unit of work)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from uuid import UUID

import asyncpg

from database.marketplace.bids import PgBidWriter
from database.platform.audit import Connection, audit_args, audit_row_sql, iso_timestamp_sql
from database.sql import Filters
from tools.credit.domain.applications import ApplicationRecord, NewApplication, Transition
from tools.credit.lifecycle import status_event_fields
from tools.credit.ports import ApplicationQuery
from tools.marketplace.domain.bids import BidRecord
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal

__all__ = ["PgApplicationReader", "PgApplicationWriter"]

_NEW_COLUMNS = [f.name for f in fields(NewApplication)]
_RECORD_COLUMNS = [f.name for f in fields(ApplicationRecord)]
_SELECT = f"SELECT {', '.join(_RECORD_COLUMNS)} FROM caas_core.applications"
_REFERENCE = re.compile(r"^CAAS-\d{4}-\d{6,}$")

_N = len(_NEW_COLUMNS)
# The application and the first entry of its timeline in one round trip.
_INSERT = f"""
WITH app AS (
    INSERT INTO caas_core.applications ({", ".join(_NEW_COLUMNS)}, reference, submitted_at, updated_by)
    VALUES ({", ".join(f"${i}" for i in range(1, _N + 1))},
            'CAAS-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-'
                || lpad(nextval('caas_core.application_reference_seq')::text, 6, '0'),
            CASE WHEN ${_NEW_COLUMNS.index("status") + 1} = 'submitted' THEN now() END,
            ${_NEW_COLUMNS.index("created_by") + 1})
    RETURNING *
), entry AS (
    INSERT INTO caas_core.application_transitions
        (application_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT id, NULL, status, created_by, created_by_role, ${_N + 1} FROM app
)
SELECT {", ".join(_RECORD_COLUMNS)} FROM app
"""


def _status_events_sql(source: str, first: int) -> str:
    """An INSERT of the status event of the application the CTE ``source`` returns, as
    ``tools.credit.lifecycle.status_event`` builds it from that row (the fields known before the
    statement in parameter ``$first``, those the statement assigns added here), followed by the events
    of parameters ``$first + 1`` to ``$first + 4`` (arrays of type, id, event type and payload), in
    that order of outbox ids."""
    occurred_at = iso_timestamp_sql("status_changed_at")
    return f"""
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT aggregate_type, aggregate_id, event_type, payload FROM (
        SELECT 0::bigint AS n, 'application' AS aggregate_type, id::text AS aggregate_id,
               'application.' || status AS event_type,
               ${first}::jsonb || jsonb_build_object('application_id', id::text, 'reference', reference,
                                                     'occurred_at', {occurred_at}) AS payload
        FROM {source}
        UNION ALL
        SELECT e.n, e.aggregate_type, e.aggregate_id, e.event_type, e.payload
        FROM unnest(${first + 1}::text[], ${first + 2}::text[], ${first + 3}::text[], ${first + 4}::jsonb[])
             WITH ORDINALITY AS e(aggregate_type, aggregate_id, event_type, payload, n)
        WHERE EXISTS (SELECT 1 FROM {source})
    ) AS events ORDER BY n"""


def _recorded(statement: str, source: str, first: int) -> str:
    """``statement`` (CTEs, then its final SELECT) with the audit row and the events of its change."""
    return statement.replace(
        "\nSELECT ",
        f"""
, audit AS ({audit_row_sql(first, "application", "id::text", source)}
), events AS ({_status_events_sql(source, first + 7)}
)
SELECT """,
        1,
    )


def _events_args(events: Sequence[OutboxEvent]) -> list[object]:
    return [
        [e.aggregate_type for e in events],
        [e.aggregate_id for e in events],
        [e.event_type for e in events],
        [e.payload for e in events],
    ]


# A new application, its timeline entry, its audit row and its status event: the whole state change in
# one statement, atomic without an explicit transaction.
_INSERT_RECORDED = _recorded(_INSERT, "app", _N + 2)
_MOVE = f"""
WITH moved AS (
    UPDATE caas_core.applications
    SET status = $2, status_changed_at = now(), updated_at = now(), version = version + 1,
        updated_by = $4,
        submitted_at = CASE WHEN $2 = 'submitted' THEN now() ELSE submitted_at END
    WHERE id = $1
    RETURNING *
), entry AS (
    INSERT INTO caas_core.application_transitions
        (application_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT id, $3, $2, $4, $5, $6 FROM moved
)
SELECT {", ".join(_RECORD_COLUMNS)} FROM moved
"""
# A transition with its audit row, status event and the events that go with it, in one statement.
_MOVE_RECORDED = _recorded(_MOVE, "moved", 7)


def _record(row: asyncpg.Record) -> ApplicationRecord:
    return ApplicationRecord(**dict(row.items()))


def _key(id_or_reference: str) -> tuple[str, object] | None:
    """The WHERE clause and value that find an application by reference or id; None if neither."""
    key = id_or_reference.strip()
    if _REFERENCE.match(key):
        return "reference = $1", key
    try:
        return "id = $1", UUID(key)
    except ValueError:
        return None


class PgApplicationReader:
    def __init__(self, pool: asyncpg.Pool | Connection) -> None:
        self._pool = pool

    async def get(self, id_or_reference: str) -> ApplicationRecord | None:
        where = _key(id_or_reference)
        if where is None:
            return None
        row = await self._pool.fetchrow(f"{_SELECT} WHERE {where[0]}", where[1])
        return _record(row) if row else None

    async def offer_valid_until(self, application_id: UUID) -> datetime | None:
        valid_until: datetime | None = await self._pool.fetchval(
            "SELECT valid_until FROM caas_core.bids WHERE application_id = $1 AND status = 'accepted'",
            application_id,
        )
        return valid_until

    async def timeline(self, application_id: UUID) -> list[Transition]:
        rows = await self._pool.fetch(
            "SELECT from_status, to_status, actor_id, actor_role, reason, occurred_at "
            "FROM caas_core.application_transitions WHERE application_id = $1 ORDER BY id",
            application_id,
        )
        return [Transition(**dict(r.items())) for r in rows]

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]:
        f = Filters()
        if query.statuses:
            f.add(f"status = ANY({f.arg(list(query.statuses))}::text[])")
        if query.borrower_id is not None:
            f.add(f"borrower_id = {f.arg(query.borrower_id)}")
        if query.created_by is not None:
            f.add(f"created_by = {f.arg(query.created_by)}")
        if query.created_from is not None:
            f.add(f"created_at >= {f.arg(query.created_from)}")
        if query.created_to is not None:
            f.add(f"created_at < {f.arg(query.created_to)}")
        if query.national_id_index is not None:
            f.add(f"national_id_index = {f.arg(query.national_id_index)}")
        f.keyset(("created_at", "id"), query.after)
        sql = f.page(_SELECT, ("created_at", "id"), query.limit)
        return [_record(r) for r in await self._pool.fetch(sql, *f.args)]


class PgApplicationWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def timeline(self, application_id: UUID) -> list[Transition]:
        return await PgApplicationReader(self._conn).timeline(application_id)

    async def insert(
        self, new: NewApplication, reason: str, call: Invocation | None = None
    ) -> ApplicationRecord:
        """Store a new application and open its timeline with ``reason``; with ``call``, its audit row
        and status event too, all in one statement."""
        values = [getattr(new, c) for c in _NEW_COLUMNS]
        if call is None:
            row = await self._conn.fetchrow(_INSERT, *values, reason)
        else:
            payload = status_event_fields(new, new.status, None, reason)
            row = await self._conn.fetchrow(
                _INSERT_RECORDED, *values, reason, *audit_args(call), payload, *_events_args(())
            )
        assert row is not None
        return _record(row)

    async def lock(self, id_or_reference: str) -> ApplicationRecord | None:
        """Read the application and hold its row until the transaction ends, so that two concurrent
        transitions are serialised and the second sees the first one's result."""
        where = _key(id_or_reference)
        if where is None:
            return None
        row = await self._conn.fetchrow(f"{_SELECT} WHERE {where[0]} FOR NO KEY UPDATE", where[1])
        return _record(row) if row else None

    async def lock_stale_open(self, opened_before: datetime, limit: int) -> list[ApplicationRecord]:
        """Open applications past their bidding window that no other transaction is handling."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE status = 'open_for_bids' AND status_changed_at < $1 "
            "ORDER BY status_changed_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            opened_before,
            limit,
        )
        return [_record(r) for r in rows]

    async def has_loan(self, application_id: UUID) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM caas_core.loans WHERE application_id = $1)", application_id
            )
        )

    async def lock_lapsed_offers(self, now: datetime, limit: int) -> list[ApplicationRecord]:
        """Applications whose accepted offer's validity passed before a loan was made from it, that no
        other transaction is handling. Driven by the few applications in offer_accepted or approved
        (their status index), never by the accepted bids, which every loan keeps."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE status IN ('offer_accepted', 'approved') "
            "AND NOT EXISTS (SELECT 1 FROM caas_core.loans l WHERE l.application_id = applications.id) "
            "AND EXISTS (SELECT 1 FROM caas_core.bids b "
            "WHERE b.application_id = applications.id AND b.status = 'accepted' AND b.valid_until <= $1) "
            "ORDER BY status_changed_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        return [_record(r) for r in rows]

    async def end_active_bids(self, application_id: UUID, *, lapsed: bool) -> list[BidRecord]:
        writer = PgBidWriter(self._conn)
        await writer.expire_invitations(application_id, tally=lapsed)
        return await writer.expire_active(application_id)

    async def move(
        self,
        app: ApplicationRecord,
        to_status: str,
        actor: Principal,
        reason: str,
        call: Invocation | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> ApplicationRecord:
        """Change the status and append the timeline entry, in the caller's transaction; with ``call``,
        the audit row, the status event and ``events`` in the same statement."""
        args = [app.id, to_status, app.status, actor.subject, actor.role.value, reason]
        if call is None:
            row = await self._conn.fetchrow(_MOVE, *args)
        else:
            payload = status_event_fields(app, to_status, app.status, reason)
            row = await self._conn.fetchrow(
                _MOVE_RECORDED, *args, *audit_args(call), payload, *_events_args(events)
            )
        assert row is not None
        return _record(row)

    async def update_draft(self, app_id: UUID, new: NewApplication, actor: Principal) -> ApplicationRecord:
        """Overwrite a draft's fields; the caller holds the row lock and has checked it is a draft."""
        editable = [
            c for c in _NEW_COLUMNS if c not in ("borrower_id", "created_by", "created_by_role", "status")
        ]
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(editable, start=3))
        row = await self._conn.fetchrow(
            f"UPDATE caas_core.applications SET {sets}, updated_at = now(), version = version + 1, "
            "updated_by = $2, edited_by = CASE WHEN $2 = ANY(edited_by) THEN edited_by "
            "ELSE array_append(edited_by, $2) END "
            f"WHERE id = $1 AND status = 'draft' RETURNING {', '.join(_RECORD_COLUMNS)}",
            app_id,
            actor.subject,
            *(getattr(new, c) for c in editable),
        )
        assert row is not None
        return _record(row)
