"""The transport half of human confirmation (tools/platform/confirmation.py has the rule): asking the
person through elicitation in either protocol era, the ``confirmation_required`` answer, and
``confirm_action``, which runs a pending money move once a person confirmed it.

Elicitation (``mcp_servers.elicitation``): only ``accept`` with ``confirm: true`` goes on; decline or
cancel is ``confirmation_declined`` and nothing is written. A pending action's own asker may confirm it
that way too, from a client that asks them (``_asker_in_person``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import anyio
import mcp_types
from fastmcp.server.context import Context
from fastmcp.server.dependencies import get_context
from fastmcp.tools import FunctionTool, ToolResult
from pydantic import Field, StringConstraints

from database.platform.pending_actions import PgPendingActions
from mcp_servers.agreement import Confirmed, confirmed_as
from mcp_servers.apps import CONFIRMATIONS_APP
from mcp_servers.confirmation_views import (
    ConfirmedAction,
    DeclinedAction,
    PendingActionList,
    requested_by,
    view,
)
from mcp_servers.elicitation import (
    ASKED_BEFORE,
    answered_otherwise,
    answered_state,
    ask_person,
    can_elicit,
    sealed_state,
    still_as_asked,
)
from mcp_servers.money_summaries import PINNED, concerning, summarize
from mcp_servers.money_tools import confirmable_tool, retired_argument, seen_retired, tool_roles
from mcp_servers.params import Limit
from mcp_servers.toolkit import (
    CaasToolError,
    ToolSet,
    current_runtime,
    invocation,
)
from tools.platform.confirmation import (
    ConfirmationPolicy,
    PendingAction,
    confirm_pending,
    decline_pending,
    list_pending,
    refuse_unless_pending,
    request_confirmation,
)
from tools.platform.errors import Conflict, DomainError
from tools.platform.models import FreeText
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Role

if TYPE_CHECKING:
    from mcp_servers.config import Settings
    from mcp_servers.runtime import Runtime

__all__ = ["TOOLS", "gate", "policy", "require_confirmation"]

log = logging.getLogger("caas.confirmation")


def policy(settings: Settings) -> ConfirmationPolicy:
    from datetime import timedelta

    roles = frozenset(Role(r.strip()) for r in settings.confirm_elicitation_roles.split(",") if r.strip())
    return ConfirmationPolicy(settings.confirm, timedelta(minutes=settings.confirm_ttl_minutes), roles)


def _store(runtime: Runtime) -> PgPendingActions:
    assert runtime.core_pool is not None
    return PgPendingActions(runtime.core_pool)


async def gate(
    runtime: Runtime, call: Invocation, arguments: dict[str, Any], confirmed: Confirmed | None
) -> mcp_types.InputRequiredResult | str | None:
    """The summary a person agreed to (None: nothing to hold the move to) when the money move ``call``
    may run now; else the ask to send, or raises (below). ``confirmed`` is set when confirm_action
    runs a pending action: only its exact arguments run."""
    tool = call.tool.split(".")[-1]
    if confirmed is not None:
        if confirmed.args_sha256 != call.args_sha256:
            raise CaasToolError(
                "conflict", "the confirmed call's arguments changed since it was confirmed; ask for a new one"
            )
        return None if tool in PINNED else confirmed.summary
    return await require_confirmation(runtime, tool, call, arguments)


async def require_confirmation(
    runtime: Runtime, tool: str, call: Invocation, arguments: dict[str, Any]
) -> mcp_types.InputRequiredResult | str | None:
    """When a person confirmed ``call`` through elicitation, what they read (None for a move its
    arguments pin); the ask (2026-07-28) while waiting; otherwise raises ``confirmation_declined`` or
    ``confirmation_required`` (with a pending action)."""
    rules = policy(runtime.settings)
    said: list[str] = []

    async def summary() -> str:
        # Read once a request, and only when a person is asked or told: it reads the object the move
        # is about (an offer, a loan), and a 2026-07-28 answer is sealed to the digest of what was read.
        if not said:
            said.append(await summarize(tool, runtime.deps, call.principal, arguments))
        return said[0]

    ctx = get_context()
    store = _store(runtime)
    if rules.elicitation_counts(call.principal.role) and can_elicit(ctx):
        answer = await _elicited(runtime, ctx, call, tool, arguments, summary)
        if not isinstance(answer, bool):
            return answer
        if answer:
            return None if tool in PINNED else await summary()
        raise CaasToolError(
            "confirmation_declined",
            f"the person did not confirm: {await summary()}. Nothing was changed; call again only if they "
            "change their mind",
        )
    said_now = await summary()
    concerns = await concerning(tool, runtime.deps, arguments)
    action = await request_confirmation(
        store, rules, call, arguments, said_now, runtime.clock.now(), concerns
    )
    yourself = (
        ", or the person signed in as this caller, from a client that asks them (elicitation, such as "
        "the borrower page)"
        if rules.elicitation_counts(call.principal.role) and rules.mode == "human"
        else ""
    )
    raise CaasToolError(
        "confirmation_required",
        f"{said_now}. Nothing was changed yet: a person (borrower, operator or admin, not this caller"
        f"{yourself}) must call confirm_action (admin_confirm_action on the composed server) with action "
        f"{action.id} before {action.expires_at.isoformat()}",
    )


async def _elicited(
    runtime: Runtime,
    ctx: Context,
    call: Invocation,
    tool: str,
    arguments: dict[str, Any],
    summary: Callable[[], Awaitable[str]],
) -> bool | mcp_types.InputRequiredResult:
    """The person's answer through elicitation, for the move as it reads when it runs: a move whose
    arguments pin what its summary shows is asked as before (its answer bound to the call); another
    is read again when the answer comes, which must be to what it reads then."""
    if tool in PINNED:
        return await _ask(ctx, call, summary, call.tool, f"{call.tool}:{call.args_sha256}")
    asked = await summary()
    answer = await _ask(ctx, call, summary, call.tool, sealed_state(call, asked))
    if answer is True and answered_state(ctx) is None:
        # The person may take minutes to answer: what they said yes to must still be what runs.
        still_as_asked(asked, await summarize(tool, runtime.deps, call.principal, arguments), call.tool)
    if answer is False and answered_otherwise(ctx, call, asked):
        still_as_asked(ASKED_BEFORE, asked, call.tool)
    return answer


async def _ask(
    ctx: Context, call: Invocation, summary: Callable[[], Awaitable[str]], tool: str, state: str
) -> bool | mcp_types.InputRequiredResult:
    answer = await ask_person(ctx, summary, state)
    if isinstance(answer, bool):
        # A log line, not a row: a declined move writes nothing, and an accepted one's own audit row
        # follows (the pending-action path is audited in the database).
        log.info(
            "money move %s by elicitation",
            "confirmed" if answer else "declined",
            extra={"tool": tool, "subject": call.principal.subject, "args_sha256": call.args_sha256},
        )
    return answer


TOOLS = ToolSet()


@TOOLS.tool(
    roles=frozenset(Role),
    title="Confirm a money move",
    read_only=False,
    destructive=True,
    open_world=True,
    retired={"action_id": "send the action's id (named in the confirmation_required message) as action"},
)
async def confirm_action(
    action: Annotated[UUID, Field(description="The action's id a confirmation_required error gave.")],
) -> ConfirmedAction:
    """Confirm a pending money move as the person it concerns, and run it exactly as it was asked.

    Use when a money move answered confirmation_required (accepting an offer, a disbursement, a
    write-off, a journal reversal). Read its summary to the person first. The confirmer is a
    borrower, operator or admin holding one of the tool's roles, other than the caller who asked
    (unless the deployment set CAAS_CONFIRM=self), or the caller who asked when its client asks the
    person (elicitation: a borrower confirming what its agent asked). A confirmation is used once and
    expires; a changed call needs a new one.
    """
    runtime = current_runtime()
    call = invocation()
    roles = tool_roles()

    async def may_see(found: PendingAction) -> str:
        # Asked before a rename (issue 11): its arguments would no longer bind, so it cannot run.
        if seen_retired(found, call.principal) is not None:
            raise Conflict(
                f"this action was asked with {retired_argument(found)}, no longer taken; call the tool again"
            )
        args = dict(found.arguments)
        fresh = await summarize(found.tool.split(".")[-1], runtime.deps, call.principal, args)
        # Settled or expired is said as it is: a move that ran reads otherwise now, and "changed,
        # nothing ran" would be false.
        refuse_unless_pending(found, runtime.clock.now())
        still_as_asked(found.summary, fresh, found.tool)
        return fresh

    rules, now = policy(runtime.settings), runtime.clock.now()
    in_person = await _asker_in_person(runtime, rules, call, action, now, may_see)
    if isinstance(in_person, mcp_types.InputRequiredResult):
        # Sent as it is, whatever the annotation (as the money tools' own ask, mcp_servers.toolkit):
        # annotated, it would put the protocol's whole result model in this tool's output schema.
        return cast("ConfirmedAction", in_person)
    # Read again: a person answering in person may take minutes, and the confirmation is of when they
    # answered (its expiry, and the sweep of interrupted moves, read it).
    pending = await confirm_pending(
        _store(runtime), rules, call, action, roles, runtime.clock.now(), may_see, in_person=in_person
    )
    tool = confirmable_tool(pending.tool)
    result = await _run(runtime, call, pending, tool)
    return ConfirmedAction(
        action_id=pending.id,
        tool=tool.name,
        summary=pending.summary,
        requested_by=f"{pending.requester.role}:{pending.requester.subject}",
        result=result.structured_content or {},
    )


async def _run(runtime: Runtime, call: Invocation, pending: PendingAction, tool: FunctionTool) -> ToolResult:
    """Run the confirmed move as its asker asked it, and record how that went on the action."""
    # Shielded: a closed connection (or a proxy's read timeout) cancels the request, and a move cut off
    # half-way would stay confirmed though it never ran. What a person confirmed is carried out.
    store = _store(runtime)
    with (
        confirmed_as(pending.requester, pending.args_sha256, pending.summary),
        anyio.CancelScope(shield=True),
    ):
        async with store.running(pending.id):
            result = await _moved(store, call, pending, tool)
    return result


async def _moved(
    store: PgPendingActions, call: Invocation, pending: PendingAction, tool: FunctionTool
) -> ToolResult:
    try:
        result = await tool.run(dict(pending.arguments))
    except Exception as exc:
        # Confirmed, but nothing ran: the action says so, rather than confirmed (and audited as
        # succeeded) for a move that never happened.
        await store.fail(
            pending.id, _failure(exc), AuditRecord(call, "pending_action", str(pending.id), "failed")
        )
        raise
    # It ran (a replay, which writes no audit row, included): not one the workers fail as interrupted
    # (migration 0049).
    await store.ran(pending.id)
    return result


async def _asker_in_person(
    runtime: Runtime,
    rules: ConfirmationPolicy,
    call: Invocation,
    action: UUID,
    now: datetime,
    may_see: Callable[[PendingAction], Awaitable[str]],
) -> bool | mcp_types.InputRequiredResult:
    """Whether the caller who asked for ``action`` now confirmed it in person: asked in its own client
    (an elicitation that counts for its role), the only way the asker's say-so counts. False without
    asking when that cannot be (someone else confirms, no elicitation, nothing left to confirm)."""
    ctx = get_context()
    if rules.mode == "self" or not rules.elicitation_counts(call.principal.role) or not can_elicit(ctx):
        return False
    found = await _store(runtime).get(action)
    if found is None or found.requester.subject != call.principal.subject:
        return False
    # Settled or expired: said as it is, not as a refusal to let the asker confirm.
    refuse_unless_pending(found, now)
    summary = await may_see(found)

    async def said() -> str:
        return summary

    answer = await _ask(ctx, call, said, found.tool, sealed_state(call, summary))
    if not isinstance(answer, bool):
        return answer
    if not answer:
        raise CaasToolError(
            "confirmation_declined",
            f"the person did not confirm: {summary}. Nothing was changed; it waits until it expires at "
            f"{found.expires_at.isoformat()}, or refuse it for good with decline_action",
        )
    return True


def _failure(exc: Exception) -> str:
    """Why a confirmed move did not run, as its caller was told (an internal error's message names
    only its request id: nothing of the error itself)."""
    return str(exc) if isinstance(exc, CaasToolError) else "internal error; the log has its request id"


async def _may_see(found: PendingAction) -> bool:
    """Whether the caller may see what ``found`` concerns (its summary reads it as the caller)."""
    if retired_argument(found) is not None:  # its arguments no longer bind: not readable as the caller
        return False
    runtime = current_runtime()
    caller = runtime.principals.current()
    try:
        await summarize(found.tool.split(".")[-1], runtime.deps, caller, dict(found.arguments))
    except DomainError:  # not_found above all: not theirs to see
        return False
    return True


@TOOLS.tool(
    roles=frozenset(Role), title="List money moves awaiting a person", read_only=True, app=CONFIRMATIONS_APP
)
async def list_pending_actions(
    include_settled: Annotated[
        bool, Field(description="Also those already confirmed, declined or expired (default: waiting only).")
    ] = False,
    limit: Limit = 20,
) -> PendingActionList:
    """List the money moves waiting for a person's confirmation that you may see, newest first.

    Use to find what to confirm (confirm_action) or refuse (decline_action), e.g. an offer your agent
    asked to accept. Operators and admins see every one; anyone else those they asked for and those
    they may confirm on their own records. Each item has its exact money summary, who asked, when it
    expires and its status.
    """
    runtime = current_runtime()
    caller, now = runtime.principals.current(), runtime.clock.now()
    found = await list_pending(
        _store(runtime), caller, tool_roles(), None if include_settled else now, limit, _may_see
    )
    return PendingActionList(items=[view(a, now) for a in found])


@TOOLS.tool(roles=frozenset(Role), title="Refuse a money move", read_only=False, destructive=True)
async def decline_action(
    action: Annotated[UUID, Field(description="The pending action's id (confirmation_required gave it).")],
    reason: Annotated[
        FreeText,
        StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
        Field(description="Why the person refuses; the one who asked reads it."),
    ],
) -> DeclinedAction:
    """Refuse a pending money move for good: it never runs, and confirm_action on it is a conflict.

    Use when the person it concerns does not agree to it (read them its summary first), or to withdraw
    a move you asked for yourself. The person who may confirm it may decline it; an action is settled
    once, so declining a confirmed, declined or expired one is a conflict. Audited.
    """
    runtime = current_runtime()
    call = invocation()

    async def may_see(found: PendingAction) -> str:
        if (summary := seen_retired(found, call.principal)) is not None:
            return summary
        return await summarize(found.tool.split(".")[-1], runtime.deps, call.principal, dict(found.arguments))

    rules, now = policy(runtime.settings), runtime.clock.now()
    declined = await decline_pending(_store(runtime), rules, call, action, reason, tool_roles(), now, may_see)
    return DeclinedAction(
        action=declined.id,
        tool=declined.tool.split(".")[-1],
        summary=declined.summary,
        requested_by=requested_by(declined),
        declined_by=f"{call.principal.role}:{call.principal.subject}",
        reason=reason,
    )
