"""What a connection keeps between its calls: the toolsets a dynamic session enabled.

Only a connection with a session keeps anything: a 2025-11-25 connection over stdio or in memory, or
over Streamable HTTP with an ``Mcp-Session-Id`` (``CAAS_HTTP_SESSIONS=true``). A 2026-07-28 request and a
stateless HTTP request are each a connection of their own. The state lives in FastMCP's state store
under the session's id (it expires with the store's time to live, a day).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastmcp.server.context import Context

__all__ = ["enabled_in_session", "has_session"]

_ENABLED = "caas/enabled-toolsets"


def has_session(ctx: Context) -> bool:
    """Whether this connection has a session to keep state in: a 2025-11-25 connection over stdio or in
    memory, or over Streamable HTTP with an Mcp-Session-Id (CAAS_HTTP_SESSIONS=true). A 2026-07-28
    request and stateless HTTP are each a connection of their own."""
    from fastmcp.server.dependencies import get_http_request
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    rc = ctx.request_context
    if rc is None or rc.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return False
    if getattr(getattr(rc.session, "_connection", None), "session_id", None) is not None:
        return True
    try:
        get_http_request()
    except RuntimeError:
        return True  # stdio or in memory: one client, one connection
    return False


async def enabled_in_session(ctx: Context, add: str | None = None) -> frozenset[str]:
    """The toolsets this session enabled (with ``add`` added); none without a session."""
    if not has_session(ctx):
        return frozenset()
    enabled = frozenset(await ctx.get_state(_ENABLED) or ())
    if add is not None and add not in enabled:
        enabled |= {add}
        await ctx.set_state(_ENABLED, sorted(enabled))
    return enabled
