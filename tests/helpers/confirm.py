"""Confirming money moves in tests (issue 11, item 5): the person at a client who says yes, and a
person confirming an agent's or a service's pending action with confirm_action."""

from __future__ import annotations

import re
from typing import Any

from fastmcp import Client

from tests.helpers.errors import error_of
from tools.platform.principal import Role

CONFIRM = "admin_confirm_action"


async def person_confirms(
    message: str, response_type: object, params: object, context: object
) -> dict[str, bool]:
    """The person at this client says yes to every money move it shows them."""
    return {"confirm": True}


def pending_id(message: str) -> str:
    """The action_id a confirmation_required message names."""
    found = re.search(r"action ([0-9a-f-]{36})", message)
    assert found, message
    return found.group(1)


async def confirmed(
    client: Client, principal: Any, tool: str, args: dict[str, Any], *, by: tuple[str, Role]
) -> Any:
    """Call ``tool`` as the current principal (an agent or a service), have the person ``by`` confirm
    it with confirm_action, and return the tool's own result. The principal is left as ``by``."""
    result = await client.call_tool(tool, args, raise_on_error=False)
    error = error_of(result)
    assert error is not None and error["code"] == "confirmation_required", result
    principal(*by)
    done = await client.call_tool(CONFIRM, {"action": pending_id(error["message"])})
    return done.structured_content["result"]
