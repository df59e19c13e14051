"""Row-level security on the plan tables, for real: as PostgREST runs a request (``SET ROLE
authenticated`` with the JWT claims in ``request.jwt.claims``), one user's rows are invisible to
another and cannot be written by them; operators (``app_metadata.caas_role``) read everything; anon
gets nothing; storage objects are confined to the user's own folder."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.helpers.supabase_rls import (
    INSUFFICIENT_PRIVILEGE,
    OWNED,
    PLAN_TABLES,
    Seeded,
    claims,
    refused_or_rows,
    run_as,
    seed,
)


@pytest.fixture
async def alice(supa: asyncpg.Connection) -> Seeded:
    return await seed(supa)


@pytest.fixture
async def bob(supa: asyncpg.Connection) -> Seeded:
    return await seed(supa)


def key_of(table: str) -> str:
    return "id" if table == "support_messages" else OWNED[table][0]


async def visible(db: asyncpg.Connection, role: str, jwt: dict[str, Any] | None, table: str) -> set[Any]:
    rows = await run_as(db, role, jwt, f"SELECT {key_of(table)} FROM public.{table}")
    return {r[0] for r in rows}


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_a_user_sees_their_own_rows_and_never_another_users(supa, alice, bob, table) -> None:
    seen = await visible(supa, "authenticated", claims(alice.user), table)
    assert alice.keys[table] in seen
    assert bob.keys[table] not in seen
    if table in OWNED:
        owner = OWNED[table][1]
        rows = await run_as(supa, "authenticated", claims(alice.user), f"SELECT {owner} FROM public.{table}")
        assert {r[0] for r in rows} == {str(alice.user)}


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_operators_and_admins_see_every_users_rows(supa, alice, bob, table) -> None:
    for role in ("operator", "admin"):
        seen = await visible(supa, "authenticated", claims(uuid.uuid4(), caas_role=role), table)
        assert {alice.keys[table], bob.keys[table]} <= seen


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_a_role_the_user_can_edit_does_not_make_an_operator(supa, alice, table) -> None:
    # user_metadata is editable by the user through Supabase Auth: it must never grant anything.
    jwt = claims(uuid.uuid4(), user_metadata={"caas_role": "operator"})
    assert alice.keys[table] not in await visible(supa, "authenticated", jwt, table)
    borrower = claims(uuid.uuid4(), caas_role="borrower")
    assert alice.keys[table] not in await visible(supa, "authenticated", borrower, table)


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_signed_in_without_a_subject_sees_nothing(supa, alice, table) -> None:
    assert await visible(supa, "authenticated", claims(None), table) == set()


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_anon_has_no_access_to_any_plan_table(supa, alice, table) -> None:
    with pytest.raises(asyncpg.PostgresError) as refused:
        await visible(supa, "anon", {"role": "anon"}, table)
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE


UPDATES = {
    "user_profiles": "UPDATE public.user_profiles SET display_name = 'Mallory' WHERE id = $1 RETURNING 1",
    "application_status": "UPDATE public.application_status SET status = 'approved'"
    " WHERE application_id = $1 RETURNING 1",
    "notifications": "UPDATE public.notifications SET read_at = now() WHERE id = $1 RETURNING 1",
    "notification_preferences": "UPDATE public.notification_preferences SET enabled = false"
    " WHERE user_id = $1 RETURNING 1",
    "support_conversations": "UPDATE public.support_conversations SET status = 'closed'"
    " WHERE id = $1 RETURNING 1",
    "support_messages": "UPDATE public.support_messages SET body = 'edited' WHERE id = $1 RETURNING 1",
    "document_uploads": "UPDATE public.document_uploads SET status = 'verified' WHERE id = $1 RETURNING 1",
    "user_activities": "UPDATE public.user_activities SET kind = 'forged' WHERE id = $1 RETURNING 1",
}


async def snapshot(db: asyncpg.Connection, table: str, key: Any) -> dict[str, Any]:
    row = await db.fetchrow(f"SELECT * FROM public.{table} WHERE {key_of(table)} = $1", key)
    assert row is not None
    return dict(row)


@pytest.mark.parametrize("table", PLAN_TABLES)
async def test_a_user_cannot_update_or_delete_another_users_rows(supa, alice, bob, table) -> None:
    key = alice.keys[table]
    before = await snapshot(supa, table, key)
    mallory = claims(bob.user)
    assert await refused_or_rows(supa, mallory, UPDATES[table], key) in ("refused", 0)
    delete = f"DELETE FROM public.{table} WHERE {key_of(table)} = $1 RETURNING 1"
    assert await refused_or_rows(supa, mallory, delete, key) in ("refused", 0)
    assert await snapshot(supa, table, key) == before


async def test_a_user_cannot_create_rows_in_someone_elses_name(supa, alice, bob) -> None:
    mallory = claims(bob.user)
    a = str(alice.user)
    attempts = [
        ("INSERT INTO public.user_profiles (id) VALUES ($1) RETURNING 1", str(uuid.uuid4())),
        (
            "INSERT INTO public.notification_preferences (user_id, channel) VALUES ($1, 'email') RETURNING 1",
            a,
        ),
        ("INSERT INTO public.support_conversations (user_id, subject) VALUES ($1, 'hi') RETURNING 1", a),
        # Into Alice's conversation, as Bob and as Alice.
        (
            "INSERT INTO public.support_messages (conversation_id, author_id, author_role, body)"
            " VALUES ($1, $2, 'borrower', 'hello') RETURNING 1",
            alice.keys["support_conversations"],
            str(bob.user),
        ),
        (
            "INSERT INTO public.support_messages (conversation_id, author_id, author_role, body)"
            " VALUES ($1, $2, 'borrower', 'hello') RETURNING 1",
            alice.keys["support_conversations"],
            a,
        ),
        (
            "INSERT INTO public.notifications (user_id, kind, title, body)"
            " VALUES ($1, 'x', 't', 'b') RETURNING 1",
            a,
        ),
        (
            "INSERT INTO public.user_activities (user_id, kind) VALUES ($1, 'forged') RETURNING 1",
            a,
        ),
    ]
    for sql, *args in attempts:
        assert await refused_or_rows(supa, mallory, sql, *args) == "refused", sql


async def test_a_user_marks_their_notification_read_and_changes_nothing_else(supa, alice) -> None:
    me = claims(alice.user)
    note = alice.keys["notifications"]
    marked = "UPDATE public.notifications SET read_at = now() WHERE id = $1 RETURNING read_at"
    assert await refused_or_rows(supa, me, marked, note) == 1
    for column in ("title = 'Approved!'", "user_id = 'someone'", "kind = 'decision'"):
        sql = f"UPDATE public.notifications SET {column} WHERE id = $1 RETURNING 1"
        assert await refused_or_rows(supa, me, sql, note) == "refused"


async def test_a_user_edits_their_profile_and_preferences_but_not_their_masked_contacts(supa, alice) -> None:
    me = claims(alice.user)
    uid = str(alice.user)
    ok = [
        (
            "UPDATE public.user_profiles SET display_name = 'Adaeze', locale = 'en-NG'"
            " WHERE id = $1 RETURNING 1",
            uid,
        ),
        ("UPDATE public.notification_preferences SET enabled = false WHERE user_id = $1 RETURNING 1", uid),
        (
            "INSERT INTO public.notification_preferences (user_id, event_kind, channel, enabled)"
            " VALUES ($1, 'loan.active', 'email', true) RETURNING 1",
            uid,
        ),
        (
            "DELETE FROM public.notification_preferences"
            " WHERE user_id = $1 AND channel = 'email' RETURNING 1",
            uid,
        ),
    ]
    for sql, *args in ok:
        assert await refused_or_rows(supa, me, sql, *args) == 1, sql
    for column in ("phone_masked = '+1'", "email_masked = 'x'", "id = 'someone'"):
        sql = f"UPDATE public.user_profiles SET {column} WHERE id = $1 RETURNING 1"
        assert await refused_or_rows(supa, me, sql, uid) == "refused", sql


async def test_a_borrower_posts_in_their_own_open_conversation_only_as_a_borrower(supa, alice) -> None:
    me = claims(alice.user)
    conv = alice.keys["support_conversations"]
    post = (
        "INSERT INTO public.support_messages (conversation_id, author_id, author_role, body)"
        " VALUES ($1, $2, $3, 'still waiting') RETURNING 1"
    )
    before = await supa.fetchval("SELECT updated_at FROM public.support_conversations WHERE id = $1", conv)
    assert await refused_or_rows(supa, me, post, conv, str(alice.user), "borrower") == 1
    after = await supa.fetchval("SELECT updated_at FROM public.support_conversations WHERE id = $1", conv)
    assert after > before  # a message moves its conversation up the inbox
    for role in ("operator", "agent"):
        assert await refused_or_rows(supa, me, post, conv, str(alice.user), role) == "refused"
    # Only staff close a conversation; once closed, the borrower cannot post into it.
    close = "UPDATE public.support_conversations SET status = 'closed' WHERE id = $1 RETURNING 1"
    assert await refused_or_rows(supa, me, close, conv) == 0
    operator = claims(uuid.uuid4(), caas_role="operator")
    assert await refused_or_rows(supa, operator, close, conv) == 1
    assert await refused_or_rows(supa, me, post, conv, str(alice.user), "borrower") == "refused"


async def test_an_operator_replies_as_an_operator_in_any_conversation(supa, alice) -> None:
    op = uuid.uuid4()
    conv = alice.keys["support_conversations"]
    post = (
        "INSERT INTO public.support_messages (conversation_id, author_id, author_role, body)"
        " VALUES ($1, $2, $3, 'It is on its way') RETURNING 1"
    )
    operator = claims(op, caas_role="operator")
    assert await refused_or_rows(supa, operator, post, conv, str(op), "operator") == 1
    assert await refused_or_rows(supa, operator, post, conv, str(alice.user), "operator") == "refused"
    assert await refused_or_rows(supa, operator, post, conv, str(op), "borrower") == "refused"
    seen = await run_as(
        supa,
        "authenticated",
        claims(alice.user),
        "SELECT author_role FROM public.support_messages WHERE conversation_id = $1 ORDER BY created_at",
        conv,
    )
    assert [r[0] for r in seen] == ["borrower", "operator"]


async def test_a_user_reads_and_writes_storage_objects_only_under_their_own_folder(supa, alice, bob) -> None:
    me, other = claims(alice.user), claims(bob.user)
    insert = (
        "INSERT INTO storage.objects (bucket_id, name, owner_id)"
        " VALUES ('caas-documents', $1, $2) RETURNING id"
    )
    mine = f"{alice.user}/payslips/{uuid.uuid4()}.pdf"
    assert await refused_or_rows(supa, me, insert, mine, str(alice.user)) == 1
    for name in (f"{bob.user}/x.pdf", "x.pdf", f"shared/{alice.user}/x.pdf"):
        assert await refused_or_rows(supa, me, insert, name, str(alice.user)) == "refused", name
    select = "SELECT name FROM storage.objects WHERE name = $1"
    assert await refused_or_rows(supa, me, select, mine) == 1
    assert await refused_or_rows(supa, other, select, mine) == 0
    assert (
        await refused_or_rows(supa, other, "DELETE FROM storage.objects WHERE name = $1 RETURNING 1", mine)
        == 0
    )
    move = "UPDATE storage.objects SET name = $2 WHERE name = $1 RETURNING 1"
    assert await refused_or_rows(supa, me, move, mine, f"{bob.user}/stolen.pdf") == "refused"
    assert (
        await refused_or_rows(supa, me, "DELETE FROM storage.objects WHERE name = $1 RETURNING 1", mine) == 1
    )


async def test_every_plan_table_forces_rls_and_all_but_profiles_are_published_to_realtime(supa) -> None:
    # Profiles are keyed by the user's id, which a Realtime DELETE event would show every subscriber.
    rows = await supa.fetch(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                  EXISTS (SELECT 1 FROM pg_publication_tables p
                          WHERE p.pubname = 'supabase_realtime' AND p.schemaname = 'public'
                            AND p.tablename = c.relname) AS published
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relname = ANY($1)""",
        PLAN_TABLES,
    )
    assert {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"], r["published"]) for r in rows} == {
        t: (True, True, t != "user_profiles") for t in PLAN_TABLES
    }
