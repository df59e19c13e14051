"""A ``tools/list`` answered from what the same caller's view was answered with before.

FastMCP builds every listing from scratch: it gathers all ~85 tools of the composed server, checks
each one's visibility and auth, runs our middlewares' filters (the role gate and the toolsets), then
converts every visible tool to the MCP SDK's model, which the SDK then dumps to JSON's shapes. Every
new session of an agent lists its tools, as agents do, and a listing cost the server 4.6 ms of CPU
over HTTP against 3.3 ms answered from here (``bench_submit_ab.py --request list``, bench/README.md,
ninth pass).

What a listing shows is fixed once the server is built, given the caller's role and its connection's
view (toolsets, read-only, dynamic; ``ToolsetGate.listing_key``) and the page's cursor. So the answer
is kept under that key. It is kept only while it cannot go stale:
- a component added or removed, or a transform added to the server or its provider (as ``enable`` and
  ``disable`` do), drops every answer;
- while session visibility rules exist in this process, or the state store is shared with other
  processes (``tool_lookup``), or any tool carries its own ``auth`` check (which reads each request's
  token), or the server has more than one provider (a mount), every listing is built as FastMCP does.
An answer is kept in its wire form (the result's JSON as a dict), which the MCP SDK takes from a
handler as it takes a model, so the SDK no longer dumps the model of every tool and schema again;
each tool's wire form is kept once, shared by the answers that show it. At most ``MAX_KEYS`` keys
are kept (a caller choosing headers at will cannot grow it), least recently used first out. A
failure (a bad cursor) is never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.context import Context
from key_value.aio.stores.memory import MemoryStore
from mcp import types as mcp_types

from mcp_servers.platform.tool_lookup import session_rules_saved

__all__ = ["MAX_KEYS", "cache_tool_listing"]

MAX_KEYS = 256


class _Listings:
    def __init__(self, server: FastMCP, key: Callable[[], Awaitable[Hashable]], build: Any) -> None:
        self.server, self.key, self.build = server, key, build
        self.answers: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self.tools: dict[str, dict[str, Any]] = {}  # each tool's wire form, shared by every answer
        self.own_auth: bool | None = None  # whether any tool has an auth check; None: not looked at
        self.transforms: tuple[int, ...] = ()

    def drop(self) -> None:
        self.answers.clear()
        self.tools.clear()
        self.own_auth = None

    def cacheable(self) -> bool:
        server: Any = self.server
        if len(server.providers) != 1 or session_rules_saved():
            return False
        # enable()/disable() append to these lists directly: their members, by identity, are the check.
        transforms = (*map(id, server._transforms), -1, *map(id, server.local_provider._transforms))
        if transforms != self.transforms:
            self.drop()
            self.transforms = transforms
        if not isinstance(server._state_storage, MemoryStore | None):
            return False
        if self.own_auth is None:
            components = server.local_provider._components.values()
            self.own_auth = any(getattr(c, "auth", None) is not None for c in components)
        return not self.own_auth

    async def __call__(self, ctx: Any, params: mcp_types.PaginatedRequestParams | None) -> Any:
        if not self.cacheable():
            return await self.build(ctx, params)
        try:
            async with Context(fastmcp=self.server):
                key = (await self.key(), params.cursor if params else None)
        except Exception:  # a view that cannot be read: FastMCP's path answers (and refuses) it
            return await self.build(ctx, params)
        answer = self.answers.get(key)
        if answer is None:
            built: mcp_types.ListToolsResult = await self.build(ctx, params)
            # As the SDK dumps a handler's model (mcp.server.runner._dump_result).
            answer = built.model_dump(by_alias=True, mode="json", exclude_none=True)
            # A tool's wire form is the same in every view that shows it: kept once, an answer of another
            # key costs a list of references (700 KiB of dicts for the 74 tools of a staff listing otherwise).
            answer["tools"] = [self.tools.setdefault(tool["name"], tool) for tool in answer["tools"]]
            self.answers[key] = answer
            if len(self.answers) > MAX_KEYS:
                self.answers.popitem(last=False)
        else:
            self.answers.move_to_end(key)
        # The SDK copies a dict result before shaping it (mcp.server.runner._dump_result): ours stays as kept.
        return answer


def cache_tool_listing(server: FastMCP, key: Callable[[], Awaitable[Hashable]]) -> None:
    """Answer ``server``'s ``tools/list`` from a cache under ``key()`` (the caller's view) and the cursor."""
    low: Any = server._mcp_server
    entry = low._request_handlers["tools/list"]
    listings = _Listings(server, key, entry.handler)

    def dropping(change: Callable[..., Any]) -> Callable[..., Any]:
        def changed(*args: Any, **kwargs: Any) -> Any:
            listings.drop()
            return change(*args, **kwargs)

        return changed

    provider: Any = server.local_provider
    provider._add_component = dropping(provider._add_component)
    provider._remove_component = dropping(provider._remove_component)
    low.add_request_handler("tools/list", entry.params_type, listings)
