"""The way to an approval on a pool of one connection: a use case that holds its transaction's
connection and reads through the pool waits for a second connection, and as many such calls at once as
the pool's size (3 in a service process) wait forever. tests/tools/test_reads_inside_a_transaction.py
finds the direct cases in the source; this catches the indirect ones (a helper given ``deps``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tests.helpers.confirm import person_confirms
from tests.helpers.loans import decided_application
from tools.platform.principal import Principal, Role


@pytest.fixture
async def lone_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime(settings.model_copy(update={"pool_min_size": 1, "pool_max_size": 1}))
    async with rt.session():
        yield rt


async def test_submit_verify_score_and_approve_each_need_one_connection_at_a_time(
    lone_runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    def principal(subject: str, role: Role = Role.BORROWER, provider_id: str | None = None) -> Principal:
        lone_runtime.principals.local = Principal(subject, role, provider_id)
        return lone_runtime.principals.local

    server = build_server(lone_runtime)
    async with Client(server, mode="2026-07-28", elicitation_handler=person_confirms) as client:
        with anyio.fail_after(60):  # a second connection would never come
            app = await decided_application(client, principal, core_db)
    assert (
        await core_db.fetchval("SELECT status FROM caas_core.applications WHERE id = $1::uuid", app["id"])
    ) == ("approved")
