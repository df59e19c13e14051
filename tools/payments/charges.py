"""Collect a repayment (``collect_repayment``): a charge initialized at the payment gateway while the
caller waits, as the payer needs its authorization URL now, without a pooled connection waiting on a
vendor (up to ``CAAS_GATEWAY_TIMEOUT_SECONDS`` per vendor tried).

1. A short transaction claims the idempotency key and records the payment ``requested``, with its audit
   row and ``payment.requested`` event; the key's outcome is this payment.
2. Outside any transaction, the charge is initialized at the first vendor of the route that answers.
3. One statement records ``sent`` with the payer's URL, its audit row and event (only while the payment
   is still ``requested``); or a transaction records ``failed`` with the key freed, so the same key may
   be tried again (nothing was charged).

A duplicate arriving during step 2 finds the key's payment still ``requested`` and is told to call
again in a few seconds (where Stripe answers 409 too); afterwards it replays the charge. Steps 2 and 3
are shielded from the caller's cancellation, so a client that hangs up still gets its answer recorded.
A process that stops between steps 1 and 3 leaves the payment ``requested``: ``expire_stalled_charges``
(the worker, every minute) fails it once ``CHARGE_STALLED_AFTER`` has passed. That is safe whenever it
happens: nobody was given the charge's URL (step 3 hands it out only while the payment is still
``requested``), so no money can move under it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import anyio

from tools.loans.domain.loans import SERVICING, LoanRecord, LoanStatus
from tools.loans.domain.payoffs import settlement_quote
from tools.loans.domain.prepay_choices import Prepay
from tools.loans.servicing import allocate
from tools.payments.core import payment_event, settle
from tools.payments.domain.payments import PaymentKind, PaymentRecord, PaymentStatus
from tools.payments.models import PaymentView
from tools.payments.payments import _check_route, _check_simulate, _stored, _visible_loan, metadata
from tools.payments.ports import (
    GatewayCharge,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    NewPayment,
    PaymentDeps,
    PaymentUnitOfWork,
)
from tools.payments.views import payment_view
from tools.platform.domain.money import MoneyError, from_minor, to_minor
from tools.platform.errors import Conflict, DomainError, InvalidArgument, Unavailable
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation

__all__ = ["CHARGE_STALLED_AFTER", "collect_repayment", "expire_stalled_charges"]

# Far beyond the longest a charge's steps 2 and 3 take (every vendor of a route at its timeout), so the
# sweeper fails only charges whose process stopped; failing a live one is safe too (see the module).
CHARGE_STALLED_AFTER = timedelta(minutes=5)
_SWEEP_BATCH = 100


async def collect_repayment(
    deps: PaymentDeps,
    call: Invocation,
    handle: str,
    amount: Decimal,
    idempotency_key: str,
    simulate: str | None = None,
    prepay: Prepay | None = None,
) -> PaymentView:
    """Initialize a charge for a repayment of ``amount`` on a loan being repaid; the payer completes it
    at the returned authorization URL and the gateway's webhook allocates it (with the borrower's
    ``prepay`` choice for money beyond what is due)."""
    _check_simulate(deps, simulate)
    loan = await _visible_loan(deps, call.principal, handle)
    try:
        minor = to_minor(amount, loan.currency)
    except MoneyError as exc:
        raise InvalidArgument(f"amount: {exc}") from None
    if minor <= 0:
        raise InvalidArgument("amount must be more than zero")
    app = await deps.applications.get(str(loan.application_id))  # before the transaction
    assert app is not None
    claim = IdempotencyClaim(
        call.principal.subject,
        "collect_repayment",
        idempotency_key,
        request_sha256(
            {"loan_id": str(loan.id), "amount_minor": minor, "simulate": simulate}
            | ({} if prepay is None else {"prepay": prepay.value})
        ),
    )
    async with deps.uow() as uow:
        earlier = await claim_or_replay(uow, claim)
        if earlier is None:
            if LoanStatus(loan.status) not in SERVICING:
                raise Conflict(
                    f"loan {loan.id} is {loan.status}; repayments are collected on a loan being repaid"
                )
            _check_route(deps, loan.currency)
            await _within_what_is_owed(deps, uow, loan, minor, prepay)
            p = await uow.payments.insert(
                NewPayment(
                    kind=PaymentKind.COLLECTION.value,
                    loan_id=loan.id,
                    amount_minor=minor,
                    currency=loan.currency,
                    simulated=deps.gateway.simulated,
                    simulate_outcome=simulate,
                    requested_by=call.principal.subject,
                    prepay=None if prepay is None else prepay.value,
                )
            )
            await uow.record(
                AuditRecord(call, "payment", str(p.id)),
                [payment_event(p, loan, "requested", _reason(p, "requested"), deps.clock.now())],
                completes=claim,  # the key's outcome: this payment
            )
    if earlier is not None:
        return await _replayed(deps, UUID(earlier))
    with anyio.CancelScope(shield=True):
        view = await _charge(deps, call, claim, loan, p, app.applicant_email)
    return view


async def _within_what_is_owed(
    deps: PaymentDeps, uow: PaymentUnitOfWork, loan: LoanRecord, minor: int, prepay: Prepay | None
) -> None:
    # A charge for more than settles the loan today takes money the loan cannot apply: once it is paid
    # off, the rest is refused by the loan and waits for a refund (a probe charged 99,999,999,999,999.99
    # on a loan of 250,000.00). In the transaction, so a replayed key is not judged by today's balance.
    installments = await uow.loans.installments(loan.id)
    if prepay is not None:  # a choice the allocation would refuse: the payer's money held in suspense
        allocate(loan, installments, minor, deps.clock.today(), prepay)
    owed = settlement_quote(loan, installments, deps.clock.today()).total
    if minor > owed:
        shown = f"{from_minor(owed, loan.currency)} {loan.currency}"
        raise InvalidArgument(
            f"amount is more than the {shown} that settles loan {loan.id} today; collect at most that "
            "(quote_early_settlement shows how it is made up)"
        )


def _reason(p: PaymentRecord, what: str) -> str:
    return f"repayment of {from_minor(p.amount_minor, p.currency)} {p.currency} on {p.loan_id} {what}"


async def _replayed(deps: PaymentDeps, payment_id: UUID) -> PaymentView:
    view = await _stored(deps, payment_id, replayed=True)
    if view.kind == PaymentKind.COLLECTION and view.status == PaymentStatus.REQUESTED:
        raise Conflict(
            f"the charge of payment {payment_id}, made under this idempotency_key, is still being "
            "initialized at the gateway; call again with the same arguments in a few seconds to get its "
            "authorization_url"
        )
    return view


async def _charge(
    deps: PaymentDeps,
    call: Invocation,
    claim: IdempotencyClaim,
    loan: LoanRecord,
    p: PaymentRecord,
    email: str,
) -> PaymentView:
    """Steps 2 and 3: the charge at the gateway, then its answer recorded."""
    try:
        charge, vendor = await _initialize(deps, p, email)
    except DomainError as exc:
        async with deps.uow() as uow:  # the key first: tools.platform.locking's order
            await uow.release_idempotency_key(claim, str(p.id))
            await settle(deps, uow, call, p.id, PaymentStatus.FAILED, exc.message)
        raise
    # The event is the sent payment's, whose fields it names are all known before the statement.
    event = payment_event(
        replace(p, status=PaymentStatus.SENT.value, vendor=vendor),
        loan,
        "initialized",
        _reason(p, "initialized"),
        deps.clock.now(),
    )
    async with deps.uow(single_statement=True) as uow:
        sent = await uow.payments.mark_charge_sent(
            p.id,
            vendor,
            authorization_url=charge.authorization_url,
            access_code=charge.access_code,
            call=call,
            event=event,
        )
    if sent is None:
        raise Unavailable(
            f"the gateway took longer than {CHARGE_STALLED_AFTER} to open the charge of payment {p.id}, "
            "which was failed meanwhile; nothing can be paid under it: collect again with a new "
            "idempotency_key"
        )
    return payment_view(sent)


async def _initialize(deps: PaymentDeps, p: PaymentRecord, email: str) -> tuple[GatewayCharge, str]:
    """The charge at the first vendor that answers. Unlike a transfer, an unanswered charge may be
    tried elsewhere: it moves no money until a payer completes it, and nobody gets its URL."""
    tried = []
    for vendor in deps.router.candidates(p.currency):
        tried.append(vendor)
        try:
            charge = await deps.gateway.initialize(
                vendor=vendor,
                reference=p.reference,
                amount_minor=p.amount_minor,
                currency=p.currency,
                email=email,
                metadata=metadata(p),
            )
        except (GatewayTimeout, GatewayUnavailable):
            deps.router.record_failure(vendor)
            continue
        except GatewayRejected as exc:
            deps.router.record_success(vendor)  # it answered: healthy, only this request was refused
            raise Conflict(
                f"the gateway refused the charge at {vendor} ({exc.code}); nothing was charged, and the "
                "idempotency_key is free to use again"
            ) from None
        deps.router.record_success(vendor)
        return charge, vendor
    which = ", ".join(tried) or "every one is paused after failures"
    raise Unavailable(
        f"no payment vendor for {p.currency} answered ({which}); nothing was charged, retry in a minute "
        "(the same idempotency_key may be used)"
    )


async def expire_stalled_charges(deps: PaymentDeps, call: Invocation) -> int:
    """Fail the collections whose charge was never recorded as initialized within
    ``CHARGE_STALLED_AFTER`` (their process stopped between the steps); how many were failed. Their key
    keeps them: a retry under it replays the failed payment, which says why."""
    stalled = await deps.reader.stalled_charges(CHARGE_STALLED_AFTER, _SWEEP_BATCH)
    failed = 0
    for p in stalled:
        async with deps.uow() as uow:
            outcome = await settle(
                deps,
                uow,
                call,
                p.id,
                PaymentStatus.FAILED,
                f"its charge was not initialized within {CHARGE_STALLED_AFTER} (the process handling it "
                "stopped); nobody was given its authorization URL, so nothing was paid",
            )
        failed += outcome.outcome == "applied"
    return failed
