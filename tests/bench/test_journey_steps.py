"""bench/journey_steps.py's economy of the driver: the run's client sessions share each compiled
output-schema validator, and every result is still validated against its tool's schema."""

from __future__ import annotations

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult
from mcp.types import TextContent
from pydantic import BaseModel

from bench.journey_steps import share_output_validators


class Pair(BaseModel):
    left: int
    right: int


def _server() -> FastMCP:
    server = FastMCP("pairs")

    @server.tool
    def make_pair(left: int) -> Pair:
        return Pair(left=left, right=left + 1)

    @server.tool(output_schema=Pair.model_json_schema())
    def broken_pair() -> ToolResult:
        # Structured content that breaks the declared schema: the client must still refuse it.
        return ToolResult(content=[TextContent(type="text", text="{}")], structured_content={"left": "x"})

    return server


@pytest.fixture
def shared():  # type: ignore[no-untyped-def]
    restore = share_output_validators()
    yield
    restore()


@pytest.mark.usefixtures("shared")
async def test_sessions_share_a_validator_and_still_refuse_a_result_that_breaks_the_schema() -> None:
    server = _server()
    validators = []
    for left in (1, 2):
        async with Client(server) as client:
            result = await client.call_tool("make_pair", {"left": left})
            assert result.structured_content == {"left": left, "right": left + 1}
            validators.append(client.session._tool_output_validators["make_pair"])
            with pytest.raises((ToolError, RuntimeError), match="Invalid structured content"):
                await client.call_tool("broken_pair", {})
    assert validators[0] is validators[1]


async def test_without_sharing_each_session_compiles_its_own() -> None:
    server = _server()
    validators = []
    for left in (1, 2):
        async with Client(server) as client:
            await client.call_tool("make_pair", {"left": left})
            validators.append(client.session._tool_output_validators["make_pair"])
    assert validators[0] is not validators[1]
