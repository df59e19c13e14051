"""What the payment tools return."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from tools.payments.domain.payments import PaymentKind, PaymentStatus
from tools.platform.models import Money, Output

__all__ = ["PaymentKind", "PaymentPage", "PaymentStatus", "PaymentView", "PayoutWriteOff", "Verification"]


class Verification(Output):
    """What the gateway said when asked about the payment's reference."""

    found: bool = Field(description="False: the gateway has no payment under this reference.")
    status: str | None = Field(description="success, failed or pending, as the gateway reported it.")
    amount: Money | None
    outcome: str = Field(
        description="What it did to the payment: applied (moved it on), ignored (nothing new, or it "
        "would move it backwards) or rejected (it disagreed, e.g. another amount; see last_error)."
    )
    detail: str


class PaymentView(Output):
    id: UUID
    kind: PaymentKind = Field(description="disbursement (to the borrower) or collection (from the borrower).")
    loan_id: UUID
    status: PaymentStatus = Field(
        description="requested -> sent -> succeeded | failed (or reversed); it never moves backwards."
    )
    amount: Money
    reference: str = Field(description="The payment's reference at the gateway, derived from its id.")
    vendor: str | None = Field(
        description="The payment vendor of the latest attempt (routing may fall back)."
    )
    attempts: int = Field(description="Times the worker tried to send it to the gateway.")
    last_error: str | None
    authorization_url: str | None = Field(
        description="Collections: where the payer completes the payment. Null for disbursements."
    )
    simulated: bool = Field(
        description="True when the gateway is the built-in sandbox: no real money moved or will move."
    )
    requested_by: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None
    next_step: str = Field(description="What happens next, in one sentence.")
    replayed: bool = Field(
        default=False, description="True: this idempotency_key was used before; this is that first result."
    )
    verification: Verification | None = None


class PaymentPage(Output):
    items: list[PaymentView]
    next_cursor: str | None = Field(description="Pass back as cursor for the next page; null on the last.")


class PayoutWriteOff(Output):
    """A payout written off as lost, and the journals that say so."""

    payment: PaymentView
    amount: Money = Field(description="What the recipient keeps: the platform's loss.")
    recovery_journal_id: UUID = Field(description="The payout_recovery journal that booked it as owed back.")
    loss_journal_id: UUID = Field(
        description="The payout_loss journal (Dr platform payout_losses, Cr platform payout_recovery); "
        "reverse it with reverse_journal should the money come back after all."
    )
    reason: str
    written_off_at: datetime
