"""Write off a payout booked for recovery (``write_off_payout``): its recipient will not pay it back.

A payout the vendor paid that no loan took is booked as owed back (a ``payout_recovery`` journal,
``tools.payments.core``); most come back and an admin reverses the booking. One that will not come back
(the recipient's bank refused the recall, the amount is not worth pursuing) is written off: a
``payout_loss`` journal moves it from the receivable to the platform's ``payout_losses``, in one
transaction with its audit row and event, and platform_health stops naming the payment. The booking is
the platform's, not the lender's, so is the loss; the loan and its lender are untouched. Reversing the
write-off (``reverse_journal``: it came back after all) restores the booking, which an admin then
reverses as any recovery.
"""

from __future__ import annotations

from tools.ledger.domain.ledger import Journal, JournalKind
from tools.ledger.ledger import JournalAlreadyPosted, post_journal
from tools.loans.domain.journals import payout_loss_journal
from tools.payments.domain.payments import Booking, PaymentKind, PaymentRecord, PaymentStatus
from tools.payments.models import PayoutWriteOff
from tools.payments.payments import _visible_loan, payment_not_found
from tools.payments.ports import InboxUnitOfWork, PaymentDeps
from tools.payments.retries import parse_payment
from tools.payments.views import payment_view
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.models import Money
from tools.platform.ports import Invocation

__all__ = ["write_off_payout"]


def _not_booked(p: PaymentRecord) -> Conflict:
    if p.kind != PaymentKind.DISBURSEMENT:
        return Conflict(
            f"payment {p.id} is a {p.kind}, not a payout; money a loan refused is held in suspense and "
            "refunded to its payer (then reverse_journal)"
        )
    if p.status != PaymentStatus.SUCCEEDED:
        return Conflict(f"payment {p.id} is {p.status}: no money left, so there is nothing to write off")
    return Conflict(
        f"payment {p.id} is its loan's payout, applied to it; only a payout no loan took (booked for "
        "recovery: platform_health names them) is written off. A loan the borrower will not repay is "
        "written off with write_off_loan"
    )


async def _booking(uow: InboxUnitOfWork, p: PaymentRecord) -> Journal:
    """The payment's recovery booking, still owed back: neither recovered nor written off. Held to
    COMMIT, so a reversal of it (recovered) waits, then finds it written off."""
    found = await uow.ledger.journal_of(JournalKind.PAYOUT_RECOVERY, str(p.id))
    if found is None or p.last_error is None:  # a booking later applied to its loan holds nothing
        raise _not_booked(p)
    await uow.ledger.hold_journal(found.id)
    booking = await uow.ledger.journal(found.id)
    assert booking is not None  # journals are never deleted
    if booking.reversed_by is not None:
        raise Conflict(
            f"payout {p.id} was recovered: its booking {booking.id} is reversed by journal "
            f"{booking.reversed_by}, so nothing is owed"
        )
    loss = await uow.ledger.journal_of(JournalKind.PAYOUT_LOSS, str(booking.id))
    if loss is not None:
        how = "" if loss.reversed_by is None else f", since reversed by journal {loss.reversed_by},"
        raise Conflict(
            f"payout {p.id} was written off before (journal {loss.id}){how}; a booking is written off "
            "once. Once the money is back, reverse its booking with reverse_journal"
        )
    return booking


async def _check_settled(uow: InboxUnitOfWork, p: PaymentRecord) -> None:
    other = await uow.payments.other_payout(p.loan_id, p.id)
    if other is not None and other.status in (PaymentStatus.REQUESTED, PaymentStatus.SENT):
        raise Conflict(
            f"payout {other.id} of loan {p.loan_id} is still {other.status}: should it fail, payout {p.id} "
            "becomes the loan's and is owed by nobody. Write it off once that payout has settled "
            "(get_payment)"
        )


async def write_off_payout(deps: PaymentDeps, call: Invocation, handle: str, reason: str) -> PayoutWriteOff:
    """Post the ``payout_loss`` journal of payment ``handle``'s recovery booking; a conflict unless the
    payout is booked for recovery, not yet recovered or written off, and its loan has no other payout in
    flight."""
    if not reason.strip():
        raise InvalidArgument("reason: say why the money will not come back; blank text is not a reason")
    payment_id = parse_payment(handle)
    found = await deps.reader.get(payment_id)
    if found is None:
        raise payment_not_found(payment_id)
    loan = await _visible_loan(deps, call.principal, str(found.loan_id))
    async with deps.uow() as uow:
        # The loan, then its payment (tools.platform.locking): a retry or a settling payout of this loan
        # waits for the write-off, or it for them.
        await uow.loans.lock(str(loan.id))
        p = await uow.payments.lock(payment_id)
        assert p is not None  # payments are never deleted
        booking = await _booking(uow, p)
        await _check_settled(uow, p)
        amount = sum(line.amount_minor for line in booking.postings if line.amount_minor > 0)
        try:
            loss_id = await post_journal(
                uow, call, payout_loss_journal(loan, str(booking.id), amount, reason)
            )
        except JournalAlreadyPosted as exc:  # pragma: no cover - the payment's lock orders write-offs
            raise Conflict(f"payout {p.id} was written off meanwhile (journal {exc.journal_id})") from None
    return PayoutWriteOff(
        payment=payment_view(p, booking=Booking.WRITTEN_OFF),
        amount=Money.from_minor(amount, p.currency),
        recovery_journal_id=booking.id,
        loss_journal_id=loss_id,
        reason=reason,
        written_off_at=deps.clock.now(),
    )
