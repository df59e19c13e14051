"""Notifications and channel preferences in the Supabase tables (migrations 0003 and 0004), through the
direct Postgres connection.

Every statement runs in a transaction as ``service_role``, so this server has exactly the rights the
hosted service role has (the tables force row-level security, even on their owner).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from database.sql import Filters
from tools.notifications.ports import DeliveryStatus, NewNotification, NotificationRecord, PreferenceRow
from tools.platform.transactions import transaction

__all__ = ["PgNotificationStore", "service_connection"]

Connection = asyncpg.Connection | PoolConnectionProxy

_COLUMNS = (
    "id, event_id, user_id, application_id, kind, channel, title, body, delivery_status, attempts, "
    "created_at, read_at"
)
_FIELDS = tuple(name.strip() for name in _COLUMNS.split(","))

# Insert once; a concurrent or repeated insert of the same (event, user, channel) gets the first row.
_ADDED = f"""added AS (
    INSERT INTO public.notifications
        (id, event_id, user_id, application_id, kind, channel, title, body, delivery_status)
    VALUES (coalesce($9::uuid, gen_random_uuid()), $1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (event_id, user_id, channel) DO NOTHING
    RETURNING {_COLUMNS}
)"""
_STORED = f"""
SELECT {_COLUMNS} FROM added
UNION ALL
SELECT {_COLUMNS} FROM public.notifications
WHERE event_id = $1 AND user_id = $2 AND channel = $5 AND NOT EXISTS (SELECT 1 FROM added)
"""
_ADD = f"WITH {_ADDED}{_STORED}"
# The same, and the user's channel preferences beside the row (in ``_preferences``'s order), in one
# statement. No row comes back only when a concurrent insert of the same row committed after this
# statement's snapshot: then ``id`` is NULL and the row is read again.
_ADD_READING_PREFERENCES = f"""
WITH {_ADDED}, stored AS ({_STORED}), preferences AS (
    SELECT array_agg(event_kind ORDER BY event_kind, channel) AS pref_kinds,
           array_agg(channel ORDER BY event_kind, channel) AS pref_channels,
           array_agg(enabled ORDER BY event_kind, channel) AS pref_enabled,
           array_agg(updated_at ORDER BY event_kind, channel) AS pref_updated
    FROM public.notification_preferences WHERE user_id = $2
)
SELECT stored.*, preferences.* FROM preferences LEFT JOIN stored ON true
"""


@asynccontextmanager
async def service_connection(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A pooled connection in a transaction with the service role's rights, no more. BEGIN and the
    role are one simple query: one round trip (asyncpg's ``transaction()`` sends BEGIN alone)."""
    async with pool.acquire() as conn, transaction(conn, "BEGIN; SET LOCAL ROLE service_role"):
        yield conn


def notification(row: asyncpg.Record) -> NotificationRecord:
    return NotificationRecord(**dict(row.items()))


class PgNotificationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, new: NewNotification) -> NotificationRecord:
        async with service_connection(self._pool) as conn:
            row = await add_notification(conn, new)
        return row

    async def delivered(
        self, notification_id: UUID, status: DeliveryStatus, message_id: str | None, error: str | None
    ) -> None:
        async with service_connection(self._pool) as conn:
            await conn.execute(
                """
                UPDATE public.notifications
                SET delivery_status = $2, provider_message_id = coalesce($3, provider_message_id),
                    last_error = $4, attempts = attempts + 1
                WHERE id = $1 AND delivery_status = 'pending'
                """,
                notification_id,
                status,
                message_id,
                error,
            )

    async def inbox(
        self, user_id: str, unread_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[NotificationRecord]:
        f = Filters(user_id)
        f.add("user_id = $1")
        f.add("channel = 'in_app'")
        if unread_only:
            f.add("read_at IS NULL")
        f.keyset(("created_at", "id"), after)
        sql = f.page(f"SELECT {_COLUMNS} FROM public.notifications", ("created_at", "id"), limit)
        async with service_connection(self._pool) as conn:
            rows = await conn.fetch(sql, *f.args)
        return [notification(r) for r in rows]

    async def unread_count(self, user_id: str) -> int:
        async with service_connection(self._pool) as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM public.notifications "
                "WHERE user_id = $1 AND channel = 'in_app' AND read_at IS NULL",
                user_id,
            )
        return count

    async def mark_read(self, user_id: str, notification_id: UUID) -> NotificationRecord | None:
        async with service_connection(self._pool) as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE public.notifications SET read_at = coalesce(read_at, now())
                WHERE id = $1 AND user_id = $2 AND channel = 'in_app'
                RETURNING {_COLUMNS}
                """,
                notification_id,
                user_id,
            )
        return None if row is None else notification(row)

    async def preferences(self, user_id: str) -> list[PreferenceRow]:
        async with service_connection(self._pool) as conn:
            return await _preferences(conn, user_id)

    async def add_reading_preferences(
        self, new: NewNotification
    ) -> tuple[NotificationRecord, list[PreferenceRow]]:
        # One service transaction and one statement: the worker stores a notice per borrower event.
        async with service_connection(self._pool) as conn:
            got = await conn.fetchrow(_ADD_READING_PREFERENCES, *_add_args(new))
            assert got is not None  # the preferences' aggregate is always one row
            row = await _stored_again(conn, new) if got["id"] is None else _notification_of(got)
        columns = (got["pref_kinds"], got["pref_channels"], got["pref_enabled"], got["pref_updated"])
        return row, [PreferenceRow(*p) for p in zip(*(c or [] for c in columns), strict=True)]

    async def set_preferences(self, user_id: str, rows: list[PreferenceRow]) -> list[PreferenceRow]:
        async with service_connection(self._pool) as conn:
            await conn.execute(
                """
                INSERT INTO public.notification_preferences (user_id, event_kind, channel, enabled)
                SELECT $1, * FROM unnest($2::text[], $3::text[], $4::boolean[])
                ON CONFLICT (user_id, event_kind, channel) DO UPDATE SET enabled = EXCLUDED.enabled
                """,
                user_id,
                [r.kind for r in rows],
                [r.channel for r in rows],
                [r.enabled for r in rows],
            )
            return await _preferences(conn, user_id)


def _add_args(new: NewNotification) -> tuple[object, ...]:
    return (
        new.event_id,
        new.user_id,
        new.application_id,
        new.kind,
        new.channel,
        new.title,
        new.body,
        new.status,
        new.id,
    )


def _notification_of(row: asyncpg.Record) -> NotificationRecord:
    return NotificationRecord(**{name: row[name] for name in _FIELDS})


async def add_notification(conn: Connection, new: NewNotification) -> NotificationRecord:
    row = await conn.fetchrow(_ADD, *_add_args(new))
    return notification(row) if row is not None else await _stored_again(conn, new)


async def _stored_again(conn: Connection, new: NewNotification) -> NotificationRecord:
    # A concurrent insert of the same row committed after the insert's snapshot was taken: a new
    # statement sees it.
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM public.notifications WHERE event_id = $1 AND user_id = $2 AND channel = $3",
        new.event_id,
        new.user_id,
        new.channel,
    )
    assert row is not None  # inserted, or the row that was there
    return notification(row)


async def _preferences(conn: Connection, user_id: str) -> list[PreferenceRow]:
    rows = await conn.fetch(
        "SELECT event_kind, channel, enabled, updated_at FROM public.notification_preferences "
        "WHERE user_id = $1 ORDER BY event_kind, channel",
        user_id,
    )
    return [PreferenceRow(r["event_kind"], r["channel"], r["enabled"], r["updated_at"]) for r in rows]
