"""caas_audit.audit_log is append-only: a trigger refuses rewrites even for a superuser, and the
application role may only read and append."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.common import application
from tools.platform.principal import Role

INSUFFICIENT_PRIVILEGE = "42501"
REWRITES = {
    "update": "UPDATE caas_audit.audit_log SET principal_id = 'forged' WHERE object_id = $1",
    "delete": "DELETE FROM caas_audit.audit_log WHERE object_id = $1",
    "truncate": "TRUNCATE caas_audit.audit_log",
    "truncate cascade": "TRUNCATE caas_audit.audit_log RESTART IDENTITY CASCADE",
}
AS_ROLE = pytest.mark.parametrize("role", [None, "caas_app"], ids=["superuser", "caas_app"])


@pytest.fixture
async def submitted(server, principal: Any, core_db: asyncpg.Connection) -> AsyncIterator[str]:
    """The id of an application submitted through the app, so its audit row is a real one."""
    principal(f"b-{uuid.uuid4().hex[:12]}", Role.BORROWER)
    async with Client(server) as c:
        app = (
            await c.call_tool("credit_submit_application", {"application": application()})
        ).structured_content
    yield app["id"]


async def audit_rows(db: asyncpg.Connection, object_id: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM caas_audit.audit_log WHERE object_id = $1 ORDER BY id", object_id)


async def run_as(db: asyncpg.Connection, role: str | None, sql: str, *args: object) -> object:
    """Run ``sql`` in a transaction that is always rolled back, as ``role`` (None: the superuser).

    Rolling back means a regression that lets a rewrite through cannot damage the shared log."""
    tr = db.transaction()
    await tr.start()
    try:
        if role is not None:
            await db.execute(f"SET LOCAL ROLE {role}")
        return await db.execute(sql, *args)
    finally:
        await tr.rollback()


async def test_submit_writes_one_audit_row(core_db, submitted) -> None:
    rows = await audit_rows(core_db, submitted)
    assert [(r["tool"], r["outcome"], r["object_type"]) for r in rows] == [
        ("credit.submit_application", "succeeded", "application")
    ]


@AS_ROLE
@pytest.mark.parametrize("sql", REWRITES.values(), ids=REWRITES.keys())
async def test_rewriting_the_audit_log_is_refused(core_db, submitted, role, sql) -> None:
    before = await audit_rows(core_db, submitted)
    total = await core_db.fetchval("SELECT count(*) FROM caas_audit.audit_log")
    args = (submitted,) if "$1" in sql else ()
    with pytest.raises(asyncpg.PostgresError) as refused:
        await run_as(core_db, role, sql, *args)
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE
    assert await audit_rows(core_db, submitted) == before
    assert await core_db.fetchval("SELECT count(*) FROM caas_audit.audit_log") == total


async def test_the_refusal_is_a_trigger_that_holds_even_for_the_superuser(core_db, submitted) -> None:
    # The superuser has every privilege, so only the trigger can be what stops it.
    assert await core_db.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await run_as(core_db, None, REWRITES["update"], submitted)
    # With the triggers out of the way (inside a transaction that is rolled back) the same update
    # would go through: the test above is not passing for some unrelated reason.
    tr = core_db.transaction()
    await tr.start()
    try:
        await core_db.execute("ALTER TABLE caas_audit.audit_log DISABLE TRIGGER USER")
        assert await core_db.execute(REWRITES["update"], submitted) == "UPDATE 1"
    finally:
        await tr.rollback()
    assert (await audit_rows(core_db, submitted))[0]["principal_id"] != "forged"


async def test_caas_app_cannot_switch_the_triggers_off(core_db) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await run_as(core_db, "caas_app", "ALTER TABLE caas_audit.audit_log DISABLE TRIGGER USER")


async def test_caas_app_lacks_rewrite_privileges_but_may_read_and_append(core_db) -> None:
    table = "caas_audit.audit_log"
    for privilege, expected in (("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False)):
        assert (
            await core_db.fetchval("SELECT has_table_privilege('caas_app', $1, $2)", table, privilege)
            is expected
        )
    assert await core_db.fetchval("SELECT has_table_privilege('caas_app', $1, 'TRUNCATE')", table) is False


async def test_caas_app_can_append_and_read_audit_rows(core_db, submitted) -> None:
    marker = f"req-{uuid.uuid4()}"
    before = await audit_rows(core_db, submitted)
    async with core_db.transaction():
        await core_db.execute("SET LOCAL ROLE caas_app")
        await core_db.execute(
            """INSERT INTO caas_audit.audit_log (principal_id, principal_role, tool, object_type,
                   object_id, args_sha256, outcome, request_id)
               VALUES ('svc', 'service', 'test.append', 'application', $1, $2, 'succeeded', $3)""",
            submitted,
            "0" * 64,
            marker,
        )
        seen = await audit_rows(core_db, submitted)
        assert await core_db.fetchval("SELECT current_user") == "caas_app"
    assert [r["request_id"] for r in seen][-1] == marker
    assert seen[: len(before)] == before  # appending leaves the earlier rows as they were
    assert len(await audit_rows(core_db, submitted)) == len(before) + 1


async def test_each_append_only_table_names_itself_when_a_rewrite_is_refused(core_db, submitted) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as timeline:
        await core_db.execute(
            "UPDATE caas_core.application_transitions SET reason = 'forged' WHERE application_id = $1::uuid",
            submitted,
        )
    assert "caas_core.application_transitions is append-only: UPDATE" in str(timeline.value)
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as audit:
        await run_as(core_db, None, REWRITES["delete"], submitted)
    assert "caas_audit.audit_log is append-only: DELETE" in str(audit.value)
