"""Human confirmation of money moves (issue 11, item 5): who may confirm what, and the pending action.

A money move runs only on a person's say-so, never on the model's. Two ways count:

* an accepted elicitation, for the roles whose own client shows the question to a person
  (by default borrower, operator and admin; ``CAAS_CONFIRM_ELICITATION_ROLES``). An answer proves only
  that the client answered, so an agent's or a service's elicitation never counts;
* a pending action confirmed with ``confirm_action`` by a person's principal (borrower, operator or
  admin) holding one of the tool's roles, other than the caller, unless the deployment allows
  self-confirmation (``CAAS_CONFIRM=self``, a trusted operator console). The caller may confirm its
  own with an accepted elicitation that counts for its role: a borrower whose agent (a client without
  elicitation, holding the borrower's token) asked to accept an offer confirms it in the borrower page.

A pending action is the exact call (tool, arguments and their sha256), expires (``CAAS_CONFIRM_TTL_MINUTES``)
and is settled once by the database (a conditional UPDATE), in the transaction of its audit row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID, uuid4

from tools.platform.errors import Conflict, NotFound, PermissionDenied
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Principal, Role

__all__ = [
    "INTERRUPTED_AFTER",
    "MAX_WAITING_ACTIONS",
    "PERSON_ROLES",
    "ConfirmationPolicy",
    "PendingAction",
    "PendingActions",
    "confirm_pending",
    "decline_pending",
    "list_pending",
    "refuse_unless_pending",
    "request_confirmation",
]

# Far beyond the longest a confirmed move runs (its gateway's timeouts are seconds): a confirmed action
# not marked ran this long after is one whose process stopped (database.platform.pending_actions).
INTERRUPTED_AFTER = timedelta(minutes=10)

# Roles a person signs in with; agents and services act for someone else.
PERSON_ROLES = frozenset({Role.BORROWER, Role.OPERATOR, Role.ADMIN})
# Money moves one caller may have waiting for a person at once. Each new call with other arguments (a
# fresh idempotency key is enough) asks anew, so without a bound a caller could fill the table, and every
# confirmer's list, at will. Enough for an agent preparing a day's disbursements for a person to confirm.
MAX_WAITING_ACTIONS = 100


@dataclass(frozen=True, slots=True)
class ConfirmationPolicy:
    mode: Literal["human", "self"] = "human"
    ttl: timedelta = timedelta(minutes=15)
    elicitation_roles: frozenset[Role] = PERSON_ROLES

    def elicitation_counts(self, role: Role) -> bool:
        """Whether an accepted elicitation confirms a call by this role (agents and services never)."""
        return role in self.elicitation_roles

    def may_confirm(
        self,
        confirmer: Principal,
        requester: Principal,
        tool_roles: frozenset[Role],
        *,
        in_person: bool = False,
    ) -> str | None:
        """Why ``confirmer`` may not confirm ``requester``'s call, or None when it may. ``in_person``:
        the confirmer accepted the question in their own client (an elicitation that counts), which
        is what a person's say-so is, so the asker may confirm their own agent's call that way."""
        # One person, whatever role they signed in with: an operator who is also an admin does not
        # confirm as the admin what they asked for as the operator.
        same = confirmer.subject == requester.subject
        if same and (self.mode == "self" or (in_person and self.elicitation_counts(confirmer.role))):
            return None
        if same:
            yourself = (
                ", or call it yourself from a client that shows you its question (one with elicitation, "
                "such as the borrower page)"
                if self.elicitation_counts(confirmer.role)
                else ""
            )
            return (
                "a money move must be confirmed by a person other than the caller (CAAS_CONFIRM=human); "
                f"ask the person it concerns to call confirm_action{yourself}"
            )
        if confirmer.role not in PERSON_ROLES:
            return (
                f"only a person's principal (borrower, operator or admin) confirms; you are {confirmer.role}"
            )
        if confirmer.role not in tool_roles:
            allowed = ", ".join(sorted(r.value for r in tool_roles & PERSON_ROLES)) or "nobody"
            return f"this action is confirmed by {allowed}; you are signed in as {confirmer.role}"
        return None


@dataclass(frozen=True, slots=True)
class PendingAction:
    id: UUID
    tool: str
    arguments: Mapping[str, Any]
    args_sha256: str
    summary: str
    requester: Principal
    status: str
    created_at: datetime
    expires_at: datetime
    # Who settled it ("role:subject"), when, and a refusal's reason; None while it waits.
    settled_by: str | None = None
    settled_at: datetime | None = None
    decline_reason: str | None = None
    # Why a confirmed move did not run (status failed).
    failure: str | None = None
    # Whose own records the move is on (an offer's borrower), who finds it in their list; None when
    # only staff confirm it.
    concerns: str | None = None

    def status_at(self, now: datetime) -> str:
        """pending, confirmed, declined, failed (confirmed, did not run), or expired (pending past its
        time: it can no longer run)."""
        return "expired" if self.status == "pending" and self.expires_at <= now else self.status


class PendingActions(Protocol):
    async def open(self, action: PendingAction, audit: AuditRecord, *, at_most: int) -> PendingAction | None:
        """Store ``action`` (or return the same caller's unexpired pending one for the same call); None,
        storing nothing, when the caller already has ``at_most`` unexpired ones waiting."""
        ...

    async def settle(
        self, action_id: UUID, confirmer: Principal, now: datetime, audit: AuditRecord
    ) -> PendingAction | None:
        """pending -> confirmed if unexpired, with the audit row, in one transaction; None if not."""
        ...

    async def decline(
        self, action_id: UUID, decliner: Principal, reason: str, now: datetime, audit: AuditRecord
    ) -> PendingAction | None:
        """pending -> declined if unexpired, with the audit row and its outbox event, in one
        transaction; None if it is no longer pending."""
        ...

    async def fail(self, action_id: UUID, why: str, audit: AuditRecord) -> PendingAction | None:
        """confirmed -> failed, with why and the audit row, in one transaction: the move it confirmed
        did not run. None if it is not confirmed."""
        ...

    async def get(self, action_id: UUID) -> PendingAction | None: ...

    async def newest(
        self,
        requester: Principal | None,
        tools: frozenset[str] | None,
        pending_at: datetime | None,
        limit: int,
    ) -> list[PendingAction]:
        """The newest actions: all (``requester`` None) or those ``requester`` asked for plus those of
        ``tools`` on its own records (``concerns``); only those still pending at ``pending_at`` unless
        it is None."""
        ...


async def request_confirmation(
    store: PendingActions,
    policy: ConfirmationPolicy,
    call: Invocation,
    arguments: Mapping[str, Any],
    summary: str,
    now: datetime,
    concerns: str | None = None,
) -> PendingAction:
    """The pending action a person must confirm before ``call`` runs; ``concerns``: as
    ``PendingAction.concerns``."""
    action = PendingAction(
        id=uuid4(),
        tool=call.tool,
        arguments=dict(arguments),
        args_sha256=call.args_sha256,
        summary=summary,
        requester=call.principal,
        status="pending",
        created_at=now,
        expires_at=now + policy.ttl,
        concerns=concerns,
    )
    opened = await store.open(
        action,
        AuditRecord(call, "pending_action", str(action.id), "confirmation_required"),
        at_most=MAX_WAITING_ACTIONS,
    )
    if opened is None:
        raise Conflict(
            f"you already have {MAX_WAITING_ACTIONS} money moves waiting for a person's confirmation, the "
            "most one caller may; nothing was changed. Ask a person to confirm them, withdraw those no "
            "longer wanted with decline_action (list_pending_actions shows them), or call again once "
            f"some have expired ({int(policy.ttl.total_seconds() // 60)} minutes after each was asked)"
        )
    return opened


async def confirm_pending(
    store: PendingActions,
    policy: ConfirmationPolicy,
    call: Invocation,
    action_id: UUID,
    tool_roles: Mapping[str, frozenset[Role]],
    now: datetime,
    may_see: Callable[[PendingAction], Awaitable[object]],
    *,
    in_person: bool = False,
) -> PendingAction:
    """Settle ``action_id`` for ``call.principal``: the action it now may run, exactly once.

    ``may_see`` reads what the action concerns as the confirmer, and raises NotFound when it is not
    theirs to see (a borrower confirms only a move on their own application or loan). ``in_person``:
    as ``ConfirmationPolicy.may_confirm``."""
    found = await _found(store, action_id, tool_roles, "the money tool's confirmation_required gave it")
    refusal = policy.may_confirm(call.principal, found.requester, tool_roles[found.tool], in_person=in_person)
    if refusal is not None:
        raise PermissionDenied(refusal)
    await may_see(found)
    settled = await store.settle(
        action_id, call.principal, now, AuditRecord(call, "pending_action", str(action_id))
    )
    if settled is not None:
        return settled
    _refuse_settled(await store.get(action_id) or found)
    raise Conflict(
        f"this confirmation expired at {found.expires_at.isoformat()}; call the tool again for a new one"
    )


async def _found(
    store: PendingActions, action_id: UUID, tool_roles: Mapping[str, frozenset[Role]], where: str
) -> PendingAction:
    found = await store.get(action_id)
    if found is None or found.tool not in tool_roles:
        raise NotFound(f"there is no pending action with this id; {where}")
    return found


def refuse_unless_pending(found: PendingAction, now: datetime) -> None:
    """Conflict, naming what happened, for an action that can no longer be confirmed."""
    _refuse_settled(found)
    if found.status_at(now) == "expired":
        raise Conflict(
            f"this confirmation expired at {found.expires_at.isoformat()}; call the tool again for a new one"
        )


def _refuse_settled(found: PendingAction) -> None:
    if found.status == "declined":
        raise Conflict(
            f"this action was declined by {found.settled_by} ({found.decline_reason}); nothing ran. Call "
            "the money tool again only if the person changed their mind"
        )
    if found.status == "confirmed":
        raise Conflict("this action was already confirmed (a confirmation is used once); call the tool again")
    if found.status == "failed":
        raise Conflict(
            f"this action was confirmed by {found.settled_by} but its move did not run ({found.failure}); "
            "a confirmation is used once: call the money tool again for a new one"
        )


async def decline_pending(
    store: PendingActions,
    policy: ConfirmationPolicy,
    call: Invocation,
    action_id: UUID,
    reason: str,
    tool_roles: Mapping[str, frozenset[Role]],
    now: datetime,
    may_see: Callable[[PendingAction], Awaitable[object]],
) -> PendingAction:
    """Refuse ``action_id`` as ``call.principal``: whoever may confirm it, or the caller who asked
    (withdrawing its own request). Once declined it never runs; settled once, like a confirmation."""
    found = await _found(store, action_id, tool_roles, "list_pending_actions shows the ones you may see")
    asked = call.principal.subject == found.requester.subject and call.principal.role == found.requester.role
    refusal = None if asked else policy.may_confirm(call.principal, found.requester, tool_roles[found.tool])
    if refusal is not None:
        raise PermissionDenied(
            refusal.replace("confirm_action", "decline_action").replace("confirms", "declines")
        )
    await may_see(found)
    declined = await store.decline(
        action_id, call.principal, reason, now, AuditRecord(call, "pending_action", str(action_id))
    )
    if declined is not None:
        return declined
    _refuse_settled(await store.get(action_id) or found)
    raise Conflict(
        f"this action expired at {found.expires_at.isoformat()} unconfirmed; there is nothing to decline"
    )


async def list_pending(
    store: PendingActions,
    caller: Principal,
    tool_roles: Mapping[str, frozenset[Role]],
    pending_at: datetime | None,
    limit: int,
    may_see: Callable[[PendingAction], Awaitable[bool]],
) -> list[PendingAction]:
    """The newest actions ``caller`` may see: operators and admins all; anyone else those it asked for
    and, for a person, those it may confirm whose object it may see (a borrower: its own offers)."""
    if caller.role in (Role.OPERATOR, Role.ADMIN):
        return await store.newest(None, None, pending_at, limit)
    confirmable = frozenset(t for t, roles in tool_roles.items() if caller.role in roles & PERSON_ROLES)
    found = await store.newest(caller, confirmable or None, pending_at, limit)
    mine = [a for a in found if a.requester.subject == caller.subject and a.requester.role == caller.role]
    shown = [a for a in found if a in mine or await may_see(a)]
    return shown[:limit]
