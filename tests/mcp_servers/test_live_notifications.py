"""Notifications on the live feed, over real HTTP (uvicorn) on real PostgreSQL: a new in-app notification
writes one outbox event (aggregate ``notification``), its owner's live client is told about it and a
stranger's is not; a redelivered notification job stores nothing again and tells nothing again; the
relay routes the event to no queue (no webhook, no Supabase sync, no second notification)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from websockets.asyncio.client import connect

from mcp_servers.runtime import Runtime
from tests.helpers.common import application, make_jwt, serving
from tests.helpers.notifications import LIST, OPEN, POST, rows, settle, uid
from tests.mcp_servers.test_live_updates import FIELDS, ready, ws_until, ws_url
from tests.mcp_servers.test_subscriptions import served
from tools.notifications.domain.templates import Facts, Template, render
from tools.notifications.events import CREATED
from tools.notifications.notifications import Notice, deliver

SUBMIT = "credit_submit_application"


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(served(runtime, sessions=False)) as url:
        yield url


async def tool(base_url: str, token: str, name: str, args: dict[str, Any]) -> Any:
    async with Client(f"{base_url}/mcp", auth=token) as mcp:
        result = await mcp.call_tool(name, args, raise_on_error=False)
    assert not result.is_error, (name, result.structured_content)
    return result.structured_content


async def newest_notification(base_url: str, token: str) -> dict[str, Any]:
    page = await tool(base_url, token, LIST, {"limit": 1})
    return dict(page["items"][0])


async def outbox(runtime: Runtime, notification_id: str) -> list[asyncpg.Record]:
    assert runtime.core_pool is not None
    return list(
        await runtime.core_pool.fetch(
            "SELECT o.event_id, o.event_type, o.payload, o.published_at, "
            "(SELECT count(*) FROM caas_core.jobs j WHERE j.event_id = o.event_id) AS jobs "
            "FROM caas_core.outbox o WHERE aggregate_type = 'notification' AND aggregate_id = $1",
            notification_id,
        )
    )


async def test_a_support_reply_is_told_live_to_the_owner_and_never_to_a_stranger(
    base_url: str, runtime: Runtime
) -> None:
    owner, stranger, operator = uid("b-owner"), uid("b-stranger"), make_jwt(uid("op"), role="operator")
    mine = await tool(base_url, make_jwt(owner), OPEN, {"subject": "My loan", "message": "When is it paid?"})
    theirs = await tool(base_url, make_jwt(stranger), OPEN, {"subject": "Mine", "message": "Hello?"})
    async with (
        connect(ws_url(base_url, make_jwt(owner))) as told,
        connect(ws_url(base_url, make_jwt(stranger))) as other,
    ):
        await ready(told)
        await ready(other)
        reply = {"conversation": mine["conversation"]["id"], "message": "Tomorrow."}
        await tool(base_url, operator, POST, reply)
        notice = await newest_notification(base_url, make_jwt(owner))
        assert notice["kind"] == "support_reply"
        seen = await ws_until(told, notice["id"], CREATED)
        event = seen[-1]
        assert set(event) == FIELDS and event["entity"] == "notification" and event["occurred_at"]
        assert owner not in json.dumps(seen) and "Tomorrow" not in json.dumps(seen)  # nothing personal
        # The stranger's own reply, posted after the owner's: the first notification it hears of is its own.
        await tool(base_url, operator, POST, {"conversation": theirs["conversation"]["id"], "message": "Hi."})
        own = await newest_notification(base_url, make_jwt(stranger))
        heard = await ws_until(other, own["id"], CREATED)
        assert [m["id"] for m in heard if m["entity"] == "notification"] == [own["id"]]
    [row] = await outbox(runtime, notice["id"])
    assert row["event_type"] == CREATED and row["payload"]["user_id"] == owner


async def test_a_queued_notification_is_told_once_and_feeds_no_queue(base_url: str, runtime: Runtime) -> None:
    borrower = uid("b-queued")
    token = make_jwt(borrower)
    async with connect(ws_url(base_url, token)) as ws:
        await ready(ws)
        app = await tool(base_url, token, SUBMIT, {"application": application()})
        await settle(runtime)  # application.submitted -> the notifications queue -> the inbox
        notice = await newest_notification(base_url, token)
        assert notice["kind"] == "application_received" and notice["application_id"] == app["id"]
        seen = await ws_until(ws, notice["id"], CREATED)
    assert [m["id"] for m in seen if m["entity"] == "notification"] == [notice["id"]]
    # The job delivered again (at least once): the row is there, so nothing is stored or told again.
    [stored] = [r for r in await rows(runtime, borrower) if str(r["id"]) == notice["id"]]
    facts = Facts(reference=app["reference"], currency="GHS", amount_minor=1)
    message = render(Template.APPLICATION_RECEIVED, facts)
    again = Notice(stored["event_id"], borrower, stored["application_id"], message, None, None)
    assert await deliver(runtime.deps.notifications, again) == []
    await settle(runtime)
    [row] = await outbox(runtime, notice["id"])
    assert row["published_at"] is not None and row["jobs"] == 0  # relayed, routed to no queue
    page = await tool(base_url, token, LIST, {"limit": 10})
    assert [n["id"] for n in page["items"]] == [notice["id"]]
