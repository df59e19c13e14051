import copy
from typing import Any

import pytest
from fastmcp import Client, Context, FastMCP
from fastmcp.server.auth import require_scopes
from fastmcp.tools import Tool

from mcp_servers.platform import tool_listing
from mcp_servers.platform.tool_listing import cache_tool_listing
from mcp_servers.platform.tool_lookup import _SessionRules, index_tools
from tools.platform.principal import Role


class _Counted:
    """A server whose listing is cached under ``view``; counts the listings FastMCP builds."""

    def __init__(self) -> None:
        self.view = "a"
        self.built = 0
        self.server = FastMCP("t")

        @self.server.tool
        def echo(text: str) -> str:
            return text

        @self.server.tool
        async def hide(ctx: Context) -> str:
            await ctx.disable_components(names={"echo"})
            return "hidden"

        index_tools(self.server)

        async def key() -> str:
            return self.view

        cache_tool_listing(self.server, key)
        listings = self.server._mcp_server._request_handlers["tools/list"].handler
        build = listings.build

        async def counted(*args: Any) -> Any:
            self.built += 1
            return await build(*args)

        listings.build = counted

    async def names(self) -> list[str]:
        async with Client(self.server) as client:
            return sorted(t.name for t in await client.list_tools())


async def test_a_listing_is_built_once_per_view_and_answers_as_fastmcps() -> None:
    counted = _Counted()
    first = await counted.names()
    assert first == ["echo", "hide"]
    assert await counted.names() == first and counted.built == 1
    counted.view = "b"
    assert await counted.names() == first and counted.built == 2
    counted.view = "a"
    assert await counted.names() == first and counted.built == 2
    # The two views' answers hold each tool once between them.
    listings = counted.server._mcp_server._request_handlers["tools/list"].handler
    a, b = (listings.answers[view, None]["tools"] for view in ("a", "b"))
    assert a == b and all(x is y for x, y in zip(a, b, strict=True))
    # Served again, the kept answer is as it was kept: the SDK stamps (_meta) its own copies.
    kept = copy.deepcopy(listings.answers["a", None])
    assert await counted.names() == first
    assert listings.answers["a", None] == kept and "_meta" not in kept


async def test_a_tool_added_or_removed_later_is_listed_as_it_is_now() -> None:
    counted = _Counted()
    await counted.names()
    counted.server.add_tool(Tool.from_function(lambda: "late", name="late"))
    assert await counted.names() == ["echo", "hide", "late"]
    counted.server.local_provider.remove_tool("echo")
    assert await counted.names() == ["hide", "late"]


async def test_a_tool_disabled_or_enabled_on_the_server_is_listed_as_it_is_now() -> None:
    counted = _Counted()
    await counted.names()
    counted.server.disable(names={"echo"})
    assert await counted.names() == ["hide"]
    counted.server.enable(names={"echo"})
    assert await counted.names() == ["echo", "hide"]
    counted.server.local_provider.disable(names={"hide"})
    assert await counted.names() == ["echo"]


async def test_once_a_session_hides_a_tool_every_listing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    counted = _Counted()
    monkeypatch.setattr(_SessionRules, "saved", False)
    assert await counted.names() == ["echo", "hide"]
    async with Client(counted.server) as client:
        assert (await client.call_tool("hide", {})).data == "hidden"
        built = counted.built
        assert [t.name for t in await client.list_tools()] == ["hide"]
        assert [t.name for t in await client.list_tools()] == ["hide"]
    assert counted.built == built + 2


async def test_a_tool_with_its_own_auth_check_makes_every_listing_built() -> None:
    counted = _Counted()
    counted.server.add_tool(Tool.from_function(lambda: "x", name="guarded", auth=require_scopes("admin")))
    await counted.names()
    await counted.names()
    assert counted.built == 2


async def test_views_beyond_the_bound_push_out_the_least_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool_listing, "MAX_KEYS", 3)
    counted = _Counted()
    for view in ("a", "b", "c", "a", "d"):  # "b" is the least recently used when "d" comes
        counted.view = view
        await counted.names()
    assert counted.built == 4
    listings = counted.server._mcp_server._request_handlers["tools/list"].handler
    assert [key for key, _ in listings.answers] == ["c", "a", "d"]
    counted.view = "b"
    await counted.names()
    assert counted.built == 5


async def test_each_role_and_connection_view_gets_its_own_listing(client: Client, principal: Any) -> None:
    """The composed server: a cached listing never reaches a caller of another role or view."""
    seen: dict[str, set[str]] = {}
    for role in (Role.BORROWER, Role.OPERATOR, Role.BORROWER, Role.PROVIDER, Role.OPERATOR):
        principal(f"lister-{role.value}", role)
        names = {t.name for t in await client.list_tools()}
        assert seen.setdefault(role.value, names) == names
    assert "credit_submit_application" in seen["borrower"] - seen["provider"]
    assert "providers_place_bid" in seen["provider"] - seen["borrower"]
    assert "admin_onboard_provider" in seen["operator"] - seen["borrower"]
