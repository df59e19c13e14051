"""Retry a failed payout (``retry_disbursement``): a new disbursement of the same loan, in place of
one whose payment failed.

What an agent would otherwise try with ``reverse_journal``: a failed payout posted nothing to the
ledger (the ledger is posted when a payout succeeds), so there is nothing to reverse; the loan is still
pending_disbursement and needs a new payment. The new one is recorded exactly as ``disburse_loan``
records it (a ``payment.requested`` event the payments worker sends, an audit row, one transaction)
under an idempotency key of its own.
"""

from __future__ import annotations

from uuid import UUID

from tools.payments.domain.payments import UNDONE, PaymentKind
from tools.payments.models import PaymentView
from tools.payments.payments import (
    _check_simulate,
    _request_disbursement,
    _stored,
    _visible_loan,
    payment_not_found,
)
from tools.payments.ports import PaymentDeps
from tools.payments.views import payment_view
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.ports import IdempotencyClaim, Invocation

__all__ = ["parse_payment", "retry_disbursement"]

_REFERENCE_PREFIX = "caas-disbursement-"


def parse_payment(handle: str) -> UUID:
    """A payment's id, from the id itself or its gateway reference (``caas-disbursement-<id>``)."""
    text = handle.strip().removeprefix(_REFERENCE_PREFIX)
    try:
        return UUID(text)
    except ValueError:
        raise InvalidArgument(
            f"payment: {handle[:80]!r} is neither a payment id (UUID) nor a caas-disbursement-<id> "
            "reference; list_payments shows the loan's payments"
        ) from None


async def retry_disbursement(
    deps: PaymentDeps, call: Invocation, handle: str, idempotency_key: str, simulate: str | None = None
) -> PaymentView:
    """Record a new payout of the loan whose disbursement ``handle`` failed; refused as a conflict
    unless that payment is a failed disbursement and the loan still waits for its money."""
    _check_simulate(deps, simulate)
    payment_id = parse_payment(handle)
    failed = await deps.reader.get(payment_id)
    if failed is None:
        raise payment_not_found(payment_id)
    loan = await _visible_loan(deps, call.principal, str(failed.loan_id))
    if failed.kind != PaymentKind.DISBURSEMENT:
        raise Conflict(
            f"payment {failed.id} is a {failed.kind}, not a payout; a failed collection is started again "
            "with collect_repayment"
        )
    app = await deps.applications.get(str(loan.application_id))  # before the transaction
    claim = IdempotencyClaim(
        call.principal.subject,
        "retry_disbursement",
        idempotency_key,
        request_sha256({"payment_id": str(failed.id), "simulate": simulate}),
    )
    async with deps.uow() as uow:
        earlier = await claim_or_replay(uow, claim)
        if earlier is None:
            # The loan, then its payment (tools.platform.locking); _request_disbursement takes the
            # loan's lock again, which this transaction already holds.
            await uow.loans.lock(str(loan.id))
            current = await uow.payments.lock(failed.id)
            assert current is not None
            if current.status not in UNDONE:
                raise Conflict(
                    f"payment {failed.id} is {current.status}, not failed; only a failed (or reversed) "
                    "payout is retried (get_payment shows where it stands, verify_payment asks the gateway)"
                )
            reason = (
                f"disbursement of loan {loan.id} requested again after payment {failed.id} {current.status}"
            )
            payment = await _request_disbursement(
                deps, uow, call, loan.id, app, simulate, claim, reason=reason
            )
    if earlier is not None:
        return await _stored(deps, UUID(earlier), replayed=True)
    return payment_view(payment)
