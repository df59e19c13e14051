"""The outbox event a bid's change sends (to its provider's webhook and to the borrower's mirror)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tools.marketplace.domain.bids import BidRecord, BidTerms, NewBid
from tools.platform.domain.money import from_minor
from tools.platform.ports import OutboxEvent

__all__ = ["STORED_FIELDS", "bid_event", "placed_fields"]

# What only the stored row knows (its id and status; the rate and validity as stored): the statement
# that places a bid adds them to ``placed_fields`` (database.marketplace.bid_placement).
STORED_FIELDS = ("bid_id", "status", "annual_rate", "valid_until")


def _offer(
    application_id: UUID, provider_id: UUID, version: int, t: BidTerms, reference: str
) -> dict[str, Any]:
    # The offer's terms and the application's reference: nothing personal leaves in an event.
    return {
        "application_id": str(application_id),
        "reference": reference,
        "provider_id": str(provider_id),
        "version": version,
        "currency": t.currency,
        "amount": str(from_minor(t.amount_minor, t.currency)),
        "term_months": t.term_months,
        "origination_fee": str(from_minor(t.origination_fee_minor, t.currency)),
        "repayment_frequency": t.repayment_frequency.value,
        "schedule_method": t.schedule_method.value,
    }


def bid_event(event_type: str, b: BidRecord, reference: str, **extra: Any) -> OutboxEvent:
    stored = {
        "bid_id": str(b.id),
        "status": b.status,
        "annual_rate": str(b.annual_rate),
        "valid_until": b.valid_until.isoformat(),
    }
    offer = _offer(b.application_id, b.provider_id, b.version, b.terms(), reference)
    return OutboxEvent("bid", str(b.id), event_type, offer | stored | extra)


def placed_fields(new: NewBid, reference: str) -> dict[str, Any]:
    """``bid.placed``'s payload but for ``STORED_FIELDS``."""
    return _offer(new.application_id, new.provider_id, new.version, new.terms, reference)
