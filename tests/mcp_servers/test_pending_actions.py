"""Money moves waiting for a person (issue 11): list_pending_actions shows each with its exact summary,
who asked, its expiry and status, to whom it may show it; decline_action refuses one for good, once,
audited in its own transaction, after which confirm_action answers a conflict."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, as_borrower, market, place
from tests.helpers.clock import MovableClock
from tests.helpers.common import TEST_ACCOUNT_NUMBER
from tests.helpers.confirm import CONFIRM, pending_id
from tests.helpers.errors import error_of
from tests.helpers.payments import DISBURSE, key, pending_loan
from tests.helpers.risk import uid
from tools.platform.principal import Role

LIST = "admin_list_pending_actions"
DECLINE = "admin_decline_action"


@pytest.fixture
async def bare(server: FastMCP) -> Any:
    """A client that cannot elicit, so a money move leaves a pending action."""
    async with Client(server) as c:
        yield c


async def asked(client: Client, tool: str, args: dict[str, Any]) -> str:
    """The pending action ``tool`` left for a person; its id."""
    error = error_of(await client.call_tool(tool, args, raise_on_error=False))
    assert error is not None and error["code"] == "confirmation_required", error
    return pending_id(error["message"])


async def listed(client: Client, **args: Any) -> dict[str, dict[str, Any]]:
    items = (await client.call_tool(LIST, args)).structured_content["items"]
    return {item["action"]: item for item in items}


async def code_of(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    error = error_of(await client.call_tool(tool, args, raise_on_error=False))
    return None if error is None else error["code"]


async def agent_asked(
    client: Client, principal: Any, country: str
) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """An offer on a borrower's application its agent asked to accept: the application, the offer, the
    agent and the pending action."""
    agent = uid("agent")
    app, (lender, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, lender)
    principal(agent, Role.AGENT)
    action = await asked(
        client, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    )
    return app, offer, agent, action


async def test_staff_see_every_pending_action_others_only_their_own(
    client: Client, bare: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    service = uid("svc")
    principal(service, Role.SERVICE)
    action = await asked(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    summary = await core_db.fetchval("SELECT summary FROM caas_core.pending_actions WHERE id = $1", action)
    mine = (await listed(bare))[action]
    assert mine["summary"] == summary and loan["net_disbursement"]["amount"] in summary
    # Where the money goes, masked as the application shows it (fixed at submission).
    assert f"bank account ****{TEST_ACCOUNT_NUMBER[-4:]} at bank 058" in summary
    assert TEST_ACCOUNT_NUMBER not in summary
    assert (mine["tool"], mine["requested_by"], mine["status"]) == (
        "disburse_loan",
        f"service:{service}",
        "pending",
    )
    assert mine["expires_at"] > mine["requested_at"] and mine["settled_by"] is None
    for role in (Role.OPERATOR, Role.ADMIN):
        principal(uid("staff"), role)
        assert action in await listed(bare)
    for role in (Role.SERVICE, Role.AGENT, Role.BORROWER):  # someone else's move on someone else's loan
        principal(uid("other"), role)
        assert action not in await listed(bare)
    principal(uid("p"), Role.PROVIDER, loan["provider_id"])
    assert action not in await listed(bare)


async def test_a_borrower_sees_and_declines_the_offer_its_agent_asked_to_accept(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    agent = uid("agent")
    app, (lender, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, lender)
    principal(agent, Role.AGENT)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    action = await asked(client, ACCEPT, args)
    principal(uid("b-stranger"), Role.BORROWER)
    assert action not in await listed(client)
    assert await code_of(client, DECLINE, {"action": action, "reason": "not mine"}) == "not_found"
    as_borrower(principal, app)
    shown = (await listed(client))[action]
    assert "APR 24.00%" in shown["summary"] and shown["requested_by"] == f"agent:{agent}"
    declined = (await client.call_tool(DECLINE, {"action": action, "reason": "the rate is too high"})).data
    assert (declined.status, declined.reason, declined.declined_by) == (
        "declined",
        "the rate is too high",
        f"borrower:{app['borrower_id']}",
    )
    # The offer is still open: nothing was accepted, and the acceptance can no longer be confirmed.
    status = await core_db.fetchval("SELECT status FROM caas_core.bids WHERE id = $1", offer["id"])
    assert status == "active"
    error = error_of(await client.call_tool(CONFIRM, {"action": action}, raise_on_error=False))
    assert error is not None and error["code"] == "conflict" and "declined by borrower:" in error["message"]
    assert "the rate is too high" in error["message"]


async def test_a_decline_is_single_use_audited_and_the_move_never_runs(
    client: Client, bare: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    principal(uid("svc"), Role.SERVICE)
    action = await asked(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    principal(uid("svc-other"), Role.SERVICE)  # neither the one who asked nor a person
    assert await code_of(bare, DECLINE, {"action": action, "reason": "no thanks"}) == "permission_denied"
    assert await code_of(bare, DECLINE, {"action": action, "reason": ""}) == "invalid_argument"
    unknown_field = {"action": action, "reason": "fine by me", "extra": 1}
    assert await code_of(bare, DECLINE, unknown_field) == "invalid_argument"
    operator = uid("op-decline")
    principal(operator, Role.OPERATOR)
    done = await bare.call_tool(DECLINE, {"action": action, "reason": "wrong bank account"})
    assert done.structured_content["summary"].startswith("Pay out")
    assert await code_of(bare, DECLINE, {"action": action, "reason": "again"}) == "conflict"
    assert await code_of(bare, CONFIRM, {"action": action}) == "conflict"
    paid = await core_db.fetchval("SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", loan["id"])
    assert paid == 0
    audited = await core_db.fetch(
        "SELECT principal_id, tool, outcome FROM caas_audit.audit_log WHERE object_id = $1 ORDER BY id",
        action,
    )
    assert [(r["tool"], r["outcome"]) for r in audited] == [
        ("payments.disburse_loan", "confirmation_required"),
        ("admin.decline_action", "succeeded"),
    ]
    assert audited[1]["principal_id"] == operator
    events = await core_db.fetch(
        "SELECT event_type FROM caas_core.outbox "
        "WHERE aggregate_type = 'pending_action' AND aggregate_id = $1 ORDER BY id",
        action,
    )
    # Asked, then refused: each in the transaction of its own audit row (the live feed tells both).
    assert [e["event_type"] for e in events] == ["pending_action.requested", "pending_action.declined"]
    assert action not in await listed(bare)  # settled: no longer waiting
    settled = (await listed(bare, include_settled=True))[action]
    assert (settled["status"], settled["settled_by"], settled["decline_reason"]) == (
        "declined",
        f"operator:{operator}",
        "wrong bank account",
    )


async def test_the_caller_who_asked_may_withdraw_and_an_expired_action_cannot_be_declined(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    service = uid("svc")
    principal(service, Role.SERVICE)
    first = await asked(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    assert await code_of(bare, DECLINE, {"action": first, "reason": "asked by mistake"}) is None
    stale = await asked(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    clock.move(minutes=16)
    assert await code_of(bare, DECLINE, {"action": stale, "reason": "too late now"}) == "conflict"
    assert (await listed(bare, include_settled=True))[stale]["status"] == "expired"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert await code_of(bare, DECLINE, {"action": unknown, "reason": "nothing"}) == "not_found"


def person_answering(confirm: bool) -> Any:
    async def handler(message: str, response_type: Any, params: Any, context: Any) -> Any:
        handler.asked.append(message)  # type: ignore[attr-defined]
        return {"confirm": confirm}

    handler.asked = []  # type: ignore[attr-defined]
    return handler


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_borrower_confirms_in_person_what_it_asked_from_a_client_without_elicitation(
    server: FastMCP,
    client: Client,
    bare: Client,
    principal: Any,
    country: str,
    core_db: asyncpg.Connection,
    mode: str,
) -> None:
    """A borrower's agent holds the borrower's token in a client that cannot ask the person: the
    acceptance waits. Confirming it from that client stays refused; from one that asks the person (the
    borrower page) the person's answer decides, as it would have on the acceptance itself."""
    app, (lender, *_) = await market(client, principal, country, lenders=1)
    offer = await place(client, principal, app, lender)
    as_borrower(principal, app)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    action = await asked(bare, ACCEPT, args)
    error = error_of(await bare.call_tool(CONFIRM, {"action": action}, raise_on_error=False))
    assert error is not None and error["code"] == "permission_denied"
    assert "from a client that shows you its question" in error["message"]

    declining = person_answering(False)
    async with Client(server, mode=mode, elicitation_handler=declining) as page:
        assert await code_of(page, CONFIRM, {"action": action}) == "confirmation_declined"
    [question] = declining.asked  # type: ignore[attr-defined]
    assert "APR 24.00%" in question
    status = await core_db.fetchval("SELECT status FROM caas_core.bids WHERE id = $1", offer["id"])
    assert status == "active" and (await listed(bare))[action]["status"] == "pending"

    async with Client(server, mode=mode, elicitation_handler=person_answering(True)) as page:
        done = (await page.call_tool(CONFIRM, {"action": action})).structured_content
    assert done["tool"] == "accept_offer" and done["requested_by"] == f"borrower:{app['borrower_id']}"
    status = await core_db.fetchval("SELECT status FROM caas_core.bids WHERE id = $1", offer["id"])
    assert (
        status == "accepted" and (await listed(bare, include_settled=True))[action]["status"] == "confirmed"
    )


async def test_an_agents_own_answer_never_confirms_what_it_asked(
    server: FastMCP, client: Client, bare: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    agent = uid("agent")
    app, (lender, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, lender)
    principal(agent, Role.AGENT)
    action = await asked(
        bare, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    )
    answering = person_answering(True)
    async with Client(server, elicitation_handler=answering) as machine:
        assert await code_of(machine, CONFIRM, {"action": action}) == "permission_denied"
    assert answering.asked == []  # type: ignore[attr-defined]
    assert await core_db.fetchval("SELECT status FROM caas_core.bids WHERE id = $1", offer["id"]) == "active"


async def test_the_asker_in_person_is_told_what_became_of_a_settled_action_and_is_one_person_in_any_role(
    server: FastMCP,
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    operator = uid("op")
    principal(operator, Role.OPERATOR)
    action = await asked(bare, DISBURSE, {"loan": loan["id"], "idempotency_key": key()})
    # The same person signed in as an admin is still the one who asked.
    principal(operator, Role.ADMIN)
    assert await code_of(bare, CONFIRM, {"action": action}) == "permission_denied"
    principal(operator, Role.OPERATOR)
    await bare.call_tool(DECLINE, {"action": action, "reason": "asked for the wrong loan"})
    answering = person_answering(True)
    async with Client(server, elicitation_handler=answering) as console:
        error = error_of(await console.call_tool(CONFIRM, {"action": action}, raise_on_error=False))
    assert error is not None and error["code"] == "conflict" and "declined by operator:" in error["message"]
    assert answering.asked == []  # type: ignore[attr-defined]


async def test_an_action_asked_before_a_rename_is_shown_and_refused_only_by_whom_it_concerns(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    # A probe's find: an accept_offer asked with bid_id (before issue 11's rename) made the owning
    # borrower's list an internal error, and any borrower could decline it and read its offer.
    app, offer, agent, current = await agent_asked(client, principal, country)
    old = await core_db.fetchval(
        "INSERT INTO caas_core.pending_actions (id, tool, arguments, args_sha256, summary, "
        "requester_subject, "
        "requester_role, requester_provider_id, status, created_at, expires_at) "
        "SELECT gen_random_uuid(), tool, $2::jsonb, md5(random()::text), summary, requester_subject, "
        "requester_role, requester_provider_id, 'pending', created_at, expires_at "
        "FROM caas_core.pending_actions WHERE id = $1 RETURNING id::text",
        current,
        {"application": app["id"], "bid_id": offer["id"], "idempotency_key": key()},
    )
    as_borrower(principal, app)
    shown = await listed(client, include_settled=True)
    assert current in shown and old not in shown  # it can no longer run, nor be read as the borrower
    principal(uid("b-stranger"), Role.BORROWER)
    assert await code_of(client, DECLINE, {"action": old, "reason": "not mine"}) == "not_found"
    assert await code_of(client, CONFIRM, {"action": old}) == "not_found"
    principal(agent, Role.AGENT)
    assert old in await listed(client)
    declined = (await client.call_tool(DECLINE, {"action": old, "reason": "asked again"})).data
    assert declined.status == "declined"


async def test_a_borrower_finds_its_own_acceptance_however_many_others_wait(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    # A probe's find: the list read everyone's newest actions and kept the borrower's, so newer
    # acceptances of other borrowers (100 at the default limit) pushed its own off the page.
    app, offer, _, action = await agent_asked(client, principal, country)
    others = {"application": "CAAS-2001-999999", "bid": offer["id"]}  # other borrowers' applications
    await core_db.execute(
        "INSERT INTO caas_core.pending_actions (id, tool, arguments, args_sha256, summary, "
        "requester_subject, requester_role, requester_provider_id, status, created_at, expires_at, "
        "concerns_subject) "
        "SELECT gen_random_uuid(), tool, $2::jsonb, md5(random()::text || n), summary, 'agent-' || n, "
        "requester_role, NULL, 'pending', created_at + interval '1 second', expires_at, 'borrower-' || n "
        "FROM caas_core.pending_actions, generate_series(1, 30) AS n WHERE id = $1",
        action,
        others,
    )
    as_borrower(principal, app)
    assert list(await listed(client, limit=1)) == [action]
