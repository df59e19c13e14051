"""A provider's answer to an invitation to bid, other than a bid: declining it.

A provider invited to bid decides either by bidding (``tools.marketplace.bidding.place_bid``: the invitation
becomes bid_submitted, an approving decision) or by declining here (declined, a declining decision);
an invitation left unanswered when bidding closes expires, also counted as declining. Each invitation
is decided once: a provider that bid withdraws its bid instead of declining, and a provider that
declined cannot bid afterwards (place_bid refuses a declined invitation). Declining twice is not an
error: the second call changes nothing and says so (``already_declined``), whatever happened to the
application since, so a retried call or a redelivered webhook is safe.

The MCP tool and the provider's signed ``application.decision`` webhook both come here; the webhook
through ``decline_invitation_in``, in the transaction of its inbox row.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.marketplace.bidding import invited_application, own_provider
from tools.marketplace.domain.bids import BiddingRound
from tools.marketplace.domain.providers import InvitationStatus
from tools.marketplace.models.invitations import DeclinedInvitation
from tools.marketplace.ports import BiddingUnitOfWork, MarketplaceDeps
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent

__all__ = ["REASON_MAX", "REASON_MIN", "decline_invitation", "decline_invitation_in", "open_round"]

# The same bounds as the reason of withdraw_bid and close_bidding: it is kept in the audit and events.
REASON_MIN, REASON_MAX = 3, 500


async def open_round(uow: BiddingUnitOfWork, app: ApplicationRecord, window: timedelta) -> BiddingRound:
    """The application's bidding round (the caller holds its row lock), refused once closed: closing
    bidding leaves the application open_for_bids (standing bids stay acceptable), so only the round
    says no lender is invited any more (a probe saw invitations go out after close_bidding)."""
    rnd = await uow.bids.round(app.id, app.status_changed_at, window)
    if rnd.closed_at is not None:
        raise Conflict(
            f"bidding on {app.reference} was closed by {rnd.closed_by} at {rnd.closed_at.isoformat()}; no "
            "provider is invited to a closed round (accept a standing bid, or decline the application)"
        )
    return rnd


def _declined(app: ApplicationRecord, provider_id: UUID, *, already: bool) -> DeclinedInvitation:
    return DeclinedInvitation(
        application_id=app.id,
        reference=app.reference,
        provider_id=provider_id,
        status=InvitationStatus.DECLINED,
        already_declined=already,
    )


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise InvalidArgument(
            f"reason must be {REASON_MIN} to {REASON_MAX} characters: say briefly why your provider "
            "declines (it is kept in the audit and the provider.invitation_declined event)"
        )
    return reason


async def decline_invitation(
    deps: MarketplaceDeps, call: Invocation, application: str, reason: str
) -> DeclinedInvitation:
    """The calling provider declines its invitation to bid on ``application``."""
    async with deps.uow() as uow:
        return await decline_invitation_in(uow, call, application, reason)


async def decline_invitation_in(
    uow: BiddingUnitOfWork, call: Invocation, application: str, reason: str
) -> DeclinedInvitation:
    """``decline_invitation`` in the caller's transaction (a provider's webhook, beside its inbox row)."""
    provider_id = own_provider(call.principal)
    reason = _checked_reason(reason)
    app, invitation = await invited_application(uow, provider_id, application)
    if invitation == InvitationStatus.DECLINED:
        return _declined(app, provider_id, already=True)
    if invitation == InvitationStatus.BID_SUBMITTED:
        raise Conflict(
            f"your provider already bid on {app.reference}, which counts as its decision; to stop standing "
            "by the offer, withdraw the bid (withdraw_bid) instead of declining"
        )
    if invitation != InvitationStatus.INVITED:
        raise Conflict(
            f"your invitation to {app.reference} is {invitation}; there is nothing left to decline"
        )
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        raise Conflict(
            f"{app.reference} is {app.status}; an invitation is declined only while the application is "
            "open_for_bids"
        )
    invitation_id = await uow.bids.decline_invitation(app.id, provider_id)
    assert invitation_id is not None  # the invitation row is locked and was 'invited'
    # No personal data: the event may leave the system of record.
    event = OutboxEvent(
        "provider",
        str(provider_id),
        "provider.invitation_declined",
        {
            "application_id": str(app.id),
            "reference": app.reference,
            "provider_id": str(provider_id),
            "reason": reason,
        },
    )
    await uow.record(AuditRecord(call, "provider_invitation", str(invitation_id)), [event])
    return _declined(app, provider_id, already=False)
