"""Use cases of payments: pay a loan out (``disburse_loan``), collect a repayment (``collect_repayment``),
read them, and ask the gateway where one stands (``verify_payment``).

A disbursement is recorded here with its outbox event in one transaction; the ``payments`` worker
(``tools.payments.transfers``) sends it. A collection is initialized at the gateway during the call, as
the payer needs its authorization URL now. Both take an idempotency key that behaves as Stripe's: the
same key with the same arguments returns the first result (``replayed``), with other arguments it is a
conflict, and a concurrent duplicate waits for the first to finish (the key's row lock) and then
replays it, so the work never runs twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord
from tools.loans.domain.loans import LoanRecord, LoanStatus
from tools.loans.loans import can_view_loan, loan_not_found, provider_of
from tools.payments.core import payment_event, settle
from tools.payments.domain.payments import PaymentKind, PaymentRecord, PaymentStatus, verified_status
from tools.payments.domain.routing import NoRoute
from tools.payments.models import PaymentPage, PaymentView, Verification
from tools.payments.ports import (
    GatewayNotFound,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    InboxUnitOfWork,
    NewPayment,
    PaymentDeps,
    PaymentQuery,
)
from tools.payments.views import booked_view, payment_view
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.errors import Conflict, InvalidArgument, NotFound, Unavailable
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.models import Money
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation
from tools.platform.principal import Principal, Role

__all__ = [
    "PaymentDeps",
    "disburse_loan",
    "get_payment",
    "list_payments",
    "metadata",
    "payment_not_found",
    "verify_payment",
]


def payment_not_found(payment_id: UUID) -> NotFound:
    # Someone else's payment is reported exactly like a missing one.
    return NotFound(f"no payment {payment_id} that you can see; list_payments shows yours")


def _check_simulate(deps: PaymentDeps, simulate: str | None) -> None:
    if simulate is not None and not deps.gateway.simulated:
        raise InvalidArgument("simulate works only with the sandbox gateway; leave it out for real payments")


def _check_route(deps: PaymentDeps, currency: str) -> None:
    try:
        deps.router.vendors(currency)
    except NoRoute as exc:
        raise Unavailable(str(exc)) from None


def metadata(p: PaymentRecord) -> dict[str, str]:
    """What the gateway is told beside the money: our ids, never personal data."""
    data = {"payment_id": str(p.id), "loan_id": str(p.loan_id), "kind": p.kind}
    if p.simulate_outcome is not None:
        data["simulate"] = p.simulate_outcome
    return data


async def _visible_loan(deps: PaymentDeps, principal: Principal, handle: str) -> LoanRecord:
    loan = await deps.loans.reader.get(handle)
    if loan is None or not can_view_loan(principal, loan):
        raise loan_not_found(handle)
    return loan


async def _stored(deps: PaymentDeps, payment_id: UUID, *, replayed: bool) -> PaymentView:
    p = await deps.reader.get(payment_id)
    if p is None:  # pragma: no cover - the key points at a committed payment
        raise NotFound("the payment recorded for this idempotency_key no longer exists")
    return payment_view(p, replayed=replayed)


async def disburse_loan(
    deps: PaymentDeps, call: Invocation, handle: str, idempotency_key: str, simulate: str | None = None
) -> PaymentView:
    """Record the payout of a loan's net disbursement and its ``payment.requested`` event; the
    payments worker sends it to the gateway."""
    _check_simulate(deps, simulate)
    seen = await _visible_loan(deps, call.principal, handle)
    # Read before the transaction: a use case never waits for a second pooled connection while it
    # holds one (concurrent duplicates hold theirs while they wait on the key).
    app = await deps.applications.get(str(seen.application_id))
    claim = IdempotencyClaim(
        call.principal.subject,
        "disburse_loan",
        idempotency_key,
        request_sha256({"loan_id": str(seen.id), "simulate": simulate}),
    )
    async with deps.uow() as uow:
        earlier = await claim_or_replay(uow, claim)
        if earlier is None:
            payment = await _request_disbursement(deps, uow, call, seen.id, app, simulate, claim)
    if earlier is not None:  # replayed after the transaction, not holding its connection
        return await _stored(deps, UUID(earlier), replayed=True)
    return payment_view(payment)


async def _request_disbursement(
    deps: PaymentDeps,
    uow: InboxUnitOfWork,
    call: Invocation,
    loan_id: UUID,
    app: ApplicationRecord | None,
    simulate: str | None,
    claim: IdempotencyClaim,
    reason: str | None = None,
) -> PaymentRecord:
    """The payout's row, audit row and event; ``claim`` records the payment as the key's outcome in
    the audit row's statement."""
    loan = await uow.loans.lock(str(loan_id))
    assert loan is not None
    if loan.status != LoanStatus.PENDING_DISBURSEMENT:
        why = (
            "it was cancelled before any payout"
            if loan.status == LoanStatus.CANCELLED
            else f"it was paid out under gateway reference {loan.disbursement_reference}"
        )
        raise Conflict(f"loan {loan.id} is {loan.status}; only a loan pending_disbursement is paid ({why})")
    active = await uow.payments.active_disbursement(loan.id)
    if active is not None:
        raise Conflict(
            f"loan {loan.id} already has disbursement {active.id} ({active.status}); get_payment shows it. "
            "A new one can be requested only once that one failed"
        )
    _check_route(deps, loan.currency)
    if app is None or app.bank_account_encrypted is None:
        raise Conflict(
            f"{loan.application_reference} has no bank account to pay into, and none can be added once an "
            "application is submitted: cancel the loan (cancel_loan), and the borrower applies again with "
            "their bank account"
        )
    payment = await uow.payments.insert(
        NewPayment(
            kind=PaymentKind.DISBURSEMENT.value,
            loan_id=loan.id,
            amount_minor=loan.amount_financed_minor,
            currency=loan.currency,
            simulated=deps.gateway.simulated,
            simulate_outcome=simulate,
            requested_by=call.principal.subject,
        )
    )
    reason = reason or f"disbursement of loan {loan.id} requested"
    await uow.record(
        AuditRecord(call, "payment", str(payment.id)),
        [payment_event(payment, loan, "requested", reason, deps.clock.now())],
        completes=claim,
    )
    return payment


async def get_payment(deps: PaymentDeps, principal: Principal, payment_id: UUID) -> PaymentView:
    p = await deps.reader.get(payment_id)
    loan = None if p is None else await deps.loans.reader.get(str(p.loan_id))
    if p is None or loan is None or not can_view_loan(principal, loan):
        raise payment_not_found(payment_id)
    return await booked_view(deps.reader, p)


async def list_payments(
    deps: PaymentDeps,
    principal: Principal,
    *,
    loan: str | None,
    kind: PaymentKind | None,
    statuses: Sequence[PaymentStatus] | None,
    limit: int,
    cursor: str | None,
) -> PaymentPage:
    """Newest first. Borrowers see their loans' payments, agents those of applications they filed,
    providers those of loans they made, staff all."""
    loan_id = None if loan is None else (await _visible_loan(deps, principal, loan)).id
    scope = keyset("payments", loan=loan_id, kind=kind, statuses=statuses)
    query = PaymentQuery(
        loan_id=loan_id,
        kind=None if kind is None else kind.value,
        statuses=[s.value for s in statuses] if statuses else None,
        provider_id=None,
        borrower_id=None,
        created_by=None,
        after=decode_cursor(scope, cursor) if cursor else None,
        limit=limit + 1,
    )
    if principal.role is Role.BORROWER:
        query = _narrow(query, borrower_id=principal.subject)
    elif principal.role is Role.AGENT:
        query = _narrow(query, created_by=principal.subject)
    elif principal.role is Role.PROVIDER:
        own = provider_of(principal)
        if own is None:
            return PaymentPage(items=[], next_cursor=None)
        query = _narrow(query, provider_id=own)
    elif not principal.is_staff:
        return PaymentPage(items=[], next_cursor=None)
    rows = await deps.reader.listing(query)
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return PaymentPage(items=[await booked_view(deps.reader, p) for p in page], next_cursor=next_cursor)


def _narrow(query: PaymentQuery, **limits: Any) -> PaymentQuery:
    return replace(query, **limits)


async def verify_payment(deps: PaymentDeps, call: Invocation, payment_id: UUID) -> PaymentView:
    """Ask the gateway about the payment's reference and apply the answer exactly as its webhook would
    be applied (forward only; a success activates the loan or allocates the repayment)."""
    p = await deps.reader.get(payment_id)
    loan = None if p is None else await deps.loans.reader.get(str(p.loan_id))
    if p is None or loan is None or not can_view_loan(call.principal, loan):
        raise payment_not_found(payment_id)
    if p.vendor is None:
        detail = (
            "no vendor has accepted it yet (every attempt was refused before acceptance): there is "
            "nothing to verify; the payments worker tries the route's vendors again"
            if p.attempts
            else "not sent to the gateway yet: there is nothing to verify"
        )
        return payment_view(
            p,
            verification=Verification(
                found=False, status=None, amount=None, outcome="ignored", detail=detail
            ),
        )
    try:
        answer = await deps.gateway.verify(vendor=p.vendor, reference=p.reference)
    except GatewayNotFound:
        deps.router.record_success(p.vendor)
        verification = Verification(
            found=False,
            status=None,
            amount=None,
            outcome="ignored",
            detail=f"{p.vendor} has no payment under {p.reference}; nothing changed",
        )
        return payment_view(p, verification=verification)
    except (GatewayTimeout, GatewayUnavailable):
        deps.router.record_failure(p.vendor)
        raise Unavailable(
            f"{p.vendor} did not answer the verification; nothing changed, retry later"
        ) from None
    except GatewayRejected as exc:
        raise Unavailable(f"the gateway refused the verification ({exc.code}); nothing changed") from None
    deps.router.record_success(p.vendor)
    async with deps.uow() as uow:
        result = await settle(
            deps,
            uow,
            call,
            p.id,
            verified_status(answer.status),
            f"verified at {p.vendor}",
            amount_minor=answer.amount_minor,
            currency=answer.currency,
        )
    verification = Verification(
        found=True,
        status=answer.status,
        amount=Money.from_minor(answer.amount_minor, answer.currency),
        outcome=result.outcome,
        detail=result.detail,
    )
    return payment_view(result.payment, verification=verification)
