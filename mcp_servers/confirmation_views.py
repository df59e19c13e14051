"""What the confirmation tools answer (mcp_servers.confirmation): a confirmed move's result, a pending
action as a person reads it, and a refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from tools.platform.confirmation import PendingAction
from tools.platform.models import Output

__all__ = [
    "ConfirmedAction",
    "DeclinedAction",
    "PendingActionList",
    "PendingActionView",
    "requested_by",
    "view",
]


class ConfirmedAction(Output):
    action_id: UUID
    tool: str = Field(description="The money tool that ran, as the caller who asked.")
    summary: str = Field(description="What was confirmed.")
    requested_by: str
    result: dict[str, Any] = Field(description="The tool's own result.")


def requested_by(action: PendingAction) -> str:
    return f"{action.requester.role}:{action.requester.subject}"


class PendingActionView(Output):
    action: UUID = Field(description="What confirm_action and decline_action take.")
    tool: str = Field(description="The money tool it would run, as the caller who asked.")
    summary: str = Field(description="The exact money move: amount, currency, counterparty, APR.")
    requested_by: str = Field(description="role:subject of the caller who asked.")
    requested_at: datetime
    expires_at: datetime
    status: Literal["pending", "confirmed", "declined", "failed", "expired"] = Field(
        description="failed: confirmed, but the move did not run (see failure); call the tool again."
    )
    settled_by: str | None = Field(default=None, description="role:subject who confirmed or declined it.")
    settled_at: datetime | None = None
    decline_reason: str | None = None
    failure: str | None = Field(default=None, description="Why a confirmed move did not run (status failed).")


class PendingActionList(Output):
    items: list[PendingActionView] = Field(description="Newest first.")


class DeclinedAction(Output):
    action: UUID
    tool: str
    summary: str = Field(description="What was refused; it will never run.")
    requested_by: str
    declined_by: str
    reason: str
    status: Literal["declined"] = "declined"


def view(action: PendingAction, now: datetime) -> PendingActionView:
    return PendingActionView(
        action=action.id,
        tool=action.tool.split(".")[-1],
        summary=action.summary,
        requested_by=requested_by(action),
        requested_at=action.created_at,
        expires_at=action.expires_at,
        status=action.status_at(now),
        settled_by=action.settled_by,
        settled_at=action.settled_at,
        decline_reason=action.decline_reason,
        failure=action.failure,
    )
