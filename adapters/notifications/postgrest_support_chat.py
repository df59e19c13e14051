"""Support chat in the Supabase tables through PostgREST (supabase-py), for when only ``SUPABASE_URL``
and the service-role key are configured. Same port and rows as
``database.notifications.support_chat.PgSupportStore``.

PostgREST runs each request in its own transaction, so what the SQL store does in one transaction is
a sequence of requests here, ordered so that a failure part-way leaves the least behind. The weaker
guarantees, each noted where it happens:

- ``open``: if the first message cannot be stored, the new conversation is deleted again (best
  effort; if Supabase is down for that too, an empty conversation remains, listed without a message).
- ``post``: the conversation is checked open, then the message inserted. The SQL store locks the
  conversation row in between; here a close that lands between the two requests lets this one
  message in just after the close. The author's read marker and the owner's in-app notice follow
  the message; if either fails, the message stands (failing the call would invite a duplicate post)
  and the failure is logged.
- read markers take the database time of the newest message read (``created_at``), so unread counts
  compare database times only; a marker only ever moves forward.
- ``closed_at`` is this process's clock, not the database's now().
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from postgrest import AsyncRequestBuilder, CountMethod

from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
from adapters.platform.supabase_rest import (
    SupabaseRest,
    SupabaseUnavailable,
    gather_all,
    jsonable,
    keyset_filter,
    now,
    timestamp,
    uuid_or_none,
)
from tools.notifications.ports import ConversationRecord, ConversationSummary, MessageRecord, NewNotification

__all__ = ["PostgrestSupportStore"]

log = logging.getLogger("caas.adapters.supabase_support")

_CONVERSATION = "id,user_id,application_id,subject,status,created_at,updated_at,closed_at,closed_by"
_MESSAGE = "id,conversation_id,author_id,author_role,body,created_at"


def _conversation(row: dict[str, Any]) -> ConversationRecord:
    return ConversationRecord(
        id=UUID(str(row["id"])),
        user_id=row["user_id"],
        application_id=uuid_or_none(row["application_id"]),
        subject=row["subject"],
        status=row["status"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        closed_at=None if row["closed_at"] is None else timestamp(row["closed_at"]),
        closed_by=row["closed_by"],
    )


def _message(row: dict[str, Any]) -> MessageRecord:
    return MessageRecord(
        id=UUID(str(row["id"])),
        conversation_id=UUID(str(row["conversation_id"])),
        author_id=row["author_id"],
        author_role=row["author_role"],
        body=row["body"],
        created_at=timestamp(row["created_at"]),
    )


class PostgrestSupportStore:
    def __init__(self, rest: SupabaseRest, notifications: PostgrestNotificationStore) -> None:
        self._rest = rest
        self._notifications = notifications

    def _conversations(self) -> AsyncRequestBuilder:
        return self._rest.table("support_conversations")

    def _messages(self) -> AsyncRequestBuilder:
        return self._rest.table("support_messages")

    def _reads(self) -> AsyncRequestBuilder:
        return self._rest.table("support_conversation_reads")

    async def _insert_message(self, row: dict[str, Any]) -> dict[str, Any]:
        [stored] = await self._rest.rows(self._messages().insert(jsonable(row)))
        return stored

    async def _read_up_to(self, conversation_id: UUID, reader_id: str, at: str) -> None:
        """The reader has read everything up to ``at``: insert the marker, or move it forward."""
        marker = {"conversation_id": str(conversation_id), "reader_id": reader_id, "last_read_at": at}
        inserted = await self._rest.rows(
            self._reads().upsert(marker, on_conflict="conversation_id,reader_id", ignore_duplicates=True)
        )
        if not inserted:
            await self._rest.rows(
                self._reads()
                .update({"last_read_at": at})
                .eq("conversation_id", str(conversation_id))
                .eq("reader_id", reader_id)
                .lt("last_read_at", at)
            )

    async def _after_message(self, what: str, conversation_id: UUID, step: Awaitable[object]) -> None:
        try:
            await step
        except SupabaseUnavailable as exc:
            log.warning("support conversation %s: %s not stored: %s", conversation_id, what, exc.message)

    async def open(
        self, user_id: str, application_id: UUID | None, subject: str, author_role: str, body: str
    ) -> tuple[ConversationRecord, MessageRecord]:
        conversation_id = uuid4()
        [conversation] = await self._rest.rows(
            self._conversations().insert(
                jsonable(
                    {
                        "id": conversation_id,
                        "user_id": user_id,
                        "application_id": application_id,
                        "subject": subject,
                    }
                )
            )
        )
        try:
            first = await self._insert_message(
                {
                    "conversation_id": conversation_id,
                    "author_id": user_id,
                    "author_role": author_role,
                    "body": body,
                }
            )
        except SupabaseUnavailable:
            # No transaction to roll back: take the conversation away again, or leave it empty.
            await self._after_message(
                "removal of the conversation without its first message",
                conversation_id,
                self._rest.rows(self._conversations().delete().eq("id", str(conversation_id))),
            )
            raise
        await self._after_message(
            "opener's read marker",
            conversation_id,
            self._read_up_to(conversation_id, user_id, first["created_at"]),
        )
        return _conversation(conversation), _message(first)

    async def get(self, conversation_id: UUID) -> ConversationRecord | None:
        rows = await self._rest.rows(
            self._conversations().select(_CONVERSATION).eq("id", str(conversation_id)).limit(1)
        )
        return _conversation(rows[0]) if rows else None

    async def post(
        self,
        conversation_id: UUID,
        message_id: UUID,
        author_id: str,
        author_role: str,
        body: str,
        notify: NewNotification | None,
    ) -> MessageRecord | None:
        still_open = await self._rest.rows(
            self._conversations().select("id").eq("id", str(conversation_id)).eq("status", "open").limit(1)
        )
        if not still_open:
            return None
        # Between the check and the insert a close can land (no row lock over PostgREST): then this
        # one message arrives just after the close. Nothing is lost either way.
        stored = await self._insert_message(
            {
                "id": message_id,
                "conversation_id": conversation_id,
                "author_id": author_id,
                "author_role": author_role,
                "body": body,
            }
        )
        await self._after_message(
            "author's read marker",
            conversation_id,
            self._read_up_to(conversation_id, author_id, stored["created_at"]),
        )
        if notify is not None:
            await self._after_message(
                "owner's in-app notice", conversation_id, self._notifications.add(notify)
            )
        return _message(stored)

    async def messages(
        self, conversation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[MessageRecord]:
        query = self._messages().select(_MESSAGE).eq("conversation_id", str(conversation_id))
        if after is not None:
            query = query.or_(keyset_filter(("created_at", "id"), after, descending=False))
        rows = await self._rest.rows(query.order("created_at").order("id").limit(limit))
        return [_message(r) for r in rows]

    async def mark_read(self, conversation_id: UUID, reader_id: str) -> None:
        newest = await self._rest.rows(
            self._messages()
            .select("created_at")
            .eq("conversation_id", str(conversation_id))
            .order("created_at", desc=True)
            .limit(1)
        )
        await self._read_up_to(conversation_id, reader_id, newest[0]["created_at"] if newest else now())

    async def summaries(
        self,
        reader_id: str,
        owner_id: str | None,
        status: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[ConversationSummary]:
        query = self._conversations().select(_CONVERSATION)
        if owner_id is not None:
            query = query.eq("user_id", owner_id)
        if status is not None:
            query = query.eq("status", status)
        if after is not None:
            query = query.or_(keyset_filter(("updated_at", "id"), after, descending=True))
        rows = await self._rest.rows(query.order("updated_at", desc=True).order("id", desc=True).limit(limit))
        if not rows:
            return []
        ids = [str(r["id"]) for r in rows]
        markers = await self._rest.rows(
            self._reads()
            .select("conversation_id,last_read_at")
            .eq("reader_id", reader_id)
            .in_("conversation_id", ids)
        )
        read_at = {str(m["conversation_id"]): m["last_read_at"] for m in markers}
        # Without a SQL join: per conversation on the page, its newest message and the count of
        # others' messages since the reader's marker (two requests each, run concurrently).
        return await gather_all(self._summary(reader_id, r, read_at.get(str(r["id"]))) for r in rows)

    async def _summary(self, reader_id: str, row: dict[str, Any], read_at: str | None) -> ConversationSummary:
        conversation_id = str(row["id"])
        newest = self._rest.rows(
            self._messages()
            .select(_MESSAGE)
            .eq("conversation_id", conversation_id)
            .order("created_at", desc=True)
            .order("id", desc=True)
            .limit(1)
        )
        unread = (
            self._messages()
            .select("id", count=CountMethod.exact, head=True)
            .eq("conversation_id", conversation_id)
            .neq("author_id", reader_id)
        )
        if read_at is not None:
            unread = unread.gt("created_at", read_at)
        last, count = await asyncio.gather(newest, self._rest.count(unread), return_exceptions=True)
        if isinstance(last, BaseException):
            raise last
        if isinstance(count, BaseException):
            raise count
        return ConversationSummary(
            conversation=_conversation(row),
            last_message=_message(last[0]) if last else None,
            unread_count=count,
        )

    async def close(self, conversation_id: UUID, closed_by: str) -> ConversationRecord | None:
        closed = await self._rest.rows(
            self._conversations()
            .update({"status": "closed", "closed_at": now(), "closed_by": closed_by})
            .eq("id", str(conversation_id))
            .eq("status", "open")
        )
        if closed:
            return _conversation(closed[0])
        return await self.get(conversation_id)
