"""Finding the tool of a ``tools/call`` by a dict lookup instead of FastMCP's scan.

FastMCP's ``LocalProvider._get_tool`` finds the tool of every call with a list comprehension over all the
server's components (every tool, resource and prompt of the composed server): about 4% of a call's CPU
in the issue 14 profile. Our tools are fixed once the server is built, so an index by name answers the
same question. Anything that adds or removes a component later drops the index, and the scan answers
again: the index can be missing, never stale.

Each lookup also reads the caller's session visibility rules from the server's state store (a key built
from the session and the principal, then an async store read): 1.5% of a submission's CPU in the same
profile, for rules that only ``ctx.enable_components``/``disable_components`` ever write, and none of our
tools does. Until some call saves rules in this process, there are none to read, and the components
pass unchanged, as the read would leave them; from the first save on, every lookup reads again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastmcp import FastMCP
from fastmcp.server import server as _fastmcp_server
from fastmcp.server.transforms import visibility as _visibility
from fastmcp.tools import Tool
from fastmcp.utilities.versions import VersionSpec, version_sort_key
from key_value.aio.stores.memory import MemoryStore

__all__ = ["index_tools", "session_rules_saved"]


class _SessionRules:
    """Whether any session visibility rules were saved in this process (see the module's docstring)."""

    saved = False
    apply = _fastmcp_server.apply_session_transforms
    save = _visibility.save_visibility_rules


def session_rules_saved() -> bool:
    """Whether any call in this process saved session visibility rules (they may change a listing)."""
    return _SessionRules.saved


async def _apply_session_transforms(components: Any) -> Any:
    from fastmcp.server.context import _current_context

    ctx = _current_context.get()
    # A store given to the server (not the in-memory one FastMCP makes) may be shared with other
    # processes, whose saves this one never sees.
    shared = ctx is not None and not isinstance(ctx.fastmcp._state_storage, MemoryStore | None)
    if _SessionRules.saved or shared:
        return await _SessionRules.apply(components)
    return components


async def _save_visibility_rules(*args: Any, **kwargs: Any) -> None:
    _SessionRules.saved = True
    await _SessionRules.save(*args, **kwargs)


def _skip_empty_session_rules() -> None:
    # Both are looked up as module globals at call time: FastMCP.get_tool/list_* call the first,
    # enable_components/disable_components/reset_visibility the second.
    _fastmcp_server.apply_session_transforms = _apply_session_transforms
    _visibility.save_visibility_rules = _save_visibility_rules


def index_tools(server: FastMCP) -> None:
    _skip_empty_session_rules()
    provider: Any = server.local_provider
    scan = provider._get_tool
    by_name: dict[str, list[Tool]] = {}
    for component in provider._components.values():
        if isinstance(component, Tool):
            by_name.setdefault(component.name, []).append(component)

    async def get_tool(name: str, version: VersionSpec | None = None) -> Tool | None:
        if version is not None:
            return await scan(name, version)
        matching = by_name.get(name)
        if not matching:
            return None
        # As the scan: the highest version when a name has several.
        return matching[0] if len(matching) == 1 else max(matching, key=version_sort_key)

    def dropping_index(change: Callable[..., Any]) -> Callable[..., Any]:
        def changed(*args: Any, **kwargs: Any) -> Any:
            provider._get_tool = scan
            return change(*args, **kwargs)

        return changed

    provider._get_tool = get_tool
    provider._add_component = dropping_index(provider._add_component)
    provider._remove_component = dropping_index(provider._remove_component)
    _ask_a_single_provider_directly(server)


def _ask_a_single_provider_directly(server: FastMCP) -> None:
    """FastMCP asks every provider of a server for a tool at once, in a task group with a task each
    (``AggregateProvider._get_tool``): for our one provider that machinery cost more than the rest of
    the lookup. With one provider it is awaited directly, and its answer (or its failure, which the
    task group would hand over as a result) judged and auth-checked as ``FastMCP._get_tool`` does;
    a server with more providers (a mounted one) takes FastMCP's path."""
    concurrent = server._get_tool

    async def get_tool(name: str, version: VersionSpec | None = None) -> Tool | None:
        providers = server.providers
        if len(providers) != 1:
            return await concurrent(name, version)
        found: Any
        try:
            found = await providers[0].get_tool(name, version)
        except Exception as exc:
            found = exc
        tool = server._get_highest_version_result([found], f"get_tool({name!r})")
        if not isinstance(tool, Tool):
            return None
        return tool if await _fastmcp_server._component_auth_allows(tool) else None

    server._get_tool = get_tool  # type: ignore[method-assign]
