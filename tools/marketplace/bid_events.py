"""The outbox event a bid's change sends (to its provider's webhook and to the borrower's mirror)."""

from __future__ import annotations

from typing import Any

from tools.marketplace.domain.bids import BidRecord
from tools.platform.domain.money import from_minor
from tools.platform.ports import OutboxEvent

__all__ = ["bid_event"]


def bid_event(event_type: str, b: BidRecord, reference: str, **extra: Any) -> OutboxEvent:
    # The offer's terms and the application's reference: nothing personal leaves in an event.
    return OutboxEvent(
        aggregate_type="bid",
        aggregate_id=str(b.id),
        event_type=event_type,
        payload={
            "bid_id": str(b.id),
            "application_id": str(b.application_id),
            "reference": reference,
            "provider_id": str(b.provider_id),
            "version": b.version,
            "status": b.status,
            "currency": b.currency,
            "amount": str(from_minor(b.amount_minor, b.currency)),
            "annual_rate": str(b.annual_rate),
            "term_months": b.term_months,
            "origination_fee": str(from_minor(b.origination_fee_minor, b.currency)),
            "repayment_frequency": b.repayment_frequency,
            "schedule_method": b.schedule_method,
            "valid_until": b.valid_until.isoformat(),
            **extra,
        },
    )
