"""Money moves wait for a person (issue 11, item 5): elicitation accept / decline / cancel in both
protocol eras, an unsupported client's pending action and confirm_action, its expiry, single use,
argument binding, and who may confirm."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.elicitation import ElicitResult

import tools.platform.confirmation as rule
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.confirm import CONFIRM
from tests.helpers.errors import error_of
from tests.helpers.payments import DISBURSE, key, pending_loan
from tests.helpers.risk import uid
from tools.platform.principal import Role

MODES = ["2026-07-28", "legacy"]


@pytest.fixture
async def bare(server: FastMCP) -> Any:
    """A client that cannot elicit (the shared ``client`` answers yes for its person)."""
    async with Client(server) as c:
        yield c


def answering(action: str, confirm: bool = True) -> Any:
    async def handler(message: str, response_type: Any, params: Any, context: Any) -> Any:
        answering.asked.append(message)  # type: ignore[attr-defined]
        if action != "accept":
            return ElicitResult(action=action)  # type: ignore[arg-type]
        return {"confirm": confirm}

    return handler


answering.asked = []  # type: ignore[attr-defined]


async def outcome(client: Client, tool: str, args: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    error = error_of(result)
    if error is not None:  # the error's code and message, in the shape the tests below read
        return error["code"], {"error": dict(error)}
    return None, result.structured_content or {}


def action_id(body: dict[str, Any]) -> str:
    found = re.search(r"action ([0-9a-f-]{36})", body["error"]["message"])
    assert found, body
    return found.group(1)


async def payments_of(db: asyncpg.Connection, loan: dict[str, Any]) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", loan["id"]))


@pytest.mark.parametrize("mode", MODES)
async def test_an_accepted_elicitation_runs_the_money_move_with_its_summary(
    server: FastMCP, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, mode: str
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    answering.asked.clear()  # type: ignore[attr-defined]
    async with Client(server, mode=mode, elicitation_handler=answering("accept")) as person:  # type: ignore[arg-type]
        code, body = await outcome(person, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code is None, body
    assert body["status"] == "requested"
    [asked] = answering.asked  # type: ignore[attr-defined]
    net = loan["net_disbursement"]
    assert f"{net['amount']} {net['currency']}" in asked and "APR" in asked and loan["borrower_id"] in asked


@pytest.mark.parametrize("mode", MODES)
async def test_a_pinned_moves_summary_is_read_once_to_ask_and_not_again_for_the_answer(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A payout's summary (a read of the loan) shows only terms fixed at origination (money_summaries.
    # PINNED): what the person is asked, not read again when the answer comes (on 2026-07-28, on the
    # call's retry). A write-off's is read again (test_confirmation_answers).
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    import mcp_servers.confirmation as confirmation

    read: list[str] = []
    real = confirmation.summarize

    async def counted(tool: str, *args: Any) -> str:
        read.append(tool)
        return await real(tool, *args)

    monkeypatch.setattr(confirmation, "summarize", counted)
    async with Client(server, mode=mode, elicitation_handler=answering("accept")) as person:  # type: ignore[arg-type]
        code, body = await outcome(person, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code is None, body
    assert read == ["disburse_loan"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("action", "confirm"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_a_declined_or_cancelled_elicitation_writes_nothing(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    mode: str,
    action: str,
    confirm: bool,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    async with Client(server, mode=mode, elicitation_handler=answering(action, confirm)) as person:  # type: ignore[arg-type]
        code, body = await outcome(person, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "confirmation_declined", body
    assert await payments_of(core_db, loan) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_gets_a_pending_action_a_second_person_confirms(
    server: FastMCP, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, mode: str
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    async with Client(server, mode=mode) as bare:
        code, body = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
        assert code == "confirmation_required", body
        assert await payments_of(core_db, loan) == 0
        pending = action_id(body)
        # The caller itself may not confirm (CAAS_CONFIRM=human).
        assert (await outcome(bare, CONFIRM, {"action": pending}))[0] == "permission_denied"
        principal(uid("op-second"), Role.OPERATOR)
        code, confirmed = await outcome(bare, CONFIRM, {"action": pending})
    assert code is None, confirmed
    assert confirmed["tool"] == "disburse_loan" and confirmed["result"]["status"] == "requested"
    assert await payments_of(core_db, loan) == 1
    audited = await core_db.fetch(
        "SELECT tool, outcome FROM caas_audit.audit_log WHERE object_id = $1 ORDER BY id", pending
    )
    assert [r["outcome"] for r in audited] == ["confirmation_required", "succeeded"]


async def test_agent_and_service_elicitations_never_count(
    server: FastMCP, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    async with Client(server, elicitation_handler=answering("accept")) as machine:  # type: ignore[arg-type]
        code, body = await outcome(machine, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
        assert code == "confirmation_required", body
        # Nor may the service confirm for itself, nor another service: a person's principal confirms.
        assert (await outcome(machine, CONFIRM, {"action": action_id(body)}))[0] == "permission_denied"
        principal(uid("svc-other"), Role.SERVICE)
        assert (await outcome(machine, CONFIRM, {"action": action_id(body)}))[0] == "permission_denied"
    assert await payments_of(core_db, loan) == 0


async def test_self_confirmation_when_the_deployment_allows_it(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"confirm": "self"}))
    code, body = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "confirmation_required"
    code, confirmed = await outcome(bare, CONFIRM, {"action": action_id(body)})
    assert code is None, confirmed
    assert await payments_of(core_db, loan) == 1


async def test_a_confirmation_expires_and_is_used_once(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    args = {"loan": loan["id"], "idempotency_key": key()}
    code, body = await outcome(bare, DISBURSE, args)
    stale = action_id(body)
    principal(uid("op-second"), Role.OPERATOR)
    clock.move(minutes=16)
    code, late = await outcome(bare, CONFIRM, {"action": stale})
    assert code == "conflict" and "expired" in late["error"]["message"]
    principal(uid("op-first"), Role.OPERATOR)
    _, body = await outcome(bare, DISBURSE, args)
    fresh = action_id(body)
    assert fresh != stale
    principal(uid("op-second"), Role.OPERATOR)
    assert (await outcome(bare, CONFIRM, {"action": fresh}))[0] is None
    code, again = await outcome(bare, CONFIRM, {"action": fresh})
    assert code == "conflict" and "used once" in again["error"]["message"]
    assert await payments_of(core_db, loan) == 1


async def test_a_confirmation_is_bound_to_the_exact_arguments(
    client: Client, bare: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    _, body = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    first = action_id(body)
    _, body = await outcome(
        bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key(), "simulate": "success"}
    )
    assert action_id(body) != first  # other arguments: another confirmation
    # A stored call changed after it was asked (an amount, here the outcome) no longer runs.
    await core_db.execute(
        "UPDATE caas_core.pending_actions SET arguments = arguments || $2::jsonb WHERE id = $1",
        first,
        {"simulate": "failure"},
    )
    principal(uid("op-second"), Role.OPERATOR)
    code, refused = await outcome(bare, CONFIRM, {"action": first})
    assert code == "conflict" and "changed" in refused["error"]["message"]
    assert await payments_of(core_db, loan) == 0


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        (DISBURSE, {"loan": "CAAS-1999-000001"}),
        (
            "payments_retry_disbursement",
            {"payment": "caas-disbursement-00000000-0000-4000-8000-000000000000"},
        ),
        ("payments_retry_disbursement", {"payment": "not-a-payment"}),
    ],
    ids=["disburse an unknown loan", "retry an unknown payout", "retry a malformed handle"],
)
async def test_a_money_move_on_nothing_the_caller_can_see_is_refused_before_any_pending_action(
    client: Client, principal: Any, core_db: asyncpg.Connection, tool: str, args: dict[str, Any]
) -> None:
    # Found by the fuzz test: a pending action was written for a payout that does not exist.
    before = await core_db.fetchval("SELECT count(*) FROM caas_core.pending_actions")
    principal(uid("svc"), Role.SERVICE)
    code, _ = await outcome(client, tool, {**args, "idempotency_key": key()})
    assert code in {"not_found", "invalid_argument"}
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.pending_actions") == before


async def waiting(db: asyncpg.Connection, who: Any) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM caas_core.pending_actions "
            "WHERE status = 'pending' AND requester_subject = $1",
            who.subject,
        )
    )


async def test_one_caller_may_have_only_so_many_money_moves_waiting(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fresh idempotency key is another call, so each asked anew: one caller could fill the table.
    monkeypatch.setattr(rule, "MAX_WAITING_ACTIONS", 3)
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    first = runtime.principals.local
    asked = [{"loan": loan["id"], "idempotency_key": key()} for _ in range(3)]
    ids = [action_id((await outcome(bare, DISBURSE, args))[1]) for args in asked]
    audits = await core_db.fetchval(
        "SELECT count(*) FROM caas_audit.audit_log WHERE principal_id = $1", first.subject
    )
    code, body = await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert code == "conflict", body
    message = body["error"]["message"]
    assert "3 money moves waiting" in message and "decline_action" in message and "15 minutes" in message
    assert await waiting(core_db, first) == 3
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_audit.audit_log WHERE principal_id = $1", first.subject
        )
        == audits
    )
    # The same call again is the one already waiting, full or not; another caller has its own room.
    assert action_id((await outcome(bare, DISBURSE, asked[0]))[1]) == ids[0]
    principal(uid("op-other"), Role.OPERATOR)
    assert (await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()}))[0] == (
        "confirmation_required"
    )
    # Withdrawing one makes room; so does time, as the waiting ones expire.
    principal(first.subject, first.role)
    assert (await outcome(bare, "admin_decline_action", {"action": ids[0], "reason": "not now"}))[0] is None
    fresh = {"loan": loan["id"], "idempotency_key": key()}
    assert (await outcome(bare, DISBURSE, fresh))[0] == "confirmation_required"
    assert (await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()}))[0] == "conflict"
    clock.move(minutes=16)
    assert (await outcome(bare, DISBURSE, fresh))[0] == "confirmation_required"


async def test_concurrent_asks_never_pass_the_bound(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rule, "MAX_WAITING_ACTIONS", 3)
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    await outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert await waiting(core_db, runtime.principals.local) == 1
    calls = [outcome(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()}) for _ in range(8)]
    codes = sorted(str(code) for code, _ in await asyncio.gather(*calls))
    assert codes == ["confirmation_required"] * 2 + ["conflict"] * 6
    assert await waiting(core_db, runtime.principals.local) == 3
