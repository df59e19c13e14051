"""Offer tools (on the ``providers`` server): the borrower compares the live bids and accepts one."""

from __future__ import annotations

from mcp_servers.apps import OFFERS_APP
from mcp_servers.params import BID_RENAMED, ApplicationHandle, BidId, IdempotencyKey
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.marketplace import offers
from tools.marketplace.models.bids import AcceptedOffer, OfferComparison
from tools.platform.principal import Role

__all__ = ["TOOLS"]

COMPARERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
ACCEPTERS = frozenset({Role.BORROWER, Role.AGENT})


TOOLS = ToolSet()


@TOOLS.tool(roles=COMPARERS, title="Compare offers", read_only=True, idempotent=True, app=OFFERS_APP)
async def compare_offers(application: ApplicationHandle) -> OfferComparison:
    """Rank the live bids on an open application, best first, and say which is best and why.

    Use before accept_offer, to choose. Each bid's APR is computed per US Regulation Z Appendix J
    (actuarial method, the origination fee included as a prepaid finance charge), with its total cost of
    credit (finance charge = total of payments - amount financed) and installment. Ranking: lowest APR,
    then lowest total cost of credit, then lowest installment, then the earlier bid. Bids past their
    validity or of a suspended provider are listed under excluded.
    """
    return await offers.compare_offers(deps().marketplace, principal(), application)


@TOOLS.tool(
    roles=ACCEPTERS,
    title="Accept an offer",
    read_only=False,
    destructive=True,
    confirm=True,
    retired=BID_RENAMED,
)
async def accept_offer(
    application: ApplicationHandle, bid: BidId, idempotency_key: IdempotencyKey
) -> AcceptedOffer:
    """Accept one bid on your application: atomically, the other bids are rejected, the provider's
    capital is reserved (ledger journal) and the application becomes offer_accepted.

    Use when the borrower has chosen (compare_offers ranks them). For the borrower, or the agent who
    filed the application. One offer per application: a second acceptance, a withdrawn, superseded or
    expired bid, or a bid on another application is an error (conflict or not_found) and changes
    nothing. Concurrent calls accept exactly one bid.
    """
    return await offers.accept_offer(deps().marketplace, invocation(), application, bid, idempotency_key)
