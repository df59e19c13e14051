"""``list_toolsets`` and ``enable_toolset``: a dynamic connection (``X-CaaS-Toolsets: dynamic``,
``--toolsets dynamic``) starts with these alone and enables the toolsets its job needs, as GitHub's
MCP server's dynamic mode does, so an agent's context holds only the tools it uses.

The server's ``ToolsetGate`` decides what a connection sees; these tools read it and add to the
session's toolsets (``mcp_servers.session_state``). Enabling one tells the client its tool list changed.
"""

from __future__ import annotations

from typing import Annotated

import mcp_types
from fastmcp.server.dependencies import get_context
from pydantic import Field

from mcp_servers.session_state import enabled_in_session, has_session
from mcp_servers.toolkit import CaasToolError, ToolSet, current_runtime
from mcp_servers.toolsets import ALWAYS, TOOLSETS, ToolsetGate, View
from tools.platform.errors import NotFound
from tools.platform.models import Output
from tools.platform.principal import Role

__all__ = [
    "TOOLS",
    "EnabledToolset",
    "ToolsetList",
    "ToolsetTools",
    "gate_of_this_server",
    "toolset_names",
    "toolset_tools",
]

TOOLS = ToolSet()


class ToolsetInfo(Output):
    name: str
    purpose: str
    tools: int = Field(description="How many of its tools your role may call on this connection.")
    enabled: bool = Field(description="Whether its tools are in your tool list now.")


class ToolsetList(Output):
    toolsets: list[ToolsetInfo] = Field(description="Every toolset this server serves.")
    dynamic: bool = Field(description="Whether this connection enables toolsets with enable_toolset.")


class EnabledToolset(Output):
    toolset: str
    tools: list[str] = Field(description="Its tools you may now call, as this server names them.")
    enabled: list[str] = Field(description="Every toolset this session has enabled.")
    changed: bool = Field(description="False when it was already enabled (the tool list is unchanged).")


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


@TOOLS.tool(roles=frozenset(Role), title="List toolsets", read_only=True)
async def list_toolsets() -> ToolsetList:
    """List the toolsets this server serves: what each is for, and how many tools it holds for you.

    Each says whether it is enabled on this connection. Use first on a dynamic connection
    (X-CaaS-Toolsets: dynamic), then enable_toolset the one your task needs; a toolset with 0 tools
    holds nothing your role may call.
    """
    gate = gate_of_this_server()
    view = await gate.view()
    role = current_runtime().principals.current().role
    return ToolsetList(
        toolsets=[
            ToolsetInfo(
                name=name,
                purpose=TOOLSETS[name].purpose,
                tools=len(gate.tools_for(name, role, view.read_only)),
                enabled=name in view.toolsets,
            )
            for name in gate.selection.ceiling
        ],
        dynamic=view.dynamic,
    )


def _check(gate: ToolsetGate, view: View, toolset: str, role: Role) -> list[str]:
    """The tools ``role`` gains from ``toolset``, or the refusal saying what to send instead."""
    served = gate.selection.ceiling
    if toolset not in served:
        what = "is not served here" if toolset in TOOLSETS else "is no toolset"
        raise CaasToolError(
            "invalid_argument",
            f"{toolset[:40]!r} {what}; valid toolsets: {', '.join(served)} (list_toolsets describes them)",
        )
    if not has_session(get_context()):
        raise CaasToolError(
            "session_required",
            "this connection has no session to remember enabled toolsets (a 2026-07-28 request, or "
            "Streamable HTTP without CAAS_HTTP_SESSIONS); send the header 'X-CaaS-Toolsets: "
            f"dynamic,{toolset}' (or name the toolsets you need) with every request instead",
        )
    tools = gate.tools_for(toolset, role, view.read_only)
    if not tools:
        useful = [n for n in served if n not in ALWAYS and gate.tools_for(n, role, view.read_only)]
        raise CaasToolError(
            "permission_denied",
            f"your role ({role}) may call no tool of the {toolset!r} toolset"
            + (" on a read-only connection" if view.read_only else "")
            + f"; toolsets with tools for you: {', '.join(useful) or 'none'}",
        )
    return tools


@TOOLS.tool(roles=frozenset(Role), title="Enable a toolset", read_only=False, idempotent=True)
async def enable_toolset(
    toolset: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            pattern=r"^[a-z_]+$",
            description="A toolset's name, as list_toolsets gives it (e.g. ledger).",
        ),
    ],
) -> EnabledToolset:
    """Add a toolset's tools to your tool list for the rest of this session.

    The server then sends notifications/tools/list_changed: list the tools again to see them. Use on
    a dynamic connection when your task needs tools you do not have; list_toolsets says what each
    toolset is for. Your role still decides which of its tools you may call, and a read-only
    connection gains only read-only ones. A connection without a session (a 2026-07-28 request,
    stateless HTTP) answers session_required: name the toolsets in X-CaaS-Toolsets instead.
    """
    ctx = get_context()
    gate = gate_of_this_server()
    view = await gate.view()
    role = current_runtime().principals.current().role
    tools = _check(gate, view, toolset, role)
    before = await enabled_in_session(ctx)
    enabled = await enabled_in_session(ctx, add=toolset)
    changed = enabled != before and toolset not in view.toolsets
    if changed:
        await ctx.send_notification(mcp_types.ToolListChangedNotification())
    return EnabledToolset(toolset=toolset, tools=tools, enabled=sorted(enabled), changed=changed)
