from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from mcp_servers.platform.dispatch import DirectCallTool


class Hooks:
    """What each hook saw, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        self.seen.append(f"call {context.message.name}")
        result = await call_next(context)
        self.seen.append("returned")
        return result

    async def on_list_tools(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        self.seen.append("list")
        return [t for t in await call_next(context) if t.name != "hidden"]


class Direct(Hooks, DirectCallTool):
    pass


class Generic(Hooks, Middleware):
    pass


async def _session(recorder: Hooks) -> list[str]:
    server = FastMCP("t")

    @server.tool
    def echo(text: str) -> str:
        return text

    @server.tool
    def hidden() -> str:
        return "x"

    server.add_middleware(recorder)  # type: ignore[arg-type]
    async with Client(server) as client:
        assert (await client.call_tool("echo", {"text": "hi"})).data == "hi"
        assert [t.name for t in await client.list_tools()] == ["echo"]
        await client.call_tool("nope", {}, raise_on_error=False)
    return recorder.seen


async def test_the_shortcut_runs_every_hook_exactly_as_fastmcps_own_dispatch_does() -> None:
    direct = await _session(Direct())
    assert direct == await _session(Generic())
    assert direct.count("call echo") == 1
    assert "list" in direct


def test_a_subclass_that_hooks_every_message_is_refused() -> None:
    with pytest.raises(TypeError, match="on_message"):

        class Everything(DirectCallTool):
            async def on_message(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
                return await call_next(context)
