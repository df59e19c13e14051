"""Helpers for the notification and support-chat tests: running the queues, reading a borrower's inbox
through the tools, the Supabase rows, and the messages the sandbox gateway captured."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import error_code
from tools.platform.principal import Role

LIST = "notifications_list_notifications"
MARK = "notifications_mark_notification_read"
GET_PREFS = "notifications_get_notification_preferences"
SET_PREFS = "notifications_set_notification_preferences"
OPEN = "notifications_open_support_conversation"
POST = "notifications_post_support_message"
READ = "notifications_get_support_conversation"
CONVERSATIONS = "notifications_list_support_conversations"
CLOSE = "notifications_close_support_conversation"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, (tool, result.structured_content)
    return result.structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def settle(runtime: Runtime) -> None:
    """Relay and run every queue until nothing is due (a job waiting for its retry is not due)."""
    for _ in range(100):
        if await runtime.workers.drain() == 0:
            return
    raise AssertionError("the queues never ran dry")


async def inbox(client: Client, principal: Any, user: str, **args: Any) -> list[dict[str, Any]]:
    """Every in-app notification of ``user``, read as ``user`` page by page, oldest first."""
    principal(user, Role.BORROWER)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(client, LIST, {**args, "limit": 2, **({"cursor": cursor} if cursor else {})})
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items[::-1]


async def supabase(runtime: Runtime) -> asyncpg.Connection:
    assert runtime.targets is not None
    return await asyncpg.connect(runtime.targets.supabase)


async def rows(runtime: Runtime, user: str) -> list[asyncpg.Record]:
    """Every notifications row of ``user`` (all channels), oldest first."""
    conn = await supabase(runtime)
    try:
        return await conn.fetch(
            "SELECT * FROM public.notifications WHERE user_id = $1 ORDER BY created_at, channel", user
        )
    finally:
        await conn.close()


async def sandbox(runtime: Runtime, method: str, path: str, **params: str) -> Any:
    assert runtime.sandbox is not None, "the tests run against the in-process sandbox gateway"
    async with httpx.AsyncClient(base_url=runtime.sandbox.gateway_url, timeout=10) as http:
        response = await http.request(method, path, params=params)
        response.raise_for_status()
        return response.json()


async def captured(runtime: Runtime, **params: str) -> list[dict[str, Any]]:
    """SMS and email the sandbox gateway received, filtered like GET /sandbox/messages."""
    return list(await sandbox(runtime, "GET", "/sandbox/messages", **params))
