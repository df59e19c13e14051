"""The role gate: a caller is shown only the tools its role may call, and calling another is refused
before its arguments are read."""

from __future__ import annotations

import difflib
import re
from typing import Any

from fastmcp.server.middleware import CallNext, MiddlewareContext
from fastmcp.tools import FunctionTool
from mcp_types import CallToolRequestParams, ListToolsRequest

from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.platform.dispatch import DirectCallTool
from mcp_servers.toolkit import ROLES_META, CaasToolError
from tools.platform.errors import NotFound, PermissionDenied

__all__ = ["RoleVisibility"]


class RoleVisibility(DirectCallTool):
    """A principal is not shown tools its role may not call, and calling one is refused before its
    arguments are even read (so a caller without the role learns nothing of the tool's input rules).
    A name that is no tool is ``not_found``, with the closest names the caller can see."""

    def __init__(self, principals: PrincipalSource) -> None:
        self.principals = principals
        self.roles: dict[str, frozenset[str]] = {}
        self.retired: dict[str, tuple[tuple[str, str], ...]] = {}

    def register(self, tool: FunctionTool, retired: tuple[tuple[str, str], ...] = ()) -> None:
        self.roles[tool.name] = frozenset((tool.meta or {}).get(ROLES_META) or ())
        self.retired[tool.name] = retired

    async def on_list_tools(
        self, context: MiddlewareContext[ListToolsRequest], call_next: CallNext[ListToolsRequest, Any]
    ) -> Any:
        role = self.principals.current().role.value
        tools = await call_next(context)
        return [t for t in tools if role in ((t.meta or {}).get(ROLES_META) or ())]

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        name, role = context.message.name, self.principals.current().role
        allowed = self.roles.get(name)
        if allowed is None:
            visible = [tool for tool, roles in self.roles.items() if role.value in roles]
            close = difflib.get_close_matches(name[:200], visible, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise CaasToolError(
                NotFound.code,
                f"there is no tool {name[:100]!r}; {hint}call tools/list to see the tools you can call",
                literal=True,
            )
        if role.value not in allowed:
            raise CaasToolError(
                PermissionDenied.code,
                f"{name} is open to {', '.join(sorted(allowed))}; you are signed in as {role}. "
                "Use a token for one of those roles",
            )
        for old, instead in self.retired.get(name, ()):
            if old in (context.message.arguments or {}):
                raise CaasToolError("invalid_argument", f"{name} no longer takes {old}: {instead}")
        if (
            _has_surrogate(arguments := context.message.arguments or {})
            and (where := _lone_surrogate(arguments)) is not None
        ):
            # Only an in-process client can send one (a JSON transport refuses it); strict validation
            # would fail to re-encode it and answer internal.
            raise CaasToolError(
                "invalid_argument", f"{where}: must be valid Unicode text (no lone surrogates)"
            )
        return await call_next(context)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """Whether any string (or key) in ``value`` holds a lone surrogate. The check of every call: no
    paths built, and an ASCII string (``isascii`` reads a flag) never searched; :func:`_lone_surrogate`
    names the place only when there is one."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                    return True
                todo.append(inner)
        elif isinstance(item, list):
            todo.extend(item)
    return False


def _lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) in ``value`` holding a lone surrogate."""
    if isinstance(value, str):
        return (path or "arguments") if _SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _SURROGATE.search(key):
            return here.encode("utf-8", "backslashreplace").decode()
        found = _lone_surrogate(item, here)
        if found is not None:
            return found.encode("utf-8", "backslashreplace").decode()
    return None
