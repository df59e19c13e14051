"""What a person's answer confirms: only a JSON ``true`` (a probe's find: "yes", 1 and "true" moved
money on a 2025-11-25 connection, and a malformed answer was an internal error), and only the move as
they read it (a probe's find: a repayment recorded while a write-off waited for its confirmation wrote
off less principal than the person confirmed, under the old summary; and one landing after the answer,
while the write-off waited for the loan's lock, was written off as it then stood)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, as_borrower, market, place
from tests.helpers.clock import MovableClock
from tests.helpers.confirm import CONFIRM, pending_id
from tests.helpers.errors import error_of
from tests.helpers.loans import GET_LOAN, REPAY, WRITE_OFF, call, defaulted, paid_at
from tests.helpers.locks import hold_loan, lock_waiters
from tests.helpers.payments import DISBURSE, key, pending_loan
from tests.helpers.risk import uid
from tools.platform.principal import Role

MODES = ["2026-07-28", "legacy"]
REASON = "borrower unreachable for four months; recovery agency returned the file"
NOT_A_YES = [{"confirm": "yes"}, {"confirm": 1}, {"confirm": "true"}, {}, {"confirm": None}]
# A list is no ElicitResult content at all: a 2026-07-28 client refuses to send it; an older one sends it.
ANSWERS = [(mode, content) for mode in MODES for content in NOT_A_YES] + [("legacy", {"confirm": [True]})]


def answer(content: Any, before: Any = None) -> Any:
    async def handler(message: str, response_type: Any, params: Any, context: Any) -> Any:
        if before is not None:
            await before()
        return content

    return handler


async def outcome(client: Client, tool: str, args: dict[str, Any]) -> tuple[str | None, Any]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    error = error_of(result)
    return (error["code"], error["message"]) if error is not None else (None, result.structured_content)


async def payments_of(db: asyncpg.Connection, loan: dict[str, Any]) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", loan["id"]))


async def write_offs(db: asyncpg.Connection, loan: dict[str, Any]) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'write_off' AND source_id LIKE $1",
            f"%{loan['id']}%",
        )
    )


async def refused_as_changed(
    code: str | None, message: Any, client: Client, db: asyncpg.Connection, loan: dict[str, Any]
) -> None:
    """The write-off was refused as changed since the person read it, and nothing was written off."""
    assert code == "conflict", message
    assert "changed since the person was asked" in message and "must be called again" in message
    assert await write_offs(db, loan) == 0
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "defaulted"


@pytest.mark.parametrize(("mode", "content"), ANSWERS)
async def test_only_a_json_true_confirms_and_a_malformed_answer_is_a_no(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    mode: str,
    content: Any,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    async with Client(server, mode=mode, elicitation_handler=answer(content)) as person:
        code, message = await outcome(person, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "confirmation_declined", message
    assert await payments_of(core_db, loan) == 0


@pytest.mark.parametrize("content", [{"confirm": "yes"}, {"confirm": [True]}])
async def test_a_pending_action_is_not_confirmed_in_person_by_an_answer_that_is_not_true(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    content: Any,
) -> None:
    # An operator's agent asks; the operator confirms in their own client, which answers wrongly.
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    operator = uid("op")
    principal(operator, Role.OPERATOR)
    async with Client(server) as bare:
        code, message = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "confirmation_required", message
    async with Client(server, mode="legacy", elicitation_handler=answer(content)) as page:
        code, message = await outcome(page, CONFIRM, {"action": pending_id(message)})
    assert code == "confirmation_declined", message
    assert await payments_of(core_db, loan) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_move_that_changed_while_the_person_read_it_does_not_run(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    mode: str,
) -> None:
    loan = await defaulted(client, principal, runtime, core_db, clock)
    admin = uid("admin")

    async def repaid_meanwhile() -> None:
        principal(uid("svc"), Role.SERVICE)
        pay = {"loan": loan["id"], "amount": "1000.00", "paid_at": paid_at(clock), "reference": uid("p")}
        await client.call_tool(REPAY, pay)
        principal(admin, Role.ADMIN)

    principal(admin, Role.ADMIN)
    async with Client(
        server, mode=mode, elicitation_handler=answer({"confirm": True}, repaid_meanwhile)
    ) as c:
        code, message = await outcome(c, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
    await refused_as_changed(code, message, client, core_db, loan)


async def test_a_pending_action_whose_move_changed_is_refused_and_runs_nothing(
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
        code, message = await outcome(bare, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
        assert code == "confirmation_required", message
        action = pending_id(message)
        principal(uid("svc"), Role.SERVICE)
        pay = {"loan": loan["id"], "amount": "1000.00", "paid_at": paid_at(clock), "reference": uid("p")}
        await call(client, REPAY, pay)
        principal(uid("admin-b"), Role.ADMIN)
        code, message = await outcome(bare, CONFIRM, {"action": action})
        assert code == "conflict", message
        assert "changed since the person was asked" in message
        assert await write_offs(core_db, loan) == 0
        status = await core_db.fetchval("SELECT status FROM caas_core.pending_actions WHERE id = $1", action)
        assert status == "pending"  # refused, not used up: nothing ran
        # Asked again, it reads as it stands, and a second person confirms that.
        principal(uid("admin-a"), Role.ADMIN)
        code, message = await outcome(bare, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
        assert code == "confirmation_required", message
        principal(uid("admin-b"), Role.ADMIN)
        code, done = await outcome(bare, CONFIRM, {"action": pending_id(message)})
    assert code is None, done
    assert done["result"]["status"] == "written_off"
    assert await write_offs(core_db, loan) == 1


async def test_a_confirmed_move_that_did_not_run_is_failed_not_confirmed(
    server: FastMCP, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # A probe's find: two payouts of one loan asked apart; the second, confirmed after the first paid
    # out, was refused (conflict) yet stayed confirmed, audited as succeeded.
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    async with Client(server) as bare:
        asked = []
        for _ in range(2):
            code, message = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
            assert code == "confirmation_required", message
            asked.append(pending_id(message))
        principal(uid("op"), Role.OPERATOR)
        assert (await outcome(bare, CONFIRM, {"action": asked[0]}))[0] is None
        code, message = await outcome(bare, CONFIRM, {"action": asked[1]})
        assert code == "conflict", message
        items = (
            await bare.call_tool("admin_list_pending_actions", {"include_settled": True})
        ).structured_content
        [failed] = [i for i in items["items"] if i["action"] == asked[1]]
        assert failed["status"] == "failed" and failed["failure"].startswith(f"conflict: {message[:60]}")
        code, again = await outcome(bare, CONFIRM, {"action": asked[1]})
        assert code == "conflict" and "did not run" in again
    assert await payments_of(core_db, loan) == 1
    outcomes = await core_db.fetch(
        "SELECT outcome FROM caas_audit.audit_log WHERE object_type = 'pending_action' AND object_id = $1 "
        "ORDER BY id",
        asked[1],
    )
    assert [r["outcome"] for r in outcomes][-2:] == ["succeeded", "failed"]  # confirmed, then did not run


async def test_confirming_again_after_the_move_ran_says_it_was_confirmed(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    # A probe's find: once the acceptance ran, its summary reads otherwise (the application is no
    # longer open), and a second confirm_action (a client that lost the answer) was told "changed since
    # the person was asked ... Nothing ran".
    agent = uid("agent")
    app, (lender,) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, lender)
    principal(agent, Role.AGENT)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    code, message = await outcome(client, ACCEPT, args)  # an agent's answer never counts
    assert code == "confirmation_required", message
    as_borrower(principal, app)
    action = pending_id(message)
    assert (await outcome(client, CONFIRM, {"action": action}))[0] is None
    code, message = await outcome(client, CONFIRM, {"action": action})
    assert code == "conflict" and "already confirmed" in message, message
    assert "Nothing ran" not in message


@pytest.mark.parametrize("how", ["pending_action", "legacy", "2026-07-28"])
async def test_a_repayment_landing_after_the_answer_is_not_written_off_as_it_then_stands(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    how: str,
) -> None:
    # The person's answer is checked against the loan as it reads then; a repayment queued for the
    # loan's lock commits between that check and the write-off's own transaction.
    loan = await defaulted(client, principal, runtime, core_db, clock)
    admin = uid("admin")
    principal(admin, Role.ADMIN)
    async with (
        Client(
            server,
            mode="2026-07-28" if how == "pending_action" else how,
            elicitation_handler=answer({"confirm": True}),
        ) as person,
        Client(server) as bare,
    ):
        if how == "pending_action":
            code, message = await outcome(bare, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
            assert code == "confirmation_required", message
            principal(uid("admin-b"), Role.ADMIN)
            write_off = outcome(bare, CONFIRM, {"action": pending_id(message)})
        else:
            write_off = outcome(person, WRITE_OFF, {"loan": loan["id"], "reason": REASON})
        holding = await hold_loan(core_db, loan["id"])
        confirmer = runtime.principals.current()
        principal(uid("svc"), Role.SERVICE)
        pay = {"loan": loan["id"], "amount": "1000.00", "paid_at": paid_at(clock), "reference": uid("p")}
        repaying = asyncio.create_task(call(client, REPAY, pay))
        await lock_waiters(core_db, 1)
        principal(confirmer.subject, confirmer.role)
        writing_off = asyncio.create_task(write_off)
        await lock_waiters(core_db, 2)
        await holding.rollback()
        await repaying
        code, message = await writing_off
    await refused_as_changed(code, message, client, core_db, loan)
