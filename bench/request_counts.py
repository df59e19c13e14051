"""Diagnostic (``bench_journey.py --count-requests``): the HTTP requests the driver's MCP clients send,
by JSON-RPC method (a tool call by its tool). The server is also sent the gateway's webhooks, which
the sandbox posts, not the driver: bench_journey adds those from the database (its inbox rows).

A journey makes 22 tool calls, but the server serves more requests than that for it: a money move a
person confirms is two (the question, then the confirmed call), and a new borrower's client first asks
``server/discover`` and ``tools/list``. The efficiency's numerator counts the 22 calls alone."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any

import httpx2

__all__ = ["count_requests", "label"]


def label(body: bytes) -> str:
    """A request body's method, a tool call with its tool's name."""
    try:
        message = json.loads(body or b"{}")
    except ValueError:
        return "(not JSON)"
    if not isinstance(message, dict):
        return "(batch)"
    method = str(message.get("method", "(response)"))
    if method == "tools/call":
        return f"tools/call {message.get('params', {}).get('name')}"
    return method


def count_requests() -> tuple[collections.Counter[str], Callable[[], None]]:
    """Counts every request the MCP clients of this process send from now on; returns the counter and
    the undoing."""
    seen: collections.Counter[str] = collections.Counter()
    send = httpx2.AsyncClient.send

    async def counted(self: httpx2.AsyncClient, request: httpx2.Request, *args: Any, **kw: Any) -> Any:
        if request.method == "POST":
            seen[label(request.content)] += 1
        return await send(self, request, *args, **kw)

    httpx2.AsyncClient.send = counted  # type: ignore[method-assign]

    def restore() -> None:
        httpx2.AsyncClient.send = send  # type: ignore[method-assign]

    return seen, restore
