"""Asking the person at the client to confirm a money move, in either protocol era: on a 2025-11-25
connection ``elicitation/create`` and a wait; on a 2026-07-28 connection an input-required result, the
answer read on the client's retry (``request_state`` binds it to the call). Only ``accept`` with
``confirm: true`` (the JSON boolean: not "yes", 1 or "true") is a yes; any other answer, a malformed one
included, is a no."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types
from fastmcp.server.context import Context
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ConfigDict

from tools.platform.errors import Conflict
from tools.platform.ports import Invocation

__all__ = [
    "ASKED_BEFORE",
    "answered_otherwise",
    "answered_state",
    "ask_person",
    "can_elicit",
    "sealed_state",
    "still_as_asked",
]

_ASK = "confirm"
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "description": "true to go ahead with this money move"}},
    "required": ["confirm"],
}


class _Answer(BaseModel):
    # Strict: pydantic's lax mode would read "yes", 1 or "true" as True, and money would move on it.
    model_config = ConfigDict(strict=True)
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


def answered_state(ctx: Context) -> str | None:
    """The state a 2026-07-28 retry carries back with its answer (what ``ask_person`` was given when
    it asked); None on any other call."""
    if not _modern(ctx) or not ctx.input_responses:
        return None
    return ctx.request_state


async def ask_person(
    ctx: Context, summary: Callable[[], Awaitable[str]], state: str
) -> bool | mcp_types.InputRequiredResult:
    """True on an explicit accept, False on anything else; or the ask itself (2026-07-28). The
    summary is read only to ask: a 2026-07-28 retry carrying the answer does not read it again."""
    if not _modern(ctx):
        question = f"{await summary()}. Confirm this money move?"
        try:
            answer = await ctx.elicit(question, response_type=_Answer)
        except (ValueError, MCPError):  # an answer not of the schema (ValidationError), or the client's error
            return False
        return answer.action == "accept" and isinstance(answer.data, _Answer) and answer.data.confirm is True
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


# What a person was asked, when only its digest came back (a 2026-07-28 retry's state).
ASKED_BEFORE = "an earlier reading of this move"


def sealed_state(call: Invocation, summary: str) -> str:
    """What an ask seals on 2026-07-28: the call and the digest of what the person reads, so an answer
    given to another summary (the object changed while they read it) is no answer to this one."""
    return f"{call.tool}:{call.args_sha256}:{hashlib.sha256(summary.encode()).hexdigest()[:32]}"


def answered_otherwise(ctx: Context, call: Invocation, summary: str) -> bool:
    """A 2026-07-28 retry answering this very call as it read before it changed."""
    state = answered_state(ctx)
    return (
        state is not None
        and state != sealed_state(call, summary)
        and state.startswith(f"{call.tool}:{call.args_sha256}:")
    )


def still_as_asked(asked: str, now: str, tool: str) -> None:
    """Conflict unless the move reads as the person was asked: a bid revised or a repayment recorded
    meanwhile changes what would run, and a person confirms only what they read."""
    if now != asked:
        raise Conflict(
            f"this money move changed since the person was asked ({asked}); it now reads: {now}. Nothing "
            f"ran: {tool.split('.')[-1]} must be called again for a person to confirm it as it stands"
        )
