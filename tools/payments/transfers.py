"""The ``payments`` queue: send a requested disbursement to the gateway, exactly once.

The transfer goes out under the payment's own reference (``caas-disbursement-<id>``), so the gateway
itself refuses to make a second transfer under it. On top of that, the worker never re-sends blindly:

1. An attempt is counted (committed) *before* the gateway is called.
2. The gateway's answer is committed afterwards (sent, or straight to succeeded / failed).
3. A vendor that certainly never accepted the transfer (no connection, a 503/429/408, or its breaker
   open) frees the payment (``vendor`` back to NULL) and the next vendor of the currency's route is
   tried at once, in the same run.
4. If the call timed out, the answer was a 500/502/504 or unreadable, or the process died between 1
   and 2, the vendor may hold the transfer: the payment is still ``requested`` with attempts > 0 and
   that vendor, and the next run *verifies* the reference there first. Found: the answer is applied
   like a webhook, nothing is sent. Not found: it is sent again, under the same reference and to the
   same vendor only (never to a fallback), so a first request that reaches the vendor late is refused
   there as a duplicate.

A job is delivered at least once; each run starts by reading the payment, so a job for a payment that a
webhook or a verification already moved on does nothing.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tools.credit.personal_data import unseal
from tools.payments.core import settle
from tools.payments.domain.payments import PaymentKind, PaymentRecord, PaymentStatus, verified_status
from tools.payments.payments import metadata
from tools.payments.ports import (
    GatewayNotAccepted,
    GatewayNotFound,
    GatewayRejected,
    GatewayTimeout,
    GatewayTransfer,
    GatewayUnavailable,
    PaymentDeps,
)
from tools.platform.jobs import Job, PermanentFailure, RetryLater
from tools.platform.ports import Invocation

__all__ = ["send_disbursement"]

_TRANSFER_STATUS = {
    "pending": PaymentStatus.SENT,
    "success": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
}
# While every vendor of the currency is paused by its breaker, come back after about its reset.
_ALL_PAUSED = timedelta(seconds=15)


async def send_disbursement(deps: PaymentDeps, call: Invocation, job: Job) -> None:
    """The ``payments`` queue handler (jobs of ``payment.requested``)."""
    try:
        payment_id = UUID(str(job.payload["payment_id"]))
    except (KeyError, ValueError):
        raise PermanentFailure("the event names no payment_id") from None
    p = await deps.reader.get(payment_id)
    if p is None:
        raise PermanentFailure(f"payment {payment_id} does not exist")
    if p.kind != PaymentKind.DISBURSEMENT or p.status != PaymentStatus.REQUESTED:
        return  # a collection, or a webhook or a verification got there first
    held = p.attempts > 0 and p.vendor is not None
    if held and await _settled_by_verification(deps, call, p):
        return
    vendors = _vendors(deps, p, held)
    recipient = await _recipient(deps, p)
    if recipient is None:
        async with deps.uow() as uow:
            await settle(deps, uow, call, p.id, PaymentStatus.FAILED, "the application has no bank account")
        return
    refused: list[str] = []
    for vendor in vendors:
        if not await _attempt(deps, call, p.id, vendor, recipient, held=held):
            return
        refused.append(vendor)
    raise RetryLater(f"no {p.currency} vendor accepted the transfer ({', '.join(refused)})", _ALL_PAUSED)


def _vendors(deps: PaymentDeps, p: PaymentRecord, held: bool) -> list[str]:
    candidates = deps.router.candidates(p.currency)
    if held:
        # Once a vendor may have seen this reference only it is asked again: its refusal of a second
        # transfer under one reference is what makes a first request that arrives late harmless.
        assert p.vendor is not None
        if p.vendor not in candidates:
            raise RetryLater(f"{p.vendor} is paused after failures; this transfer stays with it", _ALL_PAUSED)
        return [p.vendor]
    if not candidates:
        raise RetryLater(f"every {p.currency} vendor is paused after failures", _ALL_PAUSED)
    return candidates


async def _attempt(
    deps: PaymentDeps,
    call: Invocation,
    payment_id: UUID,
    vendor: str,
    recipient: dict[str, str],
    *,
    held: bool,
) -> bool:
    """One transfer attempt at ``vendor``. True when the vendor never accepted it and nothing ties the
    payment to it (the caller goes on to the next vendor); False when the payment moved on or waits."""
    async with deps.uow() as uow:
        current = await uow.payments.lock(payment_id)
        if current is None or current.status != PaymentStatus.REQUESTED:
            return False
        p = await uow.payments.start_attempt(payment_id, vendor)
    try:
        answer = await deps.gateway.transfer(
            vendor=vendor,
            reference=p.reference,
            amount_minor=p.amount_minor,
            currency=p.currency,
            recipient=recipient,
            metadata=metadata(p),
        )
    except GatewayNotAccepted as exc:
        deps.router.record_failure(vendor)
        if held:
            # An earlier attempt here has an unknown outcome: this refusal does not free the payment.
            await _note(deps, p.id, f"attempt {p.attempts} at {vendor}: {exc.message}")
            raise RetryLater(f"{vendor}: {exc.message}; this transfer stays with it") from None
        async with deps.uow() as uow:
            await uow.payments.release_attempt(
                p.id, f"attempt {p.attempts} at {vendor} not accepted: {exc.message}; next vendor"
            )
        return True
    except (GatewayTimeout, GatewayUnavailable) as exc:
        deps.router.record_failure(vendor)
        await _note(deps, p.id, f"attempt {p.attempts} at {vendor}: {exc.message}")
        raise RetryLater(f"{vendor}: {exc.message}; the next attempt verifies before sending") from None
    except GatewayRejected as exc:
        deps.router.record_success(vendor)  # it answered: healthy, only this transfer was refused
        async with deps.uow() as uow:
            await settle(
                deps, uow, call, p.id, PaymentStatus.FAILED, f"{vendor} refused the transfer ({exc.code})"
            )
        return False
    deps.router.record_success(vendor)
    await _apply_answer(deps, call, p, vendor, answer)
    return False


async def _apply_answer(
    deps: PaymentDeps, call: Invocation, p: PaymentRecord, vendor: str, answer: GatewayTransfer
) -> None:
    # Only now, with the gateway's answer in hand, does the payment leave ``requested``: a crash before
    # this commit leaves it requested with an attempt counted, which the next run verifies.
    async with deps.uow() as uow:
        await settle(
            deps,
            uow,
            call,
            p.id,
            _TRANSFER_STATUS[answer.status],
            f"{vendor} answered the transfer: {answer.status}",
            vendor=vendor,
            transfer_code=answer.transfer_code,
        )


async def _settled_by_verification(deps: PaymentDeps, call: Invocation, p: PaymentRecord) -> bool:
    """After an attempt whose outcome is unknown: does the vendor have the transfer? True when its
    answer was applied (nothing may be sent); False when it has none (sending is safe)."""
    assert p.vendor is not None
    try:
        found = await deps.gateway.verify(vendor=p.vendor, reference=p.reference)
    except GatewayNotFound:
        deps.router.record_success(p.vendor)
        return False
    except (GatewayTimeout, GatewayUnavailable) as exc:
        deps.router.record_failure(p.vendor)
        # Never another vendor while this one may hold the transfer: wait until it can say.
        raise RetryLater(f"{p.vendor} could not verify {p.reference} ({exc.message}); not re-sent") from None
    except GatewayRejected as exc:
        raise RetryLater(f"{p.vendor} refused to verify {p.reference} ({exc.code}); not re-sent") from None
    deps.router.record_success(p.vendor)
    async with deps.uow() as uow:
        await settle(
            deps,
            uow,
            call,
            p.id,
            verified_status(found.status),
            f"verified at {p.vendor} after an unanswered attempt",
            amount_minor=found.amount_minor,
            currency=found.currency,
            vendor=p.vendor,
        )
    return True


async def _recipient(deps: PaymentDeps, p: PaymentRecord) -> dict[str, str] | None:
    """The borrower's bank account, decrypted for this call only (it goes to the gateway, nowhere else)."""
    loan = await deps.loans.reader.get(str(p.loan_id))
    app = None if loan is None else await deps.applications.get(str(loan.application_id))
    if app is None:
        return None
    bank = unseal(deps.vault, app).bank_account
    if bank is None:
        return None
    return {"name": app.applicant_name, "account_number": bank.account_number, "bank_code": bank.bank_code}


async def _note(deps: PaymentDeps, payment_id: UUID, error: str) -> None:
    async with deps.uow() as uow:
        await uow.payments.note_error(payment_id, error)
