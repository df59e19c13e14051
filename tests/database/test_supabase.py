"""The Supabase side: the role/auth shim and row-level security on everything in ``public``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import pytest

INSUFFICIENT_PRIVILEGE = "42501"


@asynccontextmanager
async def rolled_back(db: asyncpg.Connection) -> AsyncIterator[None]:
    tr = db.transaction()
    await tr.start()
    try:
        yield
    finally:
        await tr.rollback()


async def set_claims(db: asyncpg.Connection, sub: uuid.UUID, role: str) -> None:
    claims = json.dumps({"sub": str(sub), "role": role})
    await db.execute("SELECT set_config('request.jwt.claims', $1, true)", claims)


async def as_role(
    db: asyncpg.Connection, role: str, sub: uuid.UUID | None, sql: str, *args: object
) -> list[asyncpg.Record]:
    """Run ``sql`` as PostgREST would for a request: role and JWT claims local to one transaction."""
    async with db.transaction():
        if sub is not None:
            await set_claims(db, sub, role)
        await db.execute(f"SET LOCAL ROLE {role}")
        return await db.fetch(sql, *args)


@pytest.fixture
async def statuses(supa: asyncpg.Connection) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Two borrowers with two and one application_status rows, inserted as service_role."""
    mine: dict[uuid.UUID, set[uuid.UUID]] = {uuid.uuid4(): set(), uuid.uuid4(): set()}
    for borrower, count in zip(mine, (2, 1), strict=True):
        for _ in range(count):
            app_id = uuid.uuid4()
            await as_role(
                supa,
                "service_role",
                None,
                """INSERT INTO public.application_status
                       (application_id, reference, borrower_id, status, requested_amount, currency,
                        term_months)
                   VALUES ($1, $2, $3, 'submitted', $4, 'NGN', 12) RETURNING application_id""",
                app_id,
                f"CAAS-2026-{app_id.hex[:12]}",
                str(borrower),
                Decimal("250000.00"),
            )
            mine[borrower].add(app_id)
    return mine


SELECT_IDS = "SELECT application_id FROM public.application_status"


def ids(rows: list[asyncpg.Record]) -> set[uuid.UUID]:
    return {r["application_id"] for r in rows}


async def test_every_table_in_public_has_row_level_security(supa) -> None:
    tables = await supa.fetch(
        """SELECT c.relname, c.relrowsecurity FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"""
    )
    assert tables, "no tables in public: the check below would pass vacuously"
    assert [t["relname"] for t in tables if not t["relrowsecurity"]] == []


async def test_the_shim_roles_exist_and_only_service_role_bypasses_rls(supa) -> None:
    rows = await supa.fetch(
        "SELECT rolname, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = ANY($1)",
        ["anon", "authenticated", "service_role"],
    )
    assert {r["rolname"]: (r["rolbypassrls"], r["rolcanlogin"]) for r in rows} == {
        "anon": (False, False),
        "authenticated": (False, False),
        "service_role": (True, False),
    }


async def test_auth_uid_returns_the_sub_of_the_request_claims(supa) -> None:
    sub = uuid.uuid4()
    async with rolled_back(supa):
        await set_claims(supa, sub, "authenticated")
        assert await supa.fetchval("SELECT auth.uid()") == sub
        assert await supa.fetchval("SELECT auth.role()") == "authenticated"
        assert await supa.fetchval("SELECT auth.jwt() ->> 'sub'") == str(sub)


async def test_auth_uid_is_null_without_claims(supa) -> None:
    assert await supa.fetchval("SELECT auth.uid()") is None
    assert await supa.fetchval("SELECT auth.role()") is None


async def test_auth_uid_is_null_once_an_earlier_requests_claims_have_ended(supa, statuses) -> None:
    # Pooled connections serve many requests: set_config(..., true) leaves the setting defined but
    # empty after its transaction, and the next request without a token must see no user, not fail.
    async with rolled_back(supa):
        await set_claims(supa, next(iter(statuses)), "authenticated")
    assert await supa.fetchval("SELECT auth.uid()") is None
    assert await supa.fetchval("SELECT auth.role()") is None
    assert await as_role(supa, "authenticated", None, SELECT_IDS) == []


async def test_authenticated_borrower_sees_only_their_own_status_rows(supa, statuses) -> None:
    for borrower, theirs in statuses.items():
        seen = ids(await as_role(supa, "authenticated", borrower, SELECT_IDS))
        assert seen == theirs


async def test_authenticated_without_claims_sees_nothing(supa, statuses) -> None:
    assert await as_role(supa, "authenticated", None, SELECT_IDS) == []


async def test_authenticated_cannot_write_status_rows(supa, statuses) -> None:
    borrower = next(iter(statuses))
    for sql in (
        "UPDATE public.application_status SET status = 'approved' RETURNING 1",
        "DELETE FROM public.application_status RETURNING 1",
    ):
        with pytest.raises(asyncpg.PostgresError) as refused:
            await as_role(supa, "authenticated", borrower, sql)
        assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE


async def test_anon_sees_no_status_rows(supa, statuses) -> None:
    borrower = next(iter(statuses))
    with pytest.raises(asyncpg.PostgresError) as refused:
        await as_role(supa, "anon", borrower, SELECT_IDS)
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE
    # Hosted Supabase grants anon SELECT on public tables by default; RLS must still hide every row.
    async with rolled_back(supa):
        await supa.execute("GRANT SELECT ON public.application_status TO anon")
        await set_claims(supa, borrower, "anon")
        await supa.execute("SET LOCAL ROLE anon")
        assert await supa.fetch(SELECT_IDS) == []
    assert not await supa.fetchval(
        "SELECT has_table_privilege('anon', 'public.application_status', 'SELECT')"
    )


async def test_service_role_sees_every_status_row(supa, statuses) -> None:
    everything = ids(await supa.fetch(SELECT_IDS))  # as the superuser
    seen = ids(await as_role(supa, "service_role", None, SELECT_IDS))
    assert seen == everything
    assert set().union(*statuses.values()) <= seen
