"""A money move a person confirmed is carried out even if the caller goes away while it runs: over
Streamable HTTP a closed connection cancels the request, and a move cut off half-way stayed
``confirmed`` though nothing ran, and could not be confirmed again. And when the process itself stops
between the confirmation and the move's commit (a probe killed it), the workers fail the action once it
is long past, where it had stayed ``confirmed`` for good (migration 0049)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastmcp import Client, FastMCP

from database.platform.pending_actions import INTERRUPTED, PgPendingActions, fail_interrupted_actions
from mcp_servers.composition import build_server
from mcp_servers.platform.workers import worker_invocation
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import serving
from tests.helpers.confirm import CONFIRM, pending_id
from tests.helpers.errors import error_of
from tests.helpers.loans import GET_LOAN, WRITE_OFF, call, defaulted
from tests.helpers.locks import hold_loan, lock_waiters
from tests.helpers.payments import DISBURSE, key, pending_loan
from tests.helpers.risk import uid
from tests.mcp_servers.test_confirmation_answers import REASON, outcome, payments_of
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Principal, Role

SWEEP = worker_invocation("fail_interrupted_actions")


async def action_row(db: asyncpg.Connection, action: str) -> Any:
    return await db.fetchrow(
        "SELECT status, failure, ran_at FROM caas_core.pending_actions WHERE id = $1", action
    )


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
    holding = await hold_loan(core_db, loan["id"])  # the write-off waits for the loan
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


async def payout_asked(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection
) -> tuple[dict[str, Any], str]:
    """A loan pending its payout, and the pending action a service's call to pay it out left."""
    loan, _ = await pending_loan(client, principal, runtime, db)
    principal(uid("svc"), Role.SERVICE)
    # A service's own say-so never counts, whatever its client answers: a person confirms.
    code, message = await outcome(client, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "confirmation_required", message
    return loan, pending_id(message)


async def test_an_action_whose_process_stopped_before_its_move_ran_is_failed_once_long_past(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, action = await payout_asked(client, principal, runtime, core_db)
    async with Client(server) as bare:
        # confirm_action's first step, then the process is gone: settled, and the move never ran.
        operator = Principal(uid("op"), Role.OPERATOR)
        settling = Invocation(operator, "admin.confirm_action", "0" * 64)
        store = PgPendingActions(runtime.core_pool)
        audit = AuditRecord(settling, "pending_action", action)
        assert await store.settle(action, operator, clock.now(), audit) is not None
        assert await fail_interrupted_actions(runtime.core_pool, clock, SWEEP) == 0  # it may still be running
        assert (await action_row(core_db, action))["status"] == "confirmed"
        clock.move(minutes=11)
        assert await fail_interrupted_actions(runtime.core_pool, clock, SWEEP) >= 1
        row = await action_row(core_db, action)
        assert (row["status"], row["failure"], row["ran_at"]) == ("failed", INTERRUPTED, None)
        principal(operator.subject, Role.OPERATOR)
        code, message = await outcome(bare, CONFIRM, {"action": action})
        assert code == "conflict" and "did not run" in message, message
    assert await payments_of(core_db, loan) == 0
    said = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.outbox "
        "WHERE aggregate_id = $1 AND event_type = 'pending_action.failed'",
        action,
    )
    assert said == 1


async def test_a_confirmed_move_that_ran_is_marked_so_and_never_failed(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, action = await payout_asked(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    async with Client(server) as bare:
        code, done = await outcome(bare, CONFIRM, {"action": action})
    assert code is None, done
    clock.move(minutes=11)
    await fail_interrupted_actions(runtime.core_pool, clock, SWEEP)
    row = await action_row(core_db, action)
    assert row["status"] == "confirmed" and row["ran_at"] is not None
    assert await payments_of(core_db, loan) == 1


async def test_the_sweep_leaves_an_action_whose_move_is_still_running(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    # A probe's find: a write-off waiting for its loan's lock past ten minutes was failed as interrupted
    # ("nothing ran"), then committed.
    loan = await defaulted(client, principal, runtime, core_db, clock)
    principal(uid("admin-a"), Role.ADMIN)
    async with Client(server) as bare:
        code, message = await outcome(bare, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
        assert code == "confirmation_required", message
        action = pending_id(message)
        holding = await hold_loan(core_db, loan["id"])  # the write-off waits for the loan
        principal(uid("admin-b"), Role.ADMIN)
        confirming = asyncio.create_task(outcome(bare, CONFIRM, {"action": action}))
        try:
            await lock_waiters(core_db, 1)
            clock.move(minutes=11)
            await fail_interrupted_actions(runtime.core_pool, clock, SWEEP)
            assert (await action_row(core_db, action))["status"] == "confirmed"  # passed by
        finally:
            await holding.rollback()
        code, done = await confirming
    assert code is None, done
    row = await action_row(core_db, action)
    assert row["status"] == "confirmed" and row["ran_at"] is not None
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "written_off"
