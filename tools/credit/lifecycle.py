"""Moving an application through its lifecycle: one transition = one locked row, one timeline entry,
one audit row and one outbox event, all in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord, NewApplication
from tools.credit.domain.lifecycle import (
    ENDS_BIDDING,
    HOLDS_CAPITAL,
    ApplicationStatus,
    IllegalTransition,
    check_transition,
)
from tools.credit.ports import CreditUnitOfWork
from tools.marketplace.bid_events import bid_event
from tools.marketplace.reservations import release_reservation
from tools.platform.domain.money import from_minor
from tools.platform.errors import Conflict, NotFound
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal

__all__ = [
    "STATEMENT_FIELDS",
    "expire_stale",
    "locked_application",
    "not_found",
    "status_event",
    "status_event_fields",
    "transition",
]


def not_found(id_or_reference: str) -> NotFound:
    # Someone else's application is reported exactly like a missing one, so ids cannot be probed.
    return NotFound(
        f"no application '{id_or_reference}' that you can see; check the id or CAAS-YYYY-NNNNNN reference, "
        "or call list_applications to find it"
    )


async def locked_application(
    uow: CreditUnitOfWork, principal: Principal, id_or_reference: str
) -> ApplicationRecord:
    app = await uow.applications.lock(id_or_reference)
    if app is None or not can_view(principal, app):
        raise not_found(id_or_reference)
    return app


# The fields of an application's status event that the statement changing its status assigns: the id
# and reference of a new application, the time of the change. ``status_event_fields`` is the rest; a
# writer that records the change in its own statement adds these three in SQL, in the same formats.
STATEMENT_FIELDS = ("application_id", "reference", "occurred_at")


def status_event_fields(
    app: ApplicationRecord | NewApplication, status: str, from_status: str | None, reason: str
) -> dict[str, Any]:
    """The status event's payload without ``STATEMENT_FIELDS``. No personal data in events: they leave
    the system of record (webhooks, Supabase mirror)."""
    return {
        "borrower_id": app.borrower_id,
        "from_status": from_status,
        "status": status,
        "reason": reason,
        "currency": app.currency,
        "amount": None
        if app.requested_amount_minor is None
        else str(from_minor(app.requested_amount_minor, app.currency)),
        "term_months": app.term_months,
        "purpose": app.purpose,
    }


def status_event(app: ApplicationRecord, from_status: str | None, reason: str) -> OutboxEvent:
    return OutboxEvent(
        aggregate_type="application",
        aggregate_id=str(app.id),
        event_type=f"application.{app.status}",
        payload={
            "application_id": str(app.id),
            "reference": app.reference,
            **status_event_fields(app, app.status, from_status, reason),
            "occurred_at": app.status_changed_at.isoformat(),
        },
    )


async def transition(
    uow: CreditUnitOfWork,
    call: Invocation,
    app: ApplicationRecord,
    to: ApplicationStatus,
    reason: str,
    extra_events: Sequence[OutboxEvent] = (),
) -> ApplicationRecord:
    """Move a locked application to ``to`` or raise ``conflict`` naming the legal next states."""
    current = ApplicationStatus(app.status)
    try:
        check_transition(current, to)
    except IllegalTransition as exc:
        raise Conflict(f"{app.reference}: {exc}") from None
    if to not in ENDS_BIDDING:
        # The audit row and the events in the move's own statement: one round trip fewer.
        return await uow.applications.move(app, to.value, call.principal, reason, call, extra_events)
    moved = await uow.applications.move(app, to.value, call.principal, reason)
    events = [status_event(moved, app.status, reason), *extra_events]
    # A bid on an application that will never become a loan is dead: its provider is told so now
    # rather than discovering it when the bid's own validity lapses.
    for bid in await uow.applications.end_active_bids(app.id, lapsed=to is ApplicationStatus.EXPIRED):
        events.append(bid_event("bid.expired", bid, app.reference, reason=f"application {to.value}"))
    await uow.record(AuditRecord(call, "application", str(app.id)), events)
    if current in HOLDS_CAPITAL:
        # Its accepted offer will not become a loan: the lender's capital is free again.
        await release_reservation(uow, call, moved)
    return moved


async def expire_stale(
    uow: CreditUnitOfWork, call: Invocation, now: datetime, window: timedelta, limit: int
) -> list[ApplicationRecord]:
    """Expire open applications whose bidding window has passed, and accepted ones whose offer's
    validity passed before approval (its capital released). Rows another runner holds are skipped, so
    concurrent or repeated runs never expire one application twice."""
    stale = await uow.applications.lock_stale_open(now - window, limit)
    reason = f"no offer accepted within {_hours(window)} of opening for bids"
    expired = [await transition(uow, call, app, ApplicationStatus.EXPIRED, reason) for app in stale]
    reason = "the accepted offer's validity passed before a loan was made from it"
    for app in await uow.applications.lock_lapsed_offers(now, limit - len(expired)):
        # Locked now: a loan originated since this statement's snapshot is seen (READ COMMITTED).
        if not await uow.applications.has_loan(app.id):
            expired.append(await transition(uow, call, app, ApplicationStatus.EXPIRED, reason))
    return expired


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hours"
