"""What every payment path shares: the dependencies, the view, the outbox event, and ``settle``, the one
way a payment moves on, whatever told us (the worker's gateway answer, a verification, a webhook).

Lock order, everywhere: the loan, then the payment. The loan is what the effects (activation, a
repayment) lock anyway, so taking it first means two payment paths, or a payment path and a tool on the
loan, queue on one row instead of deadlocking on two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from tools.ledger.domain.ledger import JournalKind, reversal_of
from tools.ledger.ledger import JournalAlreadyPosted, post_journal
from tools.loans.domain.journals import payout_recovery_journal, suspense_journal
from tools.loans.domain.loans import LoanRecord
from tools.loans.domain.prepay_choices import Prepay
from tools.loans.loans import confirm_disbursement_in
from tools.loans.servicing import repayment_in
from tools.payments.domain.payments import UNDONE, PaymentKind, PaymentRecord, PaymentStatus, advance
from tools.payments.ports import InboxOutcome, InboxUnitOfWork, PaymentDeps
from tools.platform.domain.money import from_minor
from tools.platform.errors import DomainError
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent

__all__ = [
    "NoSuchPayment",
    "Outcome",
    "payment_event",
    "settle",
]


def payment_event(p: PaymentRecord, loan: LoanRecord, event: str, reason: str, at: datetime) -> OutboxEvent:
    # No personal data (no account numbers, no email): events leave the system of record.
    return OutboxEvent(
        aggregate_type="payment",
        aggregate_id=str(p.id),
        event_type=f"payment.{event}",
        payload={
            "payment_id": str(p.id),
            "kind": p.kind,
            "loan_id": str(loan.id),
            "application_id": str(loan.application_id),
            "provider_id": str(loan.provider_id),
            "borrower_id": loan.borrower_id,
            "status": p.status,
            "reference": p.reference,
            "vendor": p.vendor,
            "currency": p.currency,
            "amount": str(from_minor(p.amount_minor, p.currency)),
            "amount_minor": p.amount_minor,
            "simulated": p.simulated,
            "reason": reason,
            "occurred_at": at.isoformat(),
        },
    )


class NoSuchPayment(LookupError):
    """``settle`` of a payment that does not exist."""


@dataclass(frozen=True, slots=True)
class Report:
    """Who reported a move in a webhook: the kind of payment its reference names and the route it
    came by (``stripe`` speaks Stripe; every other vendor reports through ``paystack``)."""

    kind: PaymentKind
    source: str
    paid_at: datetime | None = None  # when the vendor says the payer paid


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: Literal["applied", "ignored", "rejected"]
    detail: str
    payment: PaymentRecord
    # Whether the inbound event's inbox row was concluded with the payment's move (``settle``'s inbox).
    concluded: bool = False


def _paid_at(deps: PaymentDeps, p: PaymentRecord, said: datetime | None) -> datetime:
    """When a collection was paid: the vendor's time when it says one that can be (not before the
    charge was requested, not ahead of the clock), else now. A payment dated when it was made, not
    when the webhook came, is what aging and the late-fee waiver judge."""
    now = deps.clock.now()
    return said if said is not None and p.created_at <= said <= now else now


async def _effect(
    deps: PaymentDeps,
    uow: InboxUnitOfWork,
    call: Invocation,
    p: PaymentRecord,
    locked: LoanRecord,
    said_paid_at: datetime | None = None,
) -> str:
    """What a succeeded payment does to its loan (``locked``, the caller's lock), in the same
    transaction; ``said_paid_at``: when the vendor's webhook says the payer paid."""
    amount = from_minor(p.amount_minor, p.currency)
    if p.kind == PaymentKind.DISBURSEMENT:
        loan, replayed = await confirm_disbursement_in(
            deps.loans, uow, call, str(p.loan_id), p.reference, amount, p.currency, locked=locked
        )
        return f"loan {loan.id} was already active" if replayed else f"loan {loan.id} is active"
    prepay = None if p.prepay is None else Prepay(p.prepay)
    repayment, _, replayed = await repayment_in(
        deps.loans,
        uow,
        call,
        str(p.loan_id),
        amount,
        _paid_at(deps, p, said_paid_at),
        p.reference,
        prepay,
        locked=locked,
        gateway=True,
    )
    return f"repayment {repayment.id} {'was already ' if replayed else ''}allocated"


async def _duplicate_payout(uow: InboxUnitOfWork, p: PaymentRecord) -> str | None:
    """Why a payout that succeeds is not applied: another of its loan is in flight or applied (a retry
    requested after it failed or was reversed), so the money moved twice, or may; None when there is
    none. Only an undone payout can have one: the one-payout index holds a payout in flight or applied
    alone."""
    if p.kind != PaymentKind.DISBURSEMENT or p.status not in UNDONE:
        return None
    other = await uow.payments.other_payout(p.loan_id, p.id)
    if other is None:
        return None
    return (
        f"but disbursement {other.id} ({other.status}) was requested after this one failed, so this payout "
        "is not applied: the borrower may have been paid twice. Verify both with the vendor and recover "
        "the duplicate (should the retry fail, this payout becomes the loan's)"
    )


async def _applied(
    deps: PaymentDeps,
    uow: InboxUnitOfWork,
    call: Invocation,
    p: PaymentRecord,
    loan: LoanRecord,
    report: Report | None,
) -> tuple[bool, str]:
    """Whether the succeeded payment's effect applied, and what it did or why its loan refused it: the
    money moved whatever the loan says, so the payment records that and the refusal waits for an
    operator."""
    try:
        async with uow.payments.savepoint():
            return True, await _effect(deps, uow, call, p, loan, None if report is None else report.paid_at)
    except DomainError as exc:
        refused = f"but its effect was refused ({exc.code}: {exc.message})"
        return False, refused + await _book_unapplied(uow, call, p, loan, exc.message)


async def _book_unapplied(
    uow: InboxUnitOfWork, call: Invocation, p: PaymentRecord, loan: LoanRecord, why: str
) -> str:
    """Book money a succeeded payment moved that its loan did not take: whatever the loan says, it
    moved. Returns what was booked, for the payment's note."""
    if p.kind == PaymentKind.COLLECTION:
        # The payer's money is at the vendor all the same: in clearing, and owed back until refunded.
        await post_journal(uow, call, suspense_journal(loan, str(p.id), p.amount_minor, why))
        return "; held in suspense until refunded"
    # A payout no loan took left the vendor's account: its recipient owes it back until recovered.
    await post_journal(uow, call, payout_recovery_journal(loan, str(p.id), p.amount_minor, why))
    return "; booked for recovery (payout_recovery) until the money is back"


async def settle(
    deps: PaymentDeps,
    uow: InboxUnitOfWork,
    call: Invocation,
    payment_id: UUID,
    target: PaymentStatus,
    why: str,
    *,
    amount_minor: int | None = None,
    currency: str | None = None,
    vendor: str | None = None,
    transfer_code: str | None = None,
    inbox: tuple[str, str] | None = None,
    report: Report | None = None,
) -> Outcome:
    """Move the payment to ``target`` when that is forward, with its effect: a succeeded disbursement
    activates the loan (ledger, commission), a succeeded collection is allocated as a repayment. A
    reported amount or currency other than the payment's is refused (rejected, for an operator).
    ``NoSuchPayment`` when there is no such payment. ``inbox``: the (source, event id) of the inbound
    event that told us, whose row the final move concludes in its own statement. ``report``: a
    webhook's, checked against the payment (``_misreported``)."""
    loan = await uow.loans.lock_by_payment(payment_id)  # the loan first, found by the payment
    if loan is None:
        raise NoSuchPayment(f"payment {payment_id} does not exist")
    p = await uow.payments.lock(payment_id)
    assert p is not None  # a payment is never deleted
    move = advance(PaymentStatus(p.status), target)
    if not move.apply:
        # Only a reversal: a failure after a success is an earlier attempt's news arriving late (a payer's
        # card refused before it paid), but a payout reversed after it succeeded came back.
        undone = target is PaymentStatus.REVERSED and p.status == PaymentStatus.SUCCEEDED
        if report is not None and undone and _wrong_route(p, report) is None:
            return Outcome("rejected", f"{why}: {_undone_after_success(p, target)}", p)
        return Outcome("ignored", f"{why}: {move.reason}", p)
    if report is not None and (wrong := await _misreported(uow, p, target, report)):
        return Outcome(wrong[0], f"{why}: {wrong[1]}", p)
    if target is PaymentStatus.SUCCEEDED and (
        wrong_sum := _wrong_sum(p, amount_minor, currency, unsaid_refused=report is not None)
    ):
        await uow.payments.note_error(p.id, f"{why}: {wrong_sum}")
        return Outcome("rejected", f"{why}: {wrong_sum}", p)
    outcome: Literal["applied", "rejected"] = "applied"
    detail = f"{why}: {move.reason}"
    if target is PaymentStatus.SENT:
        moved = await uow.payments.mark_sent(
            p.id, vendor or p.vendor or "unknown", transfer_code=transfer_code
        )
        await uow.record(
            AuditRecord(call, "payment", str(p.id)),
            [payment_event(moved, loan, target.value, detail, deps.clock.now())],
        )
        return Outcome(outcome, detail, moved)
    error: str | None = why
    if target is PaymentStatus.SUCCEEDED:
        duplicate = await _duplicate_payout(uow, p)
        if duplicate:
            applied, said = False, duplicate + await _book_unapplied(uow, call, p, loan, duplicate)
        else:
            applied, said = await _applied(deps, uow, call, p, loan, report)
        outcome = "applied" if applied else "rejected"
        detail += f"; {said}"
        error = None if applied else detail
    # The final status, its audit row and its event in one statement; the event is the moved
    # payment's, whose status is the only field it names that the move changes.
    event = payment_event(replace(p, status=target.value), loan, target.value, detail, deps.clock.now())
    concludes = None if inbox is None else InboxOutcome(*inbox, outcome, detail)
    moved = await uow.payments.settle(p.id, target.value, error, call, event, concludes)
    if target in UNDONE and p.kind == PaymentKind.DISBURSEMENT:
        detail += await _apply_booked_payout(deps, uow, call, loan)
    return Outcome(outcome, detail, moved, concluded=concludes is not None)


def _wrong_sum(
    p: PaymentRecord, amount: int | None, currency: str | None, *, unsaid_refused: bool
) -> str | None:
    """Why a reported success's money is not the payment's (another amount or currency, or none said
    where it must be), or None."""
    unsaid = unsaid_refused and (amount is None or currency is None)
    if not unsaid and (amount is None or amount == p.amount_minor) and (currency in (None, p.currency)):
        return None
    said = "no amount and currency" if unsaid else f"{amount} {currency} (minor units)"
    return (
        f"the gateway reported {said} for a payment of {p.amount_minor} {p.currency}; left {p.status} for "
        "an operator (verify_payment asks the vendor what moved)"
    )


def _wrong_route(p: PaymentRecord, report: Report) -> str | None:
    """Why a webhook does not speak of this payment at all: a reference naming the other kind, or a
    route its vendor does not report through."""
    if report.kind.value != p.kind:
        return f"the reference names a {report.kind.value}, but payment {p.id} is a {p.kind}"
    if p.vendor is not None and (p.vendor == "stripe") != (report.source == "stripe"):
        return f"payment {p.id} went through {p.vendor}, which does not report through {report.source}"
    return None


def _undone_after_success(p: PaymentRecord, target: PaymentStatus) -> str:
    """Why a reversal reported of a succeeded payout waits for a person: it never moves the payment
    back (the loan took the money), but ignoring it lost the news that the money came back."""
    return (
        f"payment {p.id} succeeded before, so it stays succeeded, but the vendor now reports it "
        f"{target.value}: the payout may have come back to the platform while the loan counts it as paid "
        "out. Left for an operator (platform_health names it; verify_payment asks the vendor what moved)"
    )


async def _misreported(
    uow: InboxUnitOfWork, p: PaymentRecord, target: PaymentStatus, report: Report
) -> tuple[Literal["ignored", "rejected"], str] | None:
    """Why a webhook's report does not move the payment, or None: a reference naming the other kind,
    a route its vendor does not report through, or a failure after a success that was rejected."""
    if wrong := _wrong_route(p, report):
        return "ignored", wrong
    if target in UNDONE and await uow.payments.success_disputed(p.id):
        return "rejected", (
            f"a success of payment {p.id} was reported before (rejected: another amount or currency, or "
            f"none), so money may have moved; left {p.status} for an operator (verify_payment asks the "
            "vendor)"
        )
    return None


async def _apply_booked_payout(
    deps: PaymentDeps, uow: InboxUnitOfWork, call: Invocation, loan: LoanRecord
) -> str:
    """When the payout a loan waited for failed, an earlier one the vendor paid after all (booked for
    recovery while this one was in flight) is the loan's one payout: its booking is reversed and it is
    applied, in the same transaction. Without this the loan waited for good: that payout holds it from
    a new payout and from cancellation, and nothing applied it."""
    booked = await uow.payments.booked_payout(loan.id)
    if booked is None:
        return ""
    paid, journal_id = booked
    try:
        async with uow.payments.savepoint():
            effect = await _effect(deps, uow, call, paid, loan)
            journal = await uow.ledger.journal(journal_id)
            assert journal is not None  # found through it, in this transaction
            why = f"payout {paid.id} applied to loan {loan.id}: the payout requested after it failed"
            await _reverse_loss(uow, call, journal_id, why)
            await post_journal(uow, call, reversal_of(journal, why))
            applied = await uow.payments.mark_applied(paid.id)
            note = f"{why}, so it is the loan's one payout ({effect})"
            event = payment_event(applied, loan, "succeeded", note, deps.clock.now())
            await uow.record(AuditRecord(call, "payment", str(paid.id)), [event])
    except JournalAlreadyPosted:  # an admin reversed the booking first: that money came back
        return (
            f"; earlier payout {paid.id} was recovered meanwhile (its booking reversed), so it is not applied"
        )
    except DomainError as exc:  # the loan took no payout: the booking stays for a person
        return f"; earlier payout {paid.id} stays booked for recovery ({exc.code}: {exc.message})"
    return f"; {note}"


async def _reverse_loss(uow: InboxUnitOfWork, call: Invocation, booking_id: UUID, why: str) -> None:
    """A booking written off as lost (tools.payments.payout_losses) whose payout becomes the loan's is
    no loss: the loan owes that money now. Its write-off is reversed first, under the booking's hold."""
    await uow.ledger.hold_journal(booking_id)
    loss = await uow.ledger.journal_of(JournalKind.PAYOUT_LOSS, str(booking_id))
    if loss is not None and loss.reversed_by is None:
        await post_journal(uow, call, reversal_of(loss, why))
