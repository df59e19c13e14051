"""The capital an accepted offer holds: reserved when the offer is accepted (``tools.marketplace.offers``)
and released, here, when its application ends without a loan (declined at approval, withdrawn, lapsed, or
its loan cancelled before the payout). ``tools.credit.lifecycle.transition`` releases it on every such
move, so no path that ends an application can leave the lender's capital held.
"""

from __future__ import annotations

from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord
from tools.ledger.domain.chart import account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import post_journal
from tools.marketplace.bid_events import bid_event
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.ports import BiddingUnitOfWork
from tools.platform.ports import AuditRecord, Invocation

__all__ = ["capital_journal", "release_reservation"]


def capital_journal(kind: JournalKind, bid: BidRecord, memo: str) -> JournalDraft:
    """The journal moving an accepted bid's amount between its provider's available and reserved
    capital: into reserved for a reservation, back to available for its release."""
    owner = str(bid.provider_id)
    available = account("provider", "capital_available", bid.currency, owner)
    reserved = account("provider", "capital_reserved", bid.currency, owner)
    to, out = (reserved, available) if kind is JournalKind.RESERVATION else (available, reserved)
    return JournalDraft(kind, str(bid.id), memo, (debit(to, bid.amount_minor), credit(out, bid.amount_minor)))


async def release_reservation(
    uow: BiddingUnitOfWork, call: Invocation, application: ApplicationRecord
) -> UUID | None:
    """Undo the capital reservation of an application's accepted offer (it will not become a loan):
    the provider's available capital goes back up and a reservation-release journal is posted, in the
    caller's transaction. Returns the journal id, or None when no offer was accepted."""
    bid = await uow.bids.accepted_bid(application.id)
    if bid is None:
        return None
    await uow.bids.release_capital(bid.provider_id, bid.amount_minor)
    memo = f"reservation released: {application.reference} ended as {application.status}"
    release = capital_journal(JournalKind.RESERVATION_RELEASE, bid, memo)
    journal_id = await post_journal(uow, call, release)
    # The provider whose offer was accepted learns the application's fate (its webhook): the decision
    # event itself is the borrower's and names no provider.
    released = bid_event(
        "offer.released",
        bid,
        application.reference,
        reason=f"application {application.status}",
        release_journal_id=str(journal_id),
    )
    await uow.record(AuditRecord(call, "bid", str(bid.id)), [released])
    return journal_id
