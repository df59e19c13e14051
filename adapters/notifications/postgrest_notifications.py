"""Notifications and channel preferences in the Supabase tables through PostgREST (supabase-py), for
when only ``SUPABASE_URL`` and the service-role key are configured. Same port, same rows as
``database.notifications.notifications.PgNotificationStore``; where that store leans on one SQL statement,
this one uses what PostgREST offers instead (noted at each method):

- the first row wins on (event_id, user_id, channel) through the table's unique constraint
  (``on_conflict`` + ``resolution=ignore-duplicates``), then a read of the row that was there;
- ``attempts = attempts + 1`` is a compare-and-set PATCH filtered on the attempts it read;
- read_at is this process's clock, not the database's now() (PostgREST writes values, not SQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from postgrest import AsyncRequestBuilder, CountMethod

from adapters.platform.supabase_rest import (
    SupabaseRest,
    SupabaseUnavailable,
    jsonable,
    keyset_filter,
    now,
    timestamp,
    uuid_or_none,
)
from tools.notifications.ports import DeliveryStatus, NewNotification, NotificationRecord, PreferenceRow

__all__ = ["PostgrestNotificationStore"]

_COLUMNS = (
    "id,event_id,user_id,application_id,kind,channel,title,body,delivery_status,attempts,created_at,read_at"
)
# A compare-and-set that keeps losing means something else keeps writing the row; give up for now.
_CAS_ATTEMPTS = 8


def notification(row: dict[str, Any]) -> NotificationRecord:
    return NotificationRecord(
        id=UUID(str(row["id"])),
        event_id=uuid_or_none(row["event_id"]),
        user_id=row["user_id"],
        application_id=uuid_or_none(row["application_id"]),
        kind=row["kind"],
        channel=row["channel"],
        title=row["title"],
        body=row["body"],
        delivery_status=row["delivery_status"],
        attempts=int(row["attempts"]),
        created_at=timestamp(row["created_at"]),
        read_at=None if row["read_at"] is None else timestamp(row["read_at"]),
    )


class PostgrestNotificationStore:
    def __init__(self, rest: SupabaseRest) -> None:
        self._rest = rest

    def _notifications(self) -> AsyncRequestBuilder:
        return self._rest.table("notifications")

    async def add(self, new: NewNotification) -> NotificationRecord:
        row = {
            "event_id": new.event_id,
            "user_id": new.user_id,
            "application_id": new.application_id,
            "kind": new.kind,
            "channel": new.channel,
            "title": new.title,
            "body": new.body,
            "delivery_status": new.status,
        }
        if new.id is not None:
            row["id"] = new.id
        inserted = await self._rest.rows(
            self._notifications().upsert(
                jsonable(row), on_conflict="event_id,user_id,channel", ignore_duplicates=True
            )
        )
        if inserted:
            return notification(inserted[0])
        # A repeated or concurrent insert: the first row stands, read it (committed, so visible).
        found = await self._rest.rows(
            self._notifications()
            .select(_COLUMNS)
            .eq("event_id", str(new.event_id))
            .eq("user_id", new.user_id)
            .eq("channel", new.channel)
            .limit(1)
        )
        if not found:  # pragma: no cover - notifications are never deleted
            raise SupabaseUnavailable("the notification was neither stored nor found; retry later")
        return notification(found[0])

    async def delivered(
        self, notification_id: UUID, status: DeliveryStatus, message_id: str | None, error: str | None
    ) -> None:
        # PostgREST cannot increment a column: read the attempts, then PATCH only if the row is
        # still pending with that many attempts. A lost race reads again, so no attempt is lost
        # and a row that meanwhile left 'pending' is left alone, as the SQL store does.
        for _ in range(_CAS_ATTEMPTS):
            current = await self._rest.rows(
                self._notifications()
                .select("attempts,delivery_status")
                .eq("id", str(notification_id))
                .limit(1)
            )
            if not current or current[0]["delivery_status"] != "pending":
                return
            attempts = int(current[0]["attempts"])
            changes: dict[str, Any] = {
                "delivery_status": status,
                "last_error": error,
                "attempts": attempts + 1,
            }
            if message_id is not None:
                changes["provider_message_id"] = message_id
            moved = await self._rest.rows(
                self._notifications()
                .update(changes)
                .eq("id", str(notification_id))
                .eq("delivery_status", "pending")
                .eq("attempts", attempts)
            )
            if moved:
                return
        raise SupabaseUnavailable("the notification's delivery kept changing under this update; retry later")

    async def inbox(
        self, user_id: str, unread_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[NotificationRecord]:
        query = self._notifications().select(_COLUMNS).eq("user_id", user_id).eq("channel", "in_app")
        if unread_only:
            query = query.is_("read_at", None)
        if after is not None:
            query = query.or_(keyset_filter(("created_at", "id"), after, descending=True))
        rows = await self._rest.rows(query.order("created_at", desc=True).order("id", desc=True).limit(limit))
        return [notification(r) for r in rows]

    async def unread_count(self, user_id: str) -> int:
        return await self._rest.count(
            self._notifications()
            .select("id", count=CountMethod.exact, head=True)
            .eq("user_id", user_id)
            .eq("channel", "in_app")
            .is_("read_at", None)
        )

    async def mark_read(self, user_id: str, notification_id: UUID) -> NotificationRecord | None:
        # Set once: the filter on read_at IS NULL keeps the first time, like coalesce() in SQL.
        marked = await self._rest.rows(
            self._notifications()
            .update({"read_at": now()})
            .eq("id", str(notification_id))
            .eq("user_id", user_id)
            .eq("channel", "in_app")
            .is_("read_at", None)
        )
        if marked:
            return notification(marked[0])
        found = await self._rest.rows(
            self._notifications()
            .select(_COLUMNS)
            .eq("id", str(notification_id))
            .eq("user_id", user_id)
            .eq("channel", "in_app")
            .limit(1)
        )
        return notification(found[0]) if found else None

    async def preferences(self, user_id: str) -> list[PreferenceRow]:
        rows = await self._rest.rows(
            self._rest.table("notification_preferences")
            .select("event_kind,channel,enabled,updated_at")
            .eq("user_id", user_id)
            .order("event_kind")
            .order("channel")
        )
        return [
            PreferenceRow(r["event_kind"], r["channel"], bool(r["enabled"]), timestamp(r["updated_at"]))
            for r in rows
        ]

    async def add_reading_preferences(
        self, new: NewNotification
    ) -> tuple[NotificationRecord, list[PreferenceRow]]:
        # Two requests: PostgREST runs one statement per request.
        return await self.add(new), await self.preferences(new.user_id)

    async def set_preferences(self, user_id: str, rows: list[PreferenceRow]) -> list[PreferenceRow]:
        # One bulk upsert is one statement in PostgREST, so the rows change together or not at all.
        if rows:
            await self._rest.rows(
                self._rest.table("notification_preferences").upsert(
                    [
                        {"user_id": user_id, "event_kind": r.kind, "channel": r.channel, "enabled": r.enabled}
                        for r in rows
                    ],
                    on_conflict="user_id,event_kind,channel",
                )
            )
        return await self.preferences(user_id)
