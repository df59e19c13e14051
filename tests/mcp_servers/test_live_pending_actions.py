"""Money moves awaiting a person on the live feed, over real HTTP on real PostgreSQL: an agent's accept
that needs a person writes ``pending_action.requested``; staff and the agent who asked are told, a
stranger is not; the decision (confirmed or declined) is told the same way. Nothing of the move's
arguments is sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from websockets.asyncio.client import connect

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, market, place, uid
from tests.helpers.common import application, make_jwt, serving
from tests.helpers.confirm import pending_id
from tests.helpers.errors import error_of
from tests.mcp_servers.test_live_updates import ready, ws_until, ws_url
from tests.mcp_servers.test_subscriptions import served

SUBMIT = "credit_submit_application"
DECLINE = "admin_decline_action"


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(served(runtime, sessions=False)) as url:
        yield url


async def test_a_move_awaiting_a_person_is_told_to_staff_and_to_who_asked_never_to_a_stranger(
    base_url: str, client: Client, principal: Any, country: str
) -> None:
    agent = uid("agent-live")
    app, (lender,) = await market(client, principal, country, lenders=1, agent=agent)
    bid = await place(client, principal, app, lender)
    stranger = make_jwt(uid("b-stranger"))
    async with (
        connect(ws_url(base_url, make_jwt(uid("op-live"), role="operator"))) as staff,
        connect(ws_url(base_url, make_jwt(agent, role="agent"))) as asker,
        connect(ws_url(base_url, stranger)) as other,
        Client(f"{base_url}/mcp", auth=make_jwt(agent, role="agent")) as mcp,
    ):
        for ws in (staff, asker, other):
            await ready(ws)
        # An agent's client that cannot ask its person: the move waits for one.
        args = {"application": app["id"], "bid": bid["id"], "idempotency_key": uid("k")}
        error = error_of(await mcp.call_tool(ACCEPT, args, raise_on_error=False))
        assert error is not None and error["code"] == "confirmation_required", error
        action = pending_id(error["message"])
        for ws in (staff, asker):
            told = await ws_until(ws, action, "pending_action.requested")
            assert told[-1]["entity"] == "pending_action"
            assert bid["id"] not in json.dumps(told[-1]) and "amount" not in json.dumps(told[-1])
        declined = await mcp.call_tool(DECLINE, {"action": action, "reason": "the borrower changed its mind"})
        assert not declined.is_error
        await ws_until(asker, action, "pending_action.declined")
        # The stranger's own change, made after all of it, is the first thing it is told.
        async with Client(f"{base_url}/mcp", auth=stranger) as own:
            mine: Any = (await own.call_tool(SUBMIT, {"application": application()})).structured_content
        seen = await ws_until(other, mine["id"], "application.submitted")
        assert {m["id"] for m in seen} == {mine["id"]}
