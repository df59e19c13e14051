"""Cancel a loan before its payout (``cancel_loan``): the borrower no longer wants it (they may say so
themselves: nothing was lent yet), or the platform refuses to pay it out (the account turns out wrong,
fraud is found). Until a payout succeeds nothing is
owed and nothing was lent, so the loan ends as ``cancelled``, its application as withdrawn or declined,
and the lender's reserved capital is released, with its journal, in one transaction.

It lives with the payments because whether the money left is theirs to say: a payout requested or
sent may still succeed (the gateway decides), so a loan with one waits until it failed.
"""

from __future__ import annotations

from typing import Literal

from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import transition
from tools.loans.domain.loans import CANCELLED_FOR_LENDERS, LoanStatus
from tools.loans.loans import can_view_loan, get_loan, loan_not_found, move_loan
from tools.loans.models.loans import LoanView
from tools.payments.ports import PaymentDeps
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.ports import Invocation
from tools.platform.principal import Role
from tools.risk.assessments import record_decline

__all__ = ["cancel_loan"]

Ending = Literal["withdrawn", "declined"]


async def cancel_loan(
    deps: PaymentDeps, call: Invocation, handle: str, reason: str, application_ends: Ending
) -> LoanView:
    """End a loan pending disbursement whose payouts all failed (or that has none). A borrower ends
    only their own, and only as withdrawn: declining is the platform's decision."""
    borrower = call.principal.role is Role.BORROWER
    if borrower and application_ends != "withdrawn":
        raise InvalidArgument(
            "application_ends: a borrower withdraws (withdrawn); declined is the platform's to say"
        )
    async with deps.uow() as uow:
        # The loan first, as every payout and its webhook lock it (tools.platform.locking): none of
        # them can start or succeed while this looks.
        loan = await uow.loans.lock(handle)
        if loan is None or not can_view_loan(call.principal, loan):
            raise loan_not_found(handle)
        if loan.status != LoanStatus.PENDING_DISBURSEMENT:
            raise Conflict(
                f"loan {loan.id} is {loan.status}: only a loan pending disbursement is cancelled; a loan "
                "paid out is repaid, settled early or written off"
            )
        payout = await uow.payments.active_disbursement(loan.id)
        if payout is not None:
            raise Conflict(
                f"loan {loan.id} has payout {payout.id} ({payout.status}): a payout requested or sent may "
                "still succeed, so the loan is cancelled only once it failed (verify_payment asks the "
                "gateway); a paid one is the borrower's money and is recovered through the gateway"
            )
        app = await uow.applications.lock(str(loan.application_id))
        assert app is not None  # a loan's application is a foreign key
        said = f"loan {loan.id} cancelled before its disbursement: {reason}"
        ended = await transition(uow, call, app, ApplicationStatus(application_ends), said)
        if ended.status == ApplicationStatus.DECLINED:
            # A declined application owes its borrower the adverse-action notice, with this reason.
            refusal = {"code": "cancellation.declined", "message": reason, "points_lost": 0}
            await record_decline(uow, deps.clock, call, ended, None, [refusal])
        said = f"{CANCELLED_FOR_LENDERS}: {reason}"
        await move_loan(uow, call, loan, LoanStatus.CANCELLED, said, told=CANCELLED_FOR_LENDERS)
    return await get_loan(deps.loans, call.principal, str(loan.id))
