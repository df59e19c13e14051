"""What a payment tool returns for a payment: its view, and the one sentence of what happens next."""

from __future__ import annotations

from tools.payments.domain.payments import Booking, PaymentKind, PaymentRecord, PaymentStatus
from tools.payments.models import PaymentView, Verification
from tools.payments.ports import PaymentReader
from tools.platform.models import Money

__all__ = ["booked_view", "payment_view"]


_BOOKED = {
    (PaymentKind.COLLECTION, Booking.OWED): "the money was received but not applied to the loan: it is held "
    "in suspense; refund the payer, then reverse its suspense journal (reverse_journal)",
    (PaymentKind.COLLECTION, Booking.RETURNED): "the money was received but not applied to the loan, and "
    "refunded to the payer since (its suspense journal reversed): nothing is left to do",
    (PaymentKind.DISBURSEMENT, Booking.OWED): "the money left but no loan took it: it is booked for "
    "recovery; once it is back reverse its payout_recovery journal (reverse_journal), or write it off "
    "if it will not be (write_off_payout)",
    (PaymentKind.DISBURSEMENT, Booking.RETURNED): "the money left but no loan took it, and it was "
    "recovered since (its payout_recovery journal reversed): nothing is left to do",
    (PaymentKind.DISBURSEMENT, Booking.WRITTEN_OFF): "the money left but no loan took it, and it was "
    "written off as lost (a payout_loss journal; reverse that should the money come back)",
}


def _next_step(p: PaymentRecord, booking: Booking | None) -> str:
    status = PaymentStatus(p.status)
    if status == PaymentStatus.SUCCEEDED and p.last_error is not None:
        # Money moved that its loan refused (last_error says why): booked until a person acts.
        kind = PaymentKind(p.kind)
        return _BOOKED.get((kind, booking or Booking.OWED), _BOOKED[kind, Booking.OWED])
    if p.kind == PaymentKind.COLLECTION:
        return {
            PaymentStatus.REQUESTED: "the charge is being initialized at the gateway",
            PaymentStatus.SENT: "the payer completes the payment at authorization_url; the gateway's webhook "
            "then allocates it to the loan",
            PaymentStatus.SUCCEEDED: "the money was received and allocated to the loan (get_loan shows it)",
        }.get(status, "nothing was received; start a new collection with collect_repayment")
    return {
        PaymentStatus.REQUESTED: "the payments worker sends it to the gateway (retrying with backoff, and "
        "verifying before any re-send)",
        PaymentStatus.SENT: "the gateway accepted the transfer; its webhook (or verify_payment) confirms it",
        PaymentStatus.SUCCEEDED: "the borrower was paid; the loan is active and its ledger posted",
    }.get(
        status,
        "no money left; while the loan is pending_disbursement, retry_disbursement with this payment "
        "pays it out again",
    )


def payment_view(
    p: PaymentRecord,
    *,
    replayed: bool = False,
    verification: Verification | None = None,
    booking: Booking | None = None,
) -> PaymentView:
    """``booking``: where the booking of a succeeded payment its loan refused stands (``booked_view``
    reads it)."""
    return PaymentView(
        id=p.id,
        kind=PaymentKind(p.kind),
        loan_id=p.loan_id,
        status=PaymentStatus(p.status),
        amount=Money.from_minor(p.amount_minor, p.currency),
        reference=p.reference,
        vendor=p.vendor,
        attempts=p.attempts,
        last_error=p.last_error,
        authorization_url=p.authorization_url,
        simulated=p.simulated,
        requested_by=p.requested_by,
        created_at=p.created_at,
        updated_at=p.updated_at,
        sent_at=p.sent_at,
        settled_at=p.settled_at,
        next_step=_next_step(p, booking),
        replayed=replayed,
        verification=verification,
    )


async def booked_view(reader: PaymentReader, p: PaymentRecord) -> PaymentView:
    """The view of ``p`` as a person reads it: a payment its loan refused says whether its money is still
    owed back, returned or written off (one more read, for such payments alone)."""
    refused = p.status == PaymentStatus.SUCCEEDED and p.last_error is not None
    return payment_view(p, booking=await reader.booking(p.id) if refused else None)
