"""Live updates: which outbox events a signed-in principal may be told about, and what it is told.

Each event is re-checked when it arrives, with the same use cases (and roles) the principal's read tools
use: a borrower is told about its own application, its bids, loan and payments; a provider about its own
bids, the loans it made and their payments, its own provider events, and the applications it was invited
to bid on (withdrawn, an offer accepted, bidding closed: what list_invitations would show changed); staff
about everything. A notification is told to its owner only (whoever may read an inbox reads its own), and
to staff; a money move awaiting a person (pending_action) to staff and to whoever asked for it. A record
the caller may not read is simply not told (never an error, so a stream cannot reveal that it exists).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from database.platform.outbox_feed import Change
from mcp_servers.credit.applications import READERS as APPLICATION_READERS
from mcp_servers.loans.loans import READERS as LOAN_READERS
from mcp_servers.notifications.inbox import INBOX_READERS
from mcp_servers.payments.payments import READERS as PAYMENT_READERS
from mcp_servers.wiring import Dependencies
from tools.credit import applications
from tools.loans import loans
from tools.payments import payments
from tools.platform.errors import DomainError
from tools.platform.principal import Principal, Role

__all__ = ["ENTITIES", "live_message", "may_see"]

log = logging.getLogger("caas.live")

# The outbox aggregates a live client follows.
ENTITIES = ("application", "bid", "loan", "payment", "provider", "notification", "pending_action")
_STAFF = frozenset({Role.OPERATOR, Role.ADMIN})


async def may_see(deps: Dependencies, caller: Principal, change: Change) -> bool:
    """Whether ``caller`` may be told about ``change``; fails closed on any error."""
    try:
        return await _allowed(deps, caller, change)
    except DomainError:  # not found / not the caller's: the use case's own answer
        return False
    except Exception as exc:  # a database hiccup: better one event untold than one told wrongly
        log.warning("could not check a live event's access: %s", type(exc).__name__)
        return False


async def _allowed(deps: Dependencies, caller: Principal, change: Change) -> bool:
    kind, key = change.aggregate_type, change.aggregate_id
    if kind == "provider":
        own = caller.role is Role.PROVIDER and caller.provider_id == key
        return own or caller.role in _STAFF
    if kind == "pending_action":
        # As list_pending_actions, failing closed: staff see every one; anyone else the ones it asked for.
        asked = change.requester is not None and change.requester == f"{caller.role}:{caller.subject}"
        return asked or caller.role in _STAFF
    if kind == "notification":
        own = caller.role in INBOX_READERS and change.user_id is not None and change.user_id == caller.subject
        return own or caller.role in _STAFF
    if kind == "bid":
        # A provider sees its own bids only (providers_list_bids); everyone else as the application.
        if caller.role is Role.PROVIDER:
            return caller.provider_id is not None and caller.provider_id == change.provider_id
        if change.application_id is None:
            return False
        kind, key = "application", change.application_id
    if kind == "application" and caller.role is Role.PROVIDER:
        # As list_invitations: a provider follows the applications it was invited to, and no other.
        return caller.provider_id is not None and await deps.marketplace.bids.invited(
            UUID(key), UUID(caller.provider_id)
        )
    if kind == "application" and caller.role in APPLICATION_READERS:
        await applications.get_application(deps.credit, caller, key)
        return True
    if kind == "loan" and caller.role in LOAN_READERS:
        await loans.get_loan(deps.loans, caller, key)
        return True
    if kind == "payment" and caller.role in PAYMENT_READERS:
        await payments.get_payment(deps.payments, caller, UUID(key))
        return True
    return False


def live_message(change: Change) -> dict[str, Any]:
    """What a live client is told: the event, the entity and its id, the application's or payment's
    reference when the event has one, and when. Never the payload (amounts, borrower ids, reasons)."""
    occurred = change.occurred_at.isoformat() if change.occurred_at is not None else None
    return {
        "type": change.event_type,
        "entity": change.aggregate_type,
        "id": change.aggregate_id,
        "reference": change.reference,
        "occurred_at": occurred,
    }
