"""What a connection's toolsets are, read from the server's ``ToolsetGate``: the
``caas://toolsets/{toolset}`` resource and toolset-name completion on every server. Kept apart from the
``list_toolsets``/``enable_toolset`` tools, which only the admin server carries, so a server for one
service does not load them."""

from __future__ import annotations

from fastmcp.server.dependencies import get_context
from pydantic import Field

from mcp_servers.toolsets import TOOLSETS, ToolsetGate
from tools.platform.errors import NotFound
from tools.platform.models import Output
from tools.platform.principal import Role

__all__ = ["ToolsetTools", "gate_of_this_server", "toolset_names", "toolset_tools"]


class ToolsetTools(Output):
    name: str
    purpose: str
    enabled: bool = Field(description="Whether its tools are in this connection's tool list now.")
    tools: list[str] = Field(description="Its tools your role may call on this server and connection.")


def gate_of_this_server() -> ToolsetGate:
    """The toolset gate of the server handling this call (build_server installs exactly one)."""
    server = get_context().fastmcp
    return next(m for m in server.middleware if isinstance(m, ToolsetGate))


async def toolset_tools(name: str, role: Role) -> ToolsetTools:
    """The toolset ``name`` as ``role`` has it on this connection (the caas://toolsets/{toolset} resource)."""
    gate = gate_of_this_server()
    if name not in gate.selection.ceiling:
        raise NotFound(
            f"{name[:40]!r} is no toolset served here; valid toolsets: {', '.join(gate.selection.ceiling)}"
        )
    view = await gate.view()
    tools = gate.tools_for(name, role, view.read_only)
    return ToolsetTools(name=name, purpose=TOOLSETS[name].purpose, enabled=name in view.toolsets, tools=tools)


async def toolset_names(role: Role) -> list[str]:
    """The toolsets this server serves that hold a tool ``role`` may call (argument completion)."""
    gate = gate_of_this_server()
    view = await gate.view()
    return [name for name in gate.selection.ceiling if gate.tools_for(name, role, view.read_only)]
