"""Bidding tools (on the ``providers`` server): invited providers place, revise and withdraw bids or
decline the invitation; everyone concerned lists the bids; staff close bidding early."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from mcp_servers.params import BID_RENAMED, PROVIDER_RENAMED, ApplicationHandle, BidId, Cursor, Limit
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.marketplace import bidding, invitations, preview
from tools.marketplace.models.bids import (
    BidChanges,
    BiddingRoundView,
    BidInput,
    BidPage,
    BidStatus,
    BidView,
)
from tools.marketplace.models.invitations import DeclinedInvitation
from tools.marketplace.models.preview import BidPreview, BidPreviewInput
from tools.platform.models import FreeText
from tools.platform.principal import Role

__all__ = ["TOOLS"]

BIDDERS = frozenset({Role.PROVIDER})
BID_READERS = frozenset({Role.PROVIDER, Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
CLOSERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})

Reason = Annotated[
    FreeText, Field(min_length=3, max_length=500, description="Why; kept in the audit and events.")
]
DeclineReason = Annotated[
    FreeText,
    Field(
        min_length=invitations.REASON_MIN,
        max_length=invitations.REASON_MAX,
        description="Why your provider declines (e.g. outside its appetite); kept in the audit and the "
        "event, so no personal data.",
    ),
]
TOOLS = ToolSet()


@TOOLS.tool(roles=BIDDERS, title="Place a bid", read_only=False)
async def place_bid(application: ApplicationHandle, bid: BidInput) -> BidView:
    """Offer credit on an application your provider was invited to (list_invitations shows them).

    Use when your provider decides to lend on an invitation. Allowed while the application is
    open_for_bids and bidding has not closed. The bid must fit the application (its currency; amount at
    most the amount requested) and your provider's own terms (amount within its min/max, annual_rate
    within its rate range, term within its term range, and capital available for the amount); the fee must
    be below the amount; valid_until in the future (at most 90 days). Amounts are decimal strings in major
    units, the rate a fraction (0.24 = 24%). One active bid per provider and application: change it with
    revise_bid. Returns version 1 (or the next version after a withdrawal). Every broken rule is listed in
    one invalid_argument.
    """
    return await bidding.place_bid(deps().marketplace, invocation(), application, bid)


# The dashboard's live preview as a lender types: for the page, not the model (a lender's agent prices
# with its own rules and places the bid; place_bid refuses terms with the same reasons).
@TOOLS.tool(roles=BIDDERS, title="Preview a bid", read_only=True, idempotent=True, app_only=True)
async def preview_bid(application: ApplicationHandle, bid: BidPreviewInput) -> BidPreview:
    """Show what a bid would cost the borrower before placing it: APR, total cost of credit, installment.

    Use while drafting an offer on an invitation (list_invitations), before place_bid or revise_bid.
    The figures are computed exactly as compare_offers computes them for the borrower (Regulation Z
    Appendix J APR with the origination fee as a prepaid finance charge; total cost of credit = total
    of payments - amount financed; the first installment), as of today. problems lists every rule
    place_bid would refuse the terms for now (amount over the request or outside your limits, rate or
    term outside your range, fee not below the amount, capital, bidding closed for you); fits is true
    when there are none. Inputs are place_bid's without conditions (valid_until optional). Nothing is
    stored.
    """
    return await preview.preview_bid(deps().marketplace, principal(), application, bid)


@TOOLS.tool(roles=BIDDERS, title="Revise a bid", read_only=False, retired=BID_RENAMED)
async def revise_bid(bid: BidId, changes: BidChanges) -> BidView:
    """Change your active bid: a new version with the changes, the current one becomes superseded.

    Use to improve or correct an offer before bidding closes. Fields left out keep their value; the result
    is checked as a whole like a new bid. Allowed while bidding is open. Pass the current version's id (an
    older one is a conflict naming why). The history stays in list_bids.
    """
    return await bidding.revise_bid(deps().marketplace, invocation(), bid, changes)


@TOOLS.tool(roles=BIDDERS, title="Withdraw a bid", read_only=False, destructive=True, retired=BID_RENAMED)
async def withdraw_bid(bid: BidId, reason: Reason) -> BidView:
    """Withdraw your active bid; it can no longer be accepted.

    Use when your provider no longer stands by the offer. Possible until an offer is accepted, also
    after bidding closed. You may bid again while bidding is open.
    """
    return await bidding.withdraw_bid(deps().marketplace, invocation(), bid, reason)


@TOOLS.tool(roles=BIDDERS, title="Decline an invitation to bid", read_only=False, idempotent=True)
async def decline_invitation(application: ApplicationHandle, reason: DeclineReason) -> DeclinedInvitation:
    """Decline your provider's invitation to bid on an application: it will not offer credit on it.

    Use when your provider decides not to lend on an invitation (list_invitations shows them), instead
    of letting it lapse. Allowed while the application is open_for_bids and your invitation is still
    invited. The invitation becomes declined for good: your provider can no longer bid on that
    application, and the decision counts in its performance like an unanswered invitation that expired.
    If your provider already bid, withdraw the bid (withdraw_bid) instead: declining is a conflict.
    Declining again is harmless: it returns the declined invitation with already_declined: true and
    changes nothing. Returns the application's id and reference, your provider_id and status declined.
    """
    return await invitations.decline_invitation(deps().marketplace, invocation(), application, reason)


@TOOLS.tool(
    roles=BID_READERS,
    title="List bids on an application",
    read_only=True,
    idempotent=True,
    retired=PROVIDER_RENAMED,
)
async def list_bids(
    application: ApplicationHandle,
    provider: Annotated[
        UUID | None, Field(default=None, description="Only this provider's (providers: leave out).")
    ] = None,
    status: Annotated[
        list[BidStatus] | None,
        Field(default=None, max_length=len(BidStatus), description="Only these statuses (as of now)."),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> BidPage:
    """Every version of the bids on an application, newest first, with its status as of now.

    Use to follow the bidding or a bid's history. A provider sees only its own bids, on applications it
    was invited to; the borrower, the agent who filed the application, operators, admins and services see
    every provider's. Statuses: active, superseded (revised), withdrawn, expired (past valid_until),
    rejected, accepted.
    """
    return await bidding.list_bids(
        deps().marketplace, principal(), application, provider, status, limit, cursor
    )


@TOOLS.tool(roles=CLOSERS, title="Close bidding", read_only=False, destructive=True)
async def close_bidding(application: ApplicationHandle, reason: Reason) -> BiddingRoundView:
    """End bidding on an open application now, before its deadline.

    Use when enough offers are in (or bidding must stop). From then on no bid is placed or revised;
    standing bids can still be withdrawn or accepted. Invited providers that had not bid can no longer do
    so. Closing twice is a conflict.
    """
    return await bidding.close_bidding(deps().marketplace, invocation(), application, reason)
