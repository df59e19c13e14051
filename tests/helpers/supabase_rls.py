"""Requests to the Supabase tables as PostgREST runs them (``SET LOCAL ROLE`` and the JWT claims in
``request.jwt.claims``, one transaction each), and one user's rows in every plan table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

INSUFFICIENT_PRIVILEGE = "42501"  # also what Postgres answers for a row a policy refuses

# table -> (key column, owner column) for the tables a user owns rows of directly.
OWNED: dict[str, tuple[str, str]] = {
    "user_profiles": ("id", "id"),
    "application_status": ("application_id", "borrower_id"),
    "notifications": ("id", "user_id"),
    "notification_preferences": ("user_id", "user_id"),
    "support_conversations": ("id", "user_id"),
    "document_uploads": ("id", "user_id"),
    "user_activities": ("id", "user_id"),
}
PLAN_TABLES = [*OWNED, "support_messages"]


def claims(sub: uuid.UUID | None, *, caas_role: str | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"role": "authenticated", **extra}
    if sub is not None:
        c["sub"] = str(sub)
    if caas_role is not None:
        c["app_metadata"] = {"caas_role": caas_role}
    return c


async def run_as(
    db: asyncpg.Connection, role: str, jwt: dict[str, Any] | None, sql: str, *args: object
) -> list[asyncpg.Record]:
    """One request as PostgREST would run it: role and claims local to one transaction."""
    async with db.transaction():
        if jwt is not None:
            await db.execute("SELECT set_config('request.jwt.claims', $1, true)", json.dumps(jwt))
        await db.execute(f"SET LOCAL ROLE {role}")
        return await db.fetch(sql, *args)


async def refused_or_rows(db: asyncpg.Connection, jwt: dict[str, Any], sql: str, *args: object) -> str | int:
    try:
        return len(await run_as(db, "authenticated", jwt, sql, *args))
    except asyncpg.PostgresError as exc:
        assert exc.sqlstate == INSUFFICIENT_PRIVILEGE, exc
        return "refused"


@dataclass
class Seeded:
    """One user's row in every plan table (inserted as service_role, as the sync writer does)."""

    user: uuid.UUID
    keys: dict[str, Any]


async def _one(db: asyncpg.Connection, sql: str, *args: object) -> Any:
    rows = await run_as(db, "service_role", None, sql, *args)
    return rows[0][0]


async def seed(db: asyncpg.Connection) -> Seeded:
    user = uuid.uuid4()
    uid = str(user)
    app_id, note_id, conv_id, msg_id, doc_id = (uuid.uuid4() for _ in range(5))
    keys = await _profile_rows(db, uid, app_id, note_id)
    keys |= await _support_rows(db, uid, app_id, conv_id, msg_id, doc_id)
    return Seeded(user, keys)


async def _profile_rows(
    db: asyncpg.Connection, uid: str, app_id: uuid.UUID, note_id: uuid.UUID
) -> dict[str, Any]:
    return {
        "user_profiles": await _one(
            db,
            "INSERT INTO public.user_profiles (id, display_name, phone_masked)"
            " VALUES ($1, 'Ada', '+234****678') RETURNING id",
            uid,
        ),
        "application_status": await _one(
            db,
            """INSERT INTO public.application_status
                   (application_id, reference, borrower_id, status, requested_amount, currency, term_months)
               VALUES ($1, $2, $3, 'submitted', 250000, 'NGN', 12) RETURNING application_id""",
            app_id,
            f"CAAS-2026-{app_id.hex[:10]}",
            uid,
        ),
        "notifications": await _one(
            db,
            """INSERT INTO public.notifications (id, user_id, application_id, kind, title, body, event_id)
               VALUES ($1, $2, $3, 'application_received', 'Received', 'We have your application', $4)
               RETURNING id""",
            note_id,
            uid,
            app_id,
            uuid.uuid4(),
        ),
        "notification_preferences": await _one(
            db,
            "INSERT INTO public.notification_preferences (user_id, channel) VALUES ($1, 'sms')"
            " RETURNING user_id",
            uid,
        ),
    }


async def _support_rows(
    db: asyncpg.Connection,
    uid: str,
    app_id: uuid.UUID,
    conv_id: uuid.UUID,
    msg_id: uuid.UUID,
    doc_id: uuid.UUID,
) -> dict[str, Any]:
    return {
        "support_conversations": await _one(
            db,
            "INSERT INTO public.support_conversations (id, user_id, application_id, subject)"
            " VALUES ($1, $2, $3, 'Disbursement date') RETURNING id",
            conv_id,
            uid,
            app_id,
        ),
        "support_messages": await _one(
            db,
            "INSERT INTO public.support_messages (id, conversation_id, author_id, author_role, body)"
            " VALUES ($1, $2, $3, 'borrower', 'When will the money arrive?') RETURNING id",
            msg_id,
            conv_id,
            uid,
        ),
        "document_uploads": await _one(
            db,
            "INSERT INTO public.document_uploads (id, user_id, application_id, kind, status)"
            " VALUES ($1, $2, $3, 'national_id', 'pending') RETURNING id",
            doc_id,
            uid,
            app_id,
        ),
        "user_activities": await _one(
            db,
            "INSERT INTO public.user_activities (user_id, kind, application_id, detail, event_id)"
            " VALUES ($1, 'application.submitted', $2, '{}'::jsonb, $3) RETURNING id",
            uid,
            app_id,
            uuid.uuid4(),
        ),
        "support_conversation_reads": await _one(
            db,
            "INSERT INTO public.support_conversation_reads (conversation_id, reader_id)"
            " VALUES ($1, $2) RETURNING conversation_id",
            conv_id,
            uid,
        ),
    }
