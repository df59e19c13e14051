"""Servicing a disbursed loan: repayments (allocated, journaled and settled to the lender) and early
settlement quotes. The allocation and settlement rules are in ``tools.loans.domain`` (repayments, loans);
this module applies them to the stored loan in one transaction each. Aging is ``tools.loans.aging``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from uuid import UUID, uuid4

from tools.ledger.ledger import post_journal
from tools.loans.domain.aging import age
from tools.loans.domain.commission_plan import CommissionPlan
from tools.loans.domain.commissions import repayment_commission, terms_from_plan
from tools.loans.domain.journals import repayment_journal, settlement_journal
from tools.loans.domain.late_fees import without_late_fees
from tools.loans.domain.loans import (
    SERVICING,
    InstallmentRecord,
    LoanChanges,
    LoanRecord,
    LoanStatus,
    RepaymentRecord,
    apply_allocation,
    arrears_cured,
    loan_terms,
    open_outstanding,
)
from tools.loans.domain.payoffs import payoff_accrued, settlement_quote
from tools.loans.domain.repayments import Allocation, Prepay, allocate_payment
from tools.loans.late_fee_waivers import unearned_fees, waive_unearned_late_fees
from tools.loans.loans import can_view_loan, loan_not_found, move_loan
from tools.loans.models.loans import (
    RepaymentView,
    SettlementQuoteView,
)
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.loans.views import quote_view, repayment_view
from tools.platform.domain.money import MoneyError, to_minor
from tools.platform.errors import Conflict, InvalidArgument, NotFound
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation, OutboxEvent
from tools.platform.principal import Principal

__all__ = [
    "PAID_AT_TOLERANCE",
    "allocate",
    "minor_amount",
    "not_servicing",
    "quote_early_settlement",
    "record_repayment",
    "repayment_in",
]

# A payment time may run this far ahead of the server's clock (the gateway's clock may be fast).
PAID_AT_TOLERANCE = timedelta(minutes=5)


def minor_amount(amount: Decimal, currency: str) -> int:
    try:
        return to_minor(amount, currency)
    except MoneyError as exc:
        raise InvalidArgument(f"amount: {exc}") from None


def not_servicing(loan: LoanRecord, what: str) -> Conflict:
    why = {
        LoanStatus.PENDING_DISBURSEMENT: "its disbursement is not confirmed yet",
        LoanStatus.CLOSED: "it is paid off",
        LoanStatus.WRITTEN_OFF: "it was written off",
        LoanStatus.CANCELLED: "it was cancelled before its disbursement",
    }.get(LoanStatus(loan.status), f"it is {loan.status}")
    return Conflict(f"loan {loan.id} is {loan.status}: {what} is not possible because {why}")


async def _replay(deps: LoanDeps, repayment_id: UUID) -> RepaymentView:
    earlier = await deps.reader.repayment(repayment_id)
    loan = None if earlier is None else await deps.reader.get(str(earlier.loan_id))
    if earlier is None or loan is None:  # pragma: no cover - the key row points at a committed repayment
        raise NotFound("the repayment recorded for this idempotency_key no longer exists")
    return repayment_view(earlier, loan.currency, replayed=True)


def _lines(allocation: Allocation) -> list[dict[str, object]]:
    return [
        {
            "component": line.component.value,
            "installment": line.installment,
            "amount_minor": line.amount,
            "explanation": line.explanation,
            **({"ahead": True} if line.ahead else {}),  # absent from repayments recorded before it
        }
        for line in allocation.lines
    ]


def _next_status(loan: LoanRecord, allocation: Allocation, days_past_due: int) -> LoanStatus | None:
    if allocation.paid_off:
        return LoanStatus.CLOSED
    if arrears_cured(loan.status, days_past_due):
        return LoanStatus.ACTIVE
    return None


def _commission(loan: LoanRecord, interest: int) -> int:
    if loan.commission_plan is None or not interest:
        return 0
    terms = terms_from_plan(CommissionPlan.model_validate(loan.commission_plan), loan.currency)
    return repayment_commission(terms, interest, loan.currency, already_earned=loan.commission_minor)


async def _apply(
    deps: LoanDeps,
    uow: LoanUnitOfWork,
    call: Invocation,
    loan: LoanRecord,
    minor: int,
    paid_at: datetime,
    reference: str,
    prepay: Prepay | None,
) -> RepaymentRecord:
    paid_on = paid_at.astimezone(UTC).date()
    installments = await waive_unearned_late_fees(
        deps,
        uow,
        call,
        loan,
        await uow.loans.installments(loan.id),
        paid_on,
        reference,
        lambda lines: allocate(loan, lines, minor, paid_on, prepay),
    )
    allocation = allocate(loan, installments, minor, paid_on, prepay)
    interest = allocation.to_interest + allocation.to_accrued_interest
    share = _commission(loan, interest)
    repayment_id = uuid4()
    journal_id = await _post_repayment(uow, call, loan, repayment_id, minor, allocation, interest, share)
    await uow.loans.save_installments(loan.id, apply_allocation(installments, allocation, paid_at))
    # Aged as of today, not the payment's date: a payment recorded late must not cure arrears that are
    # overdue now (it was dated before they fell due).
    aged_on = max(paid_on, deps.clock.today())
    after = await _update_loan(deps, uow, call, loan, allocation, share, aged_on, reference)
    return RepaymentRecord(
        id=repayment_id,
        loan_id=loan.id,
        reference=reference,
        amount_minor=minor,
        paid_at=paid_at,
        to_fees_minor=allocation.to_fees,
        to_interest_minor=allocation.to_interest,
        to_principal_minor=allocation.to_principal,
        to_accrued_interest_minor=allocation.to_accrued_interest,
        prepaid_principal_minor=allocation.prepaid_principal,
        credit_minor=allocation.credit,
        commission_minor=share,
        outstanding_after_minor=sum(o.total for o in allocation.remaining),
        overdue_after_minor=sum(o.total for o in allocation.remaining if o.due_date <= aged_on),
        lines=_lines(allocation),
        status_after=after.status,
        journal_id=journal_id,
        recorded_by=call.principal.subject,
        recorded_at=deps.clock.now(),
        prepay=None if prepay is None else prepay.value,
        paid_ahead_minor=allocation.paid_ahead,
    )


def allocate(
    loan: LoanRecord,
    installments: Sequence[InstallmentRecord],
    minor: int,
    paid_on: date,
    prepay: Prepay | None = None,
) -> Allocation:
    """The allocation of ``minor`` paid on ``paid_on`` (record_repayment, and the prepayment quote)."""
    try:
        return allocate_payment(
            minor,
            open_outstanding(installments),
            paid_on,
            loan.currency,
            accrued_interest=payoff_accrued(loan, installments, paid_on),
            prepay=prepay,
            terms=loan_terms(loan),
        )
    except ValueError as exc:
        raise InvalidArgument(f"this payment cannot be allocated: {exc}") from None


async def _post_repayment(
    uow: LoanUnitOfWork,
    call: Invocation,
    loan: LoanRecord,
    repayment_id: UUID,
    minor: int,
    allocation: Allocation,
    interest: int,
    share: int,
) -> UUID:
    """Posts the repayment journal, then settles the lender's part; returns the repayment journal's id."""
    draft = repayment_journal(
        loan,
        str(repayment_id),
        amount=minor,
        fees=allocation.to_fees,
        interest=interest,
        principal=allocation.to_principal + allocation.prepaid_principal,
        credit_to_borrower=allocation.credit,
        commission=share,
    )
    journal_id = await post_journal(uow, call, draft)
    settled = minor - allocation.credit - share
    if settled:
        # The lender's money comes back as it is paid, so the provider row matching reads and the
        # ledger both say it can lend it again.
        await post_journal(uow, call, settlement_journal(loan, str(repayment_id), settled))
        await uow.providers.add_capital(loan.provider_id, settled)
    return journal_id


async def _update_loan(
    deps: LoanDeps,
    uow: LoanUnitOfWork,
    call: Invocation,
    loan: LoanRecord,
    allocation: Allocation,
    share: int,
    aged_on: date,
    reference: str,
) -> LoanRecord:
    """The loan after the repayment: re-aged, with its credit and commission, and moved on when the
    payment closes it or clears its arrears."""
    aging = age(allocation.remaining, aged_on, threshold=deps.policy.default_threshold_days)
    changes = LoanChanges(
        credit_minor=loan.credit_minor + allocation.credit,
        commission_minor=loan.commission_minor + share,
        days_past_due=aging.days_past_due,
        aging_bucket=aging.bucket.value,
    )
    target = _next_status(loan, allocation, aging.days_past_due)
    if target is LoanStatus.CLOSED:
        reason = f"paid off by repayment {reference}"
    else:
        reason = f"arrears paid by repayment {reference}: nothing is past due"
        reason += "; the default is cured" if loan.status == LoanStatus.DEFAULTED else ""
    if target is not None:
        return await move_loan(uow, call, loan, target, reason, changes)
    return await uow.loans.update(loan.id, changes)


def _repayment_event(r: RepaymentRecord, loan: LoanRecord) -> OutboxEvent:
    return OutboxEvent(
        aggregate_type="loan",
        aggregate_id=str(loan.id),
        event_type="loan.repayment_recorded",
        payload={
            "loan_id": str(loan.id),
            # Whose loan: routes the event to the borrower's mirror and notifications.
            "application_id": str(loan.application_id),
            "borrower_id": loan.borrower_id,
            # And the lender's webhooks: it is told of every repayment on its loan.
            "provider_id": str(loan.provider_id),
            "repayment_id": str(r.id),
            "reference": r.reference,
            "currency": loan.currency,
            "amount_minor": r.amount_minor,
            "to_fees_minor": r.to_fees_minor,
            "to_interest_minor": r.to_interest_minor + r.to_accrued_interest_minor,
            "to_principal_minor": r.to_principal_minor + r.prepaid_principal_minor,
            "credit_minor": r.credit_minor,
            # What paid installments not yet due, and the borrower's prepayment choice (None: none): a
            # lender's books follow a schedule that reduce_term or reduce_installment changed.
            "paid_ahead_minor": r.paid_ahead_minor,
            "prepay": r.prepay,
            "status_after": r.status_after,
            "paid_at": r.paid_at.isoformat(),
        },
    )


async def record_repayment(
    deps: LoanDeps,
    call: Invocation,
    handle: str,
    amount: Decimal,
    paid_at: datetime,
    reference: str,
    idempotency_key: str | None = None,
    prepay: Prepay | None = None,
) -> RepaymentView:
    """Allocate a payment received for a loan (fees, then interest, then principal, oldest installment
    first; any excess prepays principal, then is a credit), post its repayment journal with the
    platform's interest share, and close the loan when it is paid off. The same ``reference`` (or
    ``idempotency_key``) with the same arguments returns the first result; with others it is a conflict."""
    if paid_at.tzinfo is None:
        raise InvalidArgument("paid_at needs a UTC offset (ISO 8601, e.g. 2026-03-01T10:00:00Z)")
    if paid_at > deps.clock.now() + PAID_AT_TOLERANCE:
        raise InvalidArgument("paid_at is in the future; record a payment once it was received")
    async with deps.uow() as uow:
        claim, loan = None, None
        if idempotency_key is not None:
            loan = await uow.loans.lock(handle)
            if loan is None or not can_view_loan(call.principal, loan):
                raise loan_not_found(handle)
            # The payment however it is written: the loan by id (not its application's id or reference),
            # the amount in minor units ("100" is "100.00"), the instant in UTC.
            when = paid_at.astimezone(UTC).isoformat()
            parts = [str(loan.id), minor_amount(amount, loan.currency), when, reference]
            digest = request_sha256(parts if prepay is None else [*parts, prepay.value])
            claim = IdempotencyClaim(call.principal.subject, "record_repayment", idempotency_key, digest)
            earlier = await claim_or_replay(uow, claim)
            if earlier is not None:
                return await _replay(deps, UUID(earlier))
        stored, currency, replayed = await repayment_in(
            deps, uow, call, handle, amount, paid_at, reference, prepay, locked=loan
        )
        if claim is not None:
            await uow.complete_idempotency_key(claim, str(stored.id))
    return repayment_view(stored, currency, replayed=replayed)


async def repayment_in(
    deps: LoanDeps,
    uow: LoanUnitOfWork,
    call: Invocation,
    handle: str,
    amount: Decimal,
    paid_at: datetime,
    reference: str,
    prepay: Prepay | None = None,
    *,
    locked: LoanRecord | None = None,
    gateway: bool = False,
) -> tuple[RepaymentRecord, str, bool]:
    """``record_repayment`` in the caller's transaction (the payment webhook's, beside its inbox row):
    the repayment, the loan's currency, and whether ``reference`` had recorded it before. ``locked``:
    the loan, which the caller locked in this transaction already. ``gateway``: the gateway reports the
    payment its reference names, whose time it does not know (``paid_at`` is when it was told): a
    repayment recorded under that reference for the same amount is that payment, whoever recorded it
    first (an operator's record_repayment, with the time and prepay choice they gave)."""
    loan = locked if locked is not None else await uow.loans.lock(handle)
    if loan is None or not can_view_loan(call.principal, loan):
        raise loan_not_found(handle)
    minor = minor_amount(amount, loan.currency)
    prior = await uow.loans.repayment_by_reference(loan.id, reference)
    if prior is not None:
        same = prior.amount_minor == minor and (gateway or (prior.paid_at, prior.prepay) == (paid_at, prepay))
        if not same:
            raise Conflict(
                f"payment reference {reference} was recorded for this loan with another amount, time or "
                "prepay choice; a reference records one payment"
            )
        return prior, loan.currency, True
    if LoanStatus(loan.status) not in SERVICING:
        raise not_servicing(loan, "a repayment")
    if loan.disbursed_on is not None and paid_at.astimezone(UTC).date() < loan.disbursed_on:
        raise InvalidArgument(f"paid_at is before the loan was disbursed on {loan.disbursed_on}")
    record = await _apply(deps, uow, call, loan, minor, paid_at, reference, prepay)
    stored = await uow.loans.insert_repayment(record)
    await uow.record(AuditRecord(call, "loan_repayment", str(stored.id)), [_repayment_event(stored, loan)])
    return stored, loan.currency, False


async def quote_early_settlement(
    deps: LoanDeps, principal: Principal, handle: str, as_of: date | None = None, valid_days: int = 0
) -> SettlementQuoteView:
    loan = await deps.reader.get(handle)
    if loan is None or not can_view_loan(principal, loan):
        raise loan_not_found(handle)
    if LoanStatus(loan.status) not in SERVICING:
        raise not_servicing(loan, "an early settlement")
    day, installments = as_of or deps.clock.today(), await deps.reader.installments(loan.id)
    try:
        # Without a late fee a payoff on any day of the window proves unearned: the quote is what
        # recording that payoff does (its last day is the latest, so the strictest, such day).
        last = day + timedelta(days=valid_days)
        history = partial(deps.reader.repayments, loan.id)
        installments = without_late_fees(
            installments, await unearned_fees(deps, loan, installments, last, history, None)
        )
        quote = settlement_quote(loan, installments, day, valid_days, deps.policy.late_fees(loan.currency))
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    return quote_view(loan, quote)
