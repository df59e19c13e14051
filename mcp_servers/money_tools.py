"""The money tools a person confirms, by audited name ("server.tool"), whichever servers this process
serves: their roles, the one ``confirm_action`` runs, and an action asked with an argument since
renamed (mcp_servers.confirmation)."""

from __future__ import annotations

from fastmcp.tools import FunctionTool

from mcp_servers.toolkit import CONFIRMABLE, ToolSpec, as_tool
from tools.platform.confirmation import PendingAction
from tools.platform.errors import NotFound
from tools.platform.principal import Principal, Role

__all__ = ["SEE_ALL", "confirmable_tool", "money_tools", "retired_argument", "seen_retired", "tool_roles"]


def money_tools() -> dict[str, ToolSpec]:
    """Every money tool of every service by audited name, whichever servers this process serves."""
    from mcp_servers.composition import SERVICES  # it lists this module's tools too

    return {
        f"{server}.{spec.fn.__name__}": spec
        for server, toolsets in SERVICES.items()
        for toolset in toolsets
        for spec in toolset.specs
        if spec.confirm
    }


# Who sees every pending action (tools.platform.confirmation.list_pending).
SEE_ALL = (Role.OPERATOR, Role.ADMIN)


def retired_argument(found: PendingAction) -> str | None:
    """The argument ``found`` was asked with that its tool no longer takes (renamed since), if any."""
    return next((old for old, _ in money_tools()[found.tool].retired if old in found.arguments), None)


def seen_retired(found: PendingAction, caller: Principal) -> str | None:
    """None unless ``found`` was asked with an argument since renamed; then its stored summary for who
    asked it, whose records it is on (``concerns``) or who sees every action, and not_found for anyone
    else: its arguments no longer bind, so it cannot be read as the caller (nor run)."""
    if retired_argument(found) is None:
        return None
    if caller.subject in (found.requester.subject, found.concerns) or caller.role in SEE_ALL:
        return found.summary
    raise NotFound("there is no pending action with this id; list_pending_actions shows yours")


def confirmable_tool(audited: str) -> FunctionTool:
    if audited not in CONFIRMABLE:
        server = audited.split(".")[0]
        as_tool(money_tools()[audited], server)  # registers it
    return CONFIRMABLE[audited][0]


def tool_roles() -> dict[str, frozenset[Role]]:
    return {name: spec.roles for name, spec in money_tools().items()}
