"""Asking the person at the client to confirm a money move, in either protocol era: on a 2025-11-25
connection ``elicitation/create`` and a wait; on a 2026-07-28 connection an input-required result, the
answer read on the client's retry (``request_state`` binds it to the call). Only ``accept`` with
``confirm: true`` is a yes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types
from fastmcp.server.context import Context
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["ask_person", "can_elicit"]

_ASK = "confirm"
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "description": "true to go ahead with this money move"}},
    "required": ["confirm"],
}


@dataclass
class _Answer:
    confirm: bool


def can_elicit(ctx: Context) -> bool:
    try:
        caps = ctx.session.client_capabilities
    except RuntimeError:
        return False
    return caps is not None and caps.elicitation is not None


def _modern(ctx: Context) -> bool:
    rc = ctx.request_context
    return rc is not None and rc.protocol_version in MODERN_PROTOCOL_VERSIONS


async def ask_person(
    ctx: Context, summary: Callable[[], Awaitable[str]], state: str
) -> bool | mcp_types.InputRequiredResult:
    """True on an explicit accept, False on anything else; or the ask itself (2026-07-28). The
    summary is read only to ask: a 2026-07-28 retry carrying the answer does not read it again."""
    if not _modern(ctx):
        answer = await ctx.elicit(f"{await summary()}. Confirm this money move?", response_type=_Answer)
        return answer.action == "accept" and bool(getattr(answer.data, "confirm", False))
    responses = ctx.input_responses
    if not responses:
        question = f"{await summary()}. Confirm this money move?"
        params = mcp_types.ElicitRequestFormParams(message=question, requested_schema=_SCHEMA)
        return mcp_types.InputRequiredResult(
            input_requests={_ASK: mcp_types.ElicitRequest(params=params)}, request_state=state
        )
    reply = responses.get(_ASK)
    # The state is sealed by the framework; an answer given for other arguments is no answer here.
    if ctx.request_state != state or not isinstance(reply, mcp_types.ElicitResult):
        return False
    return reply.action == "accept" and (reply.content or {}).get("confirm") is True
