"""Support chat in the Supabase tables (0003: conversations and messages; 0004: closing and read
markers), as ``service_role`` through the direct Postgres connection."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from database.notifications.notifications import Connection, add_notification, service_connection
from database.sql import Filters
from tools.notifications.ports import ConversationRecord, ConversationSummary, MessageRecord, NewNotification

__all__ = ["PgSupportStore"]

_CONVERSATION = "id, user_id, application_id, subject, status, created_at, updated_at, closed_at, closed_by"
_MESSAGE = "id, conversation_id, author_id, author_role, body, created_at"

_SUMMARIES = f"""
SELECT {", ".join(f"c.{c.strip()}" for c in _CONVERSATION.split(","))},
       m.id AS m_id, m.author_id AS m_author_id, m.author_role AS m_author_role, m.body AS m_body,
       m.created_at AS m_created_at,
       (SELECT count(*) FROM public.support_messages x
        WHERE x.conversation_id = c.id AND x.author_id <> $1
          AND x.created_at > coalesce(r.last_read_at, '-infinity')) AS unread
FROM public.support_conversations c
LEFT JOIN public.support_conversation_reads r ON r.conversation_id = c.id AND r.reader_id = $1
LEFT JOIN LATERAL (
    SELECT id, author_id, author_role, body, created_at FROM public.support_messages
    WHERE conversation_id = c.id ORDER BY created_at DESC, id DESC LIMIT 1
) m ON true
"""


def _conversation(row: asyncpg.Record) -> ConversationRecord:
    return ConversationRecord(**{k: row[k] for k in (c.strip() for c in _CONVERSATION.split(","))})


def _message(row: asyncpg.Record) -> MessageRecord:
    return MessageRecord(**dict(row.items()))


async def _mark_read(conn: Connection, conversation_id: UUID, reader_id: str) -> None:
    await conn.execute(
        """
        INSERT INTO public.support_conversation_reads (conversation_id, reader_id, last_read_at)
        VALUES ($1, $2, now())
        ON CONFLICT (conversation_id, reader_id) DO UPDATE SET last_read_at = now()
        """,
        conversation_id,
        reader_id,
    )


class PgSupportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(
        self, user_id: str, application_id: UUID | None, subject: str, author_role: str, body: str
    ) -> tuple[ConversationRecord, MessageRecord]:
        async with service_connection(self._pool) as conn:
            conversation = await conn.fetchrow(
                f"INSERT INTO public.support_conversations (user_id, application_id, subject) "
                f"VALUES ($1, $2, $3) RETURNING {_CONVERSATION}",
                user_id,
                application_id,
                subject,
            )
            assert conversation is not None
            first = await conn.fetchrow(
                f"INSERT INTO public.support_messages (conversation_id, author_id, author_role, body) "
                f"VALUES ($1, $2, $3, $4) RETURNING {_MESSAGE}",
                conversation["id"],
                user_id,
                author_role,
                body,
            )
            assert first is not None
            await _mark_read(conn, conversation["id"], user_id)
        return _conversation(conversation), _message(first)

    async def get(self, conversation_id: UUID) -> ConversationRecord | None:
        async with service_connection(self._pool) as conn:
            row = await conn.fetchrow(
                f"SELECT {_CONVERSATION} FROM public.support_conversations WHERE id = $1", conversation_id
            )
        return None if row is None else _conversation(row)

    async def post(
        self,
        conversation_id: UUID,
        message_id: UUID,
        author_id: str,
        author_role: str,
        body: str,
        notify: NewNotification | None,
    ) -> MessageRecord | None:
        async with service_connection(self._pool) as conn:
            # The conversation row is locked while the message goes in, so a close either happens
            # before (and the post is refused) or after it.
            row = await conn.fetchrow(
                f"""
                WITH open_one AS (
                    SELECT id FROM public.support_conversations
                    WHERE id = $1 AND status = 'open' FOR UPDATE
                )
                INSERT INTO public.support_messages (id, conversation_id, author_id, author_role, body)
                SELECT $2, id, $3, $4, $5 FROM open_one
                RETURNING {_MESSAGE}
                """,
                conversation_id,
                message_id,
                author_id,
                author_role,
                body,
            )
            if row is None:
                return None
            await _mark_read(conn, conversation_id, author_id)
            if notify is not None:
                await add_notification(conn, notify)
        return _message(row)

    async def messages(
        self, conversation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[MessageRecord]:
        f = Filters(conversation_id)
        f.add("conversation_id = $1")
        if after is not None:
            f.add(f"(created_at, id) > ({f.arg(after[0])}, {f.arg(after[1])})")
        where = " AND ".join(f.clauses)
        sql = (
            f"SELECT {_MESSAGE} FROM public.support_messages WHERE {where} "
            f"ORDER BY created_at, id LIMIT {f.arg(limit)}"
        )
        async with service_connection(self._pool) as conn:
            rows = await conn.fetch(sql, *f.args)
        return [_message(r) for r in rows]

    async def mark_read(self, conversation_id: UUID, reader_id: str) -> None:
        async with service_connection(self._pool) as conn:
            await _mark_read(conn, conversation_id, reader_id)

    async def summaries(
        self,
        reader_id: str,
        owner_id: str | None,
        status: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[ConversationSummary]:
        f = Filters(reader_id)
        if owner_id is not None:
            f.add(f"c.user_id = {f.arg(owner_id)}")
        if status is not None:
            f.add(f"c.status = {f.arg(status)}")
        f.keyset(("c.updated_at", "c.id"), after)
        sql = f.page(_SUMMARIES, ("c.updated_at", "c.id"), limit)
        async with service_connection(self._pool) as conn:
            rows = await conn.fetch(sql, *f.args)
        return [
            ConversationSummary(
                conversation=_conversation(r),
                last_message=None
                if r["m_id"] is None
                else MessageRecord(
                    id=r["m_id"],
                    conversation_id=r["id"],
                    author_id=r["m_author_id"],
                    author_role=r["m_author_role"],
                    body=r["m_body"],
                    created_at=r["m_created_at"],
                ),
                unread_count=r["unread"],
            )
            for r in rows
        ]

    async def close(self, conversation_id: UUID, closed_by: str) -> ConversationRecord | None:
        async with service_connection(self._pool) as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE public.support_conversations SET status = 'closed', closed_at = now(), closed_by = $2
                WHERE id = $1 AND status = 'open'
                RETURNING {_CONVERSATION}
                """,
                conversation_id,
                closed_by,
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {_CONVERSATION} FROM public.support_conversations WHERE id = $1", conversation_id
                )
        return None if row is None else _conversation(row)
