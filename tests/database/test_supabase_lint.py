"""Lints of the Supabase side in the spirit of Supabase's splinter, on the migrated database after
hosted Supabase's own default grants (the fixture applies them first, as production has them).

Each lint is a query returning its findings; a test asserts there are none, and another plants one
violation per lint (in a transaction rolled back afterwards) to show the lint would see it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

EXPOSED = ["public"]  # the schemas PostgREST serves
APP_SCHEMAS = ["public", "caas_supabase"]  # where our functions live; auth and storage are Supabase's
USER_COLUMNS = {"user_id", "borrower_id", "author_id", "reader_id", "closed_by"}

# Every privilege the API roles hold on a relation in an exposed schema: (relation, grantee) ->
# privileges on the whole relation, and (relation, grantee, privilege) -> the columns it covers.
SERVICE = {"SELECT", "INSERT", "UPDATE", "DELETE"}
PLAN = [
    "application_status",
    "document_uploads",
    "notification_preferences",
    "notifications",
    "support_conversation_reads",
    "support_conversations",
    "support_messages",
    "user_activities",
    "user_profiles",
]
TABLE_GRANTS: dict[tuple[str, str], set[str]] = {
    **{(t, "service_role"): SERVICE for t in PLAN},
    **{(t, "authenticated"): {"SELECT"} for t in PLAN},
    ("notification_preferences", "authenticated"): {"SELECT", "DELETE"},
    ("user_activities_id_seq", "service_role"): {"USAGE"},
}
COLUMN_GRANTS: dict[tuple[str, str, str], set[str]] = {
    ("user_profiles", "authenticated", "INSERT"): {"id", "display_name", "preferred_channel", "locale"},
    ("user_profiles", "authenticated", "UPDATE"): {"display_name", "preferred_channel", "locale"},
    ("notifications", "authenticated", "UPDATE"): {"read_at"},
    ("notification_preferences", "authenticated", "INSERT"): {"user_id", "event_kind", "channel", "enabled"},
    ("notification_preferences", "authenticated", "UPDATE"): {"enabled"},
    ("support_conversations", "authenticated", "INSERT"): {"user_id", "application_id", "subject"},
    ("support_conversations", "authenticated", "UPDATE"): {"status"},
    ("support_messages", "authenticated", "INSERT"): {"conversation_id", "author_id", "author_role", "body"},
}

Lint = Callable[[asyncpg.Connection], Awaitable[list[str]]]


async def rls_not_forced(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        """SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
             AND NOT (c.relrowsecurity AND c.relforcerowsecurity)""",
        EXPOSED,
    )
    return [r[0] for r in rows]


async def policies_on_user_metadata(db: asyncpg.Connection) -> list[str]:
    # user_metadata is the user's to edit; a policy, or a function a policy may call, must not read it.
    rows = await db.fetch(
        """SELECT tablename || '.' || policyname FROM pg_policies
           WHERE coalesce(qual, '') || coalesce(with_check, '') ILIKE '%user_metadata%'
           UNION ALL
           SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ANY($1) AND p.prosrc ILIKE '%user_metadata%'""",
        APP_SCHEMAS,
    )
    return [r[0] for r in rows]


# A call the planner would repeat per row unless it is an initplan: (select auth.uid()).
_PER_ROW_CALL = re.compile(r"(auth\.\w+|caas_supabase\.\w+|current_setting)\(")


async def per_row_auth_calls(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT tablename, policyname, qual, with_check FROM pg_policies")
    found = []
    for r in rows:
        for text in (r["qual"] or "", r["with_check"] or ""):
            for call in _PER_ROW_CALL.finditer(text):
                if not text[: call.start()].rstrip().upper().endswith("SELECT"):
                    found.append(f"{r['tablename']}.{r['policyname']}: {call.group(1)}()")
    return found


async def mutable_search_path(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        # Ours, and whatever else the migrating role owns (the auth/storage shims of plain PostgreSQL).
        """SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE (n.nspname = ANY($1) OR p.proowner = current_user::regrole)
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
             AND NOT coalesce(
                 EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%'), false)""",
        APP_SCHEMAS,
    )
    return [r[0] for r in rows]


async def definer_functions_callable_by_api_roles(db: asyncpg.Connection) -> list[str]:
    # Stricter than splinter: none at all, fixed search_path or not (trigger functions need no grant).
    rows = await db.fetch(
        """SELECT n.nspname || '.' || p.proname || ' by ' || r.rolname
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r (rolname)
           WHERE n.nspname = ANY($1) AND p.prosecdef
             AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')""",
        APP_SCHEMAS,
    )
    return [r[0] for r in rows]


async def rpc_endpoints(db: asyncpg.Connection) -> list[str]:
    # PostgREST serves every function of an exposed schema the caller may execute as /rpc/<name>, and
    # PostgreSQL lets PUBLIC execute a new function: the plan has no RPC, so none may be reachable.
    rows = await db.fetch(
        """SELECT p.proname || ' by ' || r.rolname
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r (rolname)
           WHERE n.nspname = ANY($1) AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
        EXPOSED,
    )
    return [r[0] for r in rows]


# The schemas each API role may use: Supabase's own, public, and for policies the helper functions.
SCHEMA_USAGE = {
    "anon": {"public", "auth", "storage"},
    "authenticated": {"public", "auth", "storage", "caas_supabase"},
}


async def schemas_beyond_the_allow_list(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        """SELECT r.rolname, n.nspname FROM pg_namespace n
           CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r (rolname)
           WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
             AND has_schema_privilege(r.rolname, n.oid, 'USAGE')"""
    )
    return [f"{r[1]} to {r[0]}" for r in rows if r[1] not in SCHEMA_USAGE[r[0]]]


async def definer_views(db: asyncpg.Connection) -> list[str]:
    # A view runs as its owner (past RLS) unless security_invoker; a materialized view has no RLS.
    rows = await db.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY($1)
             AND (c.relkind = 'm'
                  OR (c.relkind = 'v' AND NOT coalesce(c.reloptions @> '{security_invoker=true}', false)))""",
        EXPOSED,
    )
    return [r[0] for r in rows]


async def policies_for_anyone(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        """SELECT tablename || '.' || policyname FROM pg_policies
           WHERE schemaname = ANY($1) AND NOT roles <@ ARRAY['authenticated', 'service_role']::name[]""",
        EXPOSED,
    )
    return [r[0] for r in rows]


async def realtime_keys_naming_users(db: asyncpg.Connection) -> list[str]:
    # Realtime sends a DELETE's primary key to every subscriber, past RLS: it must be one surrogate
    # column, and the table must not send whole old rows (REPLICA IDENTITY FULL).
    rows = await db.fetch(
        """SELECT c.relname, c.relreplident::text AS relreplident,
                  array(SELECT a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                                                           AND a.attnum = ANY(i.indkey)
                        WHERE i.indrelid = c.oid AND i.indisprimary) AS key
           FROM pg_publication_tables t
           JOIN pg_namespace n ON n.nspname = t.schemaname
           JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename
           WHERE t.pubname = 'supabase_realtime'"""
    )
    found = []
    for r in rows:
        names = {k.split(":")[0] for k in r["key"]}
        surrogate = len(r["key"]) == 1 and r["key"][0].split(":")[1] in ("uuid", "bigint")
        if r["relreplident"] != "d" or not surrogate or names & USER_COLUMNS:
            found.append(f"{r['relname']} {r['relreplident']} {r['key']}")
    return found


async def grants_beyond_the_allow_list(db: asyncpg.Connection) -> list[str]:
    api_roles = ["anon", "authenticated", "service_role"]
    tables = await db.fetch(
        """SELECT c.relname, coalesce(r.rolname, 'PUBLIC') AS grantee, array_agg(a.privilege_type) AS privs
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
           WHERE n.nspname = ANY($1) AND (a.grantee = 0 OR r.rolname = ANY($2))
           GROUP BY 1, 2""",
        EXPOSED,
        api_roles,
    )
    columns = await db.fetch(
        """SELECT c.relname, coalesce(r.rolname, 'PUBLIC') AS grantee, a.privilege_type,
                  array_agg(att.attname::text) AS cols
           FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           CROSS JOIN LATERAL aclexplode(att.attacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
           WHERE n.nspname = ANY($1) AND (a.grantee = 0 OR r.rolname = ANY($2))
           GROUP BY 1, 2, 3""",
        EXPOSED,
        api_roles,
    )
    found = [
        f"{t['relname']} to {t['grantee']}: {sorted(set(t['privs']) - TABLE_GRANTS.get((t[0], t[1]), set()))}"
        for t in tables
        if not set(t["privs"]) <= TABLE_GRANTS.get((t[0], t[1]), set())
    ]
    found += [
        f"{c['relname']} {c['privilege_type']} to {c['grantee']}: {sorted(set(c['cols']) - allowed)}"
        for c in columns
        if not set(c["cols"]) <= (allowed := COLUMN_GRANTS.get((c[0], c[1], c[2]), set()))
    ]
    return found


# Each lint, and DDL that one careless migration could contain and the lint must catch.
PLANTED: dict[str, tuple[Lint, str]] = {
    "rls": (rls_not_forced, "CREATE TABLE public.lint_probe (id uuid PRIMARY KEY)"),
    "user_metadata": (
        policies_on_user_metadata,
        "CREATE POLICY lint_probe ON public.notifications FOR SELECT TO authenticated"
        " USING ((SELECT auth.jwt()) -> 'user_metadata' ->> 'caas_role' = 'operator')",
    ),
    "initplan": (
        per_row_auth_calls,
        "CREATE POLICY lint_probe ON public.notifications FOR SELECT TO authenticated"
        " USING (user_id = auth.uid()::text)",
    ),
    "search_path": (
        mutable_search_path,
        "CREATE FUNCTION caas_supabase.lint_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ),
    "security_definer": (
        definer_functions_callable_by_api_roles,
        "CREATE FUNCTION public.lint_probe() RETURNS int LANGUAGE sql SECURITY DEFINER"
        " SET search_path = '' AS 'SELECT 1'",
    ),
    "rpc": (
        rpc_endpoints,
        "CREATE FUNCTION public.lint_probe() RETURNS int LANGUAGE sql SET search_path = '' AS 'SELECT 1'",
    ),
    "schemas": (schemas_beyond_the_allow_list, "GRANT USAGE ON SCHEMA caas_meta TO anon"),
    "views": (
        definer_views,
        "CREATE VIEW public.lint_probe AS SELECT id, user_id FROM public.notifications",
    ),
    "anyone": (
        policies_for_anyone,
        "CREATE POLICY lint_probe ON public.notifications FOR SELECT USING (false)",
    ),
    "realtime": (
        realtime_keys_naming_users,
        "ALTER PUBLICATION supabase_realtime ADD TABLE public.support_conversation_reads",
    ),
    "grants": (
        grants_beyond_the_allow_list,
        "GRANT UPDATE (delivery_status) ON public.notifications TO authenticated",
    ),
}


@pytest.mark.parametrize("name", PLANTED)
async def test_the_migrated_supabase_side_passes_the_lint(supa, name) -> None:
    lint, _ = PLANTED[name]
    assert await lint(supa) == []


@pytest.mark.parametrize("name", PLANTED)
async def test_the_lint_finds_a_planted_violation(supa, name) -> None:
    lint, ddl = PLANTED[name]
    tr = supa.transaction()
    await tr.start()
    try:
        await supa.execute(ddl)
        assert await lint(supa) != []
    finally:
        await tr.rollback()


async def test_a_table_added_later_gets_no_grant_to_the_api_roles(supa) -> None:
    # Hosted Supabase's default privileges would hand a new table to anon; 0005 takes that back.
    tr = supa.transaction()
    await tr.start()
    try:
        await supa.execute("CREATE TABLE public.lint_probe (id uuid PRIMARY KEY)")
        for role in ("anon", "authenticated"):
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                assert not await supa.fetchval(
                    "SELECT has_table_privilege($1, 'public.lint_probe', $2)", role, privilege
                ), (role, privilege)
    finally:
        await tr.rollback()


async def test_the_fixture_gave_the_database_hosted_supabases_default_grants(supa) -> None:
    # Without them the lint above would pass on an empty ACL that production never has.
    defaults = await supa.fetch(
        """SELECT d.defaclobjtype::text, array_agg(DISTINCT r.rolname ORDER BY r.rolname) AS roles
           FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
           CROSS JOIN LATERAL aclexplode(d.defaclacl) a JOIN pg_roles r ON r.oid = a.grantee
           WHERE n.nspname = 'public' GROUP BY 1"""
    )
    # Tables, sequences and functions still go to service_role by default; no longer to anon.
    assert {r[0]: r[1] for r in defaults} == {
        "r": ["service_role"],
        "S": ["service_role"],
        "f": ["service_role"],
    }
    # Storage is Supabase's: anon keeps the hosted ALL there, and only the policies stand in the way.
    assert await supa.fetchval("SELECT has_table_privilege('anon', 'storage.objects', 'INSERT')")
