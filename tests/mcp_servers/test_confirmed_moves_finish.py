"""A money move a person confirmed is carried out even if the caller goes away while it runs: over
Streamable HTTP a closed connection cancels the request, and a move cut off half-way stayed
``confirmed`` though nothing ran, and could not be confirmed again."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastmcp import Client, FastMCP

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import serving
from tests.helpers.confirm import CONFIRM, pending_id
from tests.helpers.errors import error_of
from tests.helpers.loans import GET_LOAN, WRITE_OFF, call, defaulted
from tests.helpers.risk import uid
from tests.mcp_servers.test_confirmation_answers import REASON, lock_waiters
from tools.platform.principal import Role


async def test_a_confirmed_write_off_runs_to_its_end_when_the_confirmer_disconnects(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan = await defaulted(client, principal, runtime, core_db, clock)
    principal(uid("admin-a"), Role.ADMIN)
    async with Client(server) as bare:
        error = error_of(
            await bare.call_tool(WRITE_OFF, {"loan": loan["id"], "reason": REASON}, raise_on_error=False)
        )
    assert error is not None and error["code"] == "confirmation_required", error
    action = pending_id(error["message"])
    holding = core_db.transaction()  # the write-off waits for the loan, as behind a repayment
    await holding.start()
    await core_db.execute("SELECT 1 FROM caas_core.loans WHERE id = $1 FOR NO KEY UPDATE", loan["id"])
    async with serving(build_server(runtime).http_app(path="/mcp", stateless_http=True)) as url:
        try:
            principal(uid("admin-b"), Role.ADMIN)  # this server has no token check: the test's caller
            async with Client(f"{url}/mcp", mode="2026-07-28") as remote:
                confirming = asyncio.create_task(remote.call_tool(CONFIRM, {"action": action}))
                await lock_waiters(core_db, 1)
                confirming.cancel()  # the caller goes away: its connection closes
                await asyncio.gather(confirming, return_exceptions=True)
            await asyncio.sleep(0.2)  # the server has seen the connection close
        finally:
            await holding.rollback()
        for _ in range(200):  # the move finishes on its own once the loan is free
            if (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "written_off":
                break
            await asyncio.sleep(0.05)
    status = await core_db.fetchval("SELECT status FROM caas_core.pending_actions WHERE id = $1", action)
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "written_off"
    assert status == "confirmed"
