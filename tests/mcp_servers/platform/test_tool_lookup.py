from typing import Any

import pytest
from fastmcp import Client, Context, FastMCP
from fastmcp.tools import Tool

from mcp_servers.platform.tool_lookup import _SessionRules, index_tools


def _server() -> FastMCP:
    server = FastMCP("t")

    @server.tool
    def echo(text: str) -> str:
        return text

    @server.tool(version="1")
    def versioned() -> str:
        return "v1"

    @server.tool(name="versioned", version="2")
    def versioned_2() -> str:
        return "v2"

    @server.resource("data://x")
    def x() -> str:
        return "x"

    return server


async def test_the_index_finds_what_the_scan_finds() -> None:
    server = _server()
    provider = server.local_provider
    scanned = {n: await provider._get_tool(n) for n in ("echo", "versioned", "x", "nope")}
    index_tools(server)
    assert provider._get_tool is not type(provider)._get_tool
    for name, tool in scanned.items():
        assert await provider._get_tool(name) is tool
    assert scanned["versioned"] is not None and scanned["versioned"].version == "2"
    async with Client(server) as client:
        assert (await client.call_tool("echo", {"text": "hi"})).data == "hi"
        assert (await client.call_tool("versioned", {})).data == "v2"


async def test_a_tool_added_or_removed_later_is_seen() -> None:
    server = _server()
    index_tools(server)
    server.add_tool(Tool.from_function(lambda: "late", name="late"))
    server.local_provider.remove_tool("echo")
    async with Client(server) as client:
        late = await client.call_tool("late", {})
        assert late.content[0].text == "late"  # type: ignore[union-attr]
        removed = await client.call_tool("echo", {"text": "hi"}, raise_on_error=False)
        assert removed.is_error and "echo" in removed.content[0].text  # type: ignore[union-attr]


async def test_session_rules_are_not_read_until_some_are_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server()
    index_tools(server)
    monkeypatch.setattr(_SessionRules, "saved", False)
    reads: list[int] = []
    real = _SessionRules.apply

    async def counted(components: Any) -> Any:
        reads.append(len(components))
        return await real(components)

    monkeypatch.setattr(_SessionRules, "apply", counted)
    async with Client(server) as client:
        assert (await client.call_tool("echo", {"text": "hi"})).data == "hi"
        assert reads == []
        assert {t.name for t in await client.list_tools()} == {"echo", "versioned"}
        assert reads == []


async def test_a_session_that_hides_a_tool_no_longer_finds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server()

    @server.tool
    async def hide(ctx: Context) -> str:
        await ctx.disable_components(names={"echo"})
        return "hidden"

    index_tools(server)
    monkeypatch.setattr(_SessionRules, "saved", False)
    async with Client(server) as client:
        assert (await client.call_tool("echo", {"text": "hi"})).data == "hi"
        assert (await client.call_tool("hide", {})).data == "hidden"
        hidden = await client.call_tool("echo", {"text": "hi"}, raise_on_error=False)
        assert hidden.is_error
        assert "echo" not in {t.name for t in await client.list_tools()}


async def test_one_provider_is_asked_directly_and_answers_as_fastmcps_lookup() -> None:
    server = _server()
    index_tools(server)
    assert server.providers == [server.local_provider]
    assert server._get_tool is not FastMCP._get_tool.__get__(server)
    for name in ("echo", "versioned", "x", "nope"):
        assert await server._get_tool(name) is await FastMCP._get_tool(server, name)

    async def broken(name: str, version: Any = None) -> Any:
        raise RuntimeError("provider down")

    server.local_provider.get_tool = broken  # type: ignore[method-assign]
    # Both hand a provider's failure over as "no such tool" (FastMCP logs it).
    assert await server._get_tool("echo") is None
    assert await FastMCP._get_tool(server, "echo") is None


async def test_a_mounted_servers_tools_are_found_through_fastmcps_lookup() -> None:
    server, child = _server(), FastMCP("child")

    @child.tool
    def shout(text: str) -> str:
        return text.upper()

    server.mount(child, namespace="child")
    index_tools(server)
    assert len(server.providers) == 2
    async with Client(server) as client:
        assert (await client.call_tool("child_shout", {"text": "hi"})).data == "HI"
        assert (await client.call_tool("echo", {"text": "hi"})).data == "hi"
