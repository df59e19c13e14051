"""What a person reads before confirming a money move: the amount, currency, counterparty and APR,
read as the caller (so a caller who may not see the object learns nothing from the question)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from mcp_servers.elicitation import still_as_asked
from tools.credit.personal_data import bank_account_of
from tools.ledger import ledger
from tools.loans import loans
from tools.loans.domain.loans import LoanRecord
from tools.loans.loans import WriteOffCheck
from tools.loans.models.loans import LoanView
from tools.marketplace import offers
from tools.payments import payments, retries
from tools.platform.domain.pii import mask
from tools.platform.errors import Conflict
from tools.platform.models import Money
from tools.platform.principal import Principal

__all__ = ["PINNED", "concerning", "summarize", "write_off_as_agreed"]

Summary = Callable[[Any, Principal, dict[str, Any]], Awaitable[str]]


def _money(m: Money) -> str:
    return f"{m.amount} {m.currency}"


def _minor(minor: int, currency: str) -> str:
    return _money(Money.from_minor(minor, currency))


async def _accept_offer(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    # The figures compare_offers shows for this offer, built for it alone. The caller's sight of the
    # application is checked first, whatever the arguments (an action asked before a rename has no bid).
    asked = args.get("bid")
    app, bid, f = await offers.offer_to_accept(
        deps.marketplace, caller, args["application"], None if asked is None else str(asked)
    )
    if bid is None or f is None:
        return f"Accept bid {asked} on application {app.reference} (not among the live offers)"
    return (
        f"Accept {bid.provider_name}'s offer on application {app.reference}: borrow "
        f"{_minor(bid.amount_minor, bid.currency)} over {bid.term_months} months at APR {f.apr_percent}% "
        f"(finance charge {_minor(f.finance_charge, f.currency)}, total of payments "
        f"{_minor(f.total_of_payments, f.currency)}, installment {_minor(f.installment, f.currency)})"
    )


async def _paid_into(deps: Any, application_id: UUID) -> str:
    # Masked, as an application shows it to anyone: the person sees where the money goes, and the
    # account a payout goes to is fixed at submission, so a confirmed payout cannot be redirected.
    app = await deps.payments.applications.get(str(application_id))
    bank = None if app is None else bank_account_of(deps.payments.vault, app)
    if bank is None:
        return "no bank account (the application has none: it cannot be paid out)"
    return f"bank account {mask(bank.account_number)} at bank {bank.bank_code}"


async def _disburse_loan(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    # The loan's own row and its account: no schedule or timeline is read for the question.
    loan = await loans.visible_loan(deps.loans, caller, args["loan"])
    net = Money.from_minor(loan.amount_financed_minor, loan.currency)
    principal = Money.from_minor(loan.principal_minor, loan.currency)
    return (
        f"Pay out {_money(net)} for loan {loan.id} (application "
        f"{loan.application_reference}) to borrower {loan.borrower_id}'s "
        f"{await _paid_into(deps, loan.application_id)}: principal "
        f"{_money(principal)} at APR {loan.apr_percent}%, lender {loan.provider_id}"
    )


async def _write_off_loan(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    loan = await loans.get_loan(deps.loans, caller, args["loan"])
    owed = loan.outstanding
    return _writing_off(loan, owed.principal, owed.fees, args["reason"])


def _writing_off(loan: LoanRecord | LoanView, principal: Money, fees: Money, reason: str) -> str:
    return (
        f"Write off loan {loan.id} (application {loan.application_reference}): {_money(principal)} "
        f"principal and {_money(fees)} fees become lender {loan.provider_id}'s credit loss; reason: {reason}"
    )


def write_off_as_agreed(agreed: str, reason: str) -> WriteOffCheck:
    """The check write_off_loan runs under the loan's lock: what it is about to write off must read
    as the person agreed (a repayment landing after their answer changes it: refused, nothing runs)."""

    def check(loan: LoanRecord, principal_minor: int, fees_minor: int) -> None:
        principal, fees = (Money.from_minor(m, loan.currency) for m in (principal_minor, fees_minor))
        still_as_asked(agreed, _writing_off(loan, principal, fees, reason), "write_off_loan")

    return check


async def _reverse_journal(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    journal = await ledger.get_journal(deps.ledger, args["journal"])
    debits = [line.amount for line in journal.lines if line.amount_minor > 0]
    moved = ", ".join(f"{_money(m)}" for m in debits) or "nothing"
    accounts = ", ".join(sorted({line.account_code for line in journal.lines}))
    return (
        f"Reverse {journal.kind} journal {journal.id} ({journal.memo}): negate {moved} across {accounts}; "
        f"reason: {args['reason']}"
    )


async def _retry_disbursement(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    failed = await payments.get_payment(deps.payments, caller, retries.parse_payment(args["payment"]))
    loan = await loans.visible_loan(deps.loans, caller, str(failed.loan_id))
    return (
        f"Pay out {_money(failed.amount)} again for loan {failed.loan_id}: payment {failed.id} is "
        f"{failed.status}; a new payout goes to the borrower's {await _paid_into(deps, loan.application_id)}"
    )


async def _write_off_payout(deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    booked = await payments.get_payment(deps.payments, caller, retries.parse_payment(args["payment"]))
    return (
        f"Write off payout {booked.id} of loan {booked.loan_id} as lost: {_money(booked.amount)} its "
        f"recipient keeps becomes the platform's loss (payout_losses); reason: {args['reason']}"
    )


# Moves whose arguments pin every figure their summary shows, so it cannot change between the ask and
# the answer: a bid is revised as a new bid (accepting a superseded one is refused), a loan's terms and
# a payment's amount are fixed, a journal is never edited. write_off_loan's outstanding is not: it holds
# what it writes off to what the person read under the loan's lock (write_off_as_agreed).
PINNED = frozenset(
    {"accept_offer", "disburse_loan", "reverse_journal", "retry_disbursement", "write_off_payout"}
)

_SUMMARIES: dict[str, Summary] = {
    "accept_offer": _accept_offer,
    "disburse_loan": _disburse_loan,
    "write_off_loan": _write_off_loan,
    "reverse_journal": _reverse_journal,
    "retry_disbursement": _retry_disbursement,
    "write_off_payout": _write_off_payout,
}


async def summarize(tool: str, deps: Any, caller: Principal, args: dict[str, Any]) -> str:
    """The sentence a person confirms for ``tool`` called with ``args`` (a generic one for a tool
    without its own summary, so a new money tool still asks)."""
    summary = _SUMMARIES.get(tool)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(args.items()) if k != "idempotency_key")
    if summary is None:
        return f"Run {tool} with {shown}"
    try:
        return await summary(deps, caller, args)
    except Conflict:
        # The object is past the state the summary reads (a replay of a call that already ran, or one
        # the use case will refuse): still ask, with the arguments, and let the use case decide.
        return f"Run {tool} with {shown}"


async def _offer_borrower(deps: Any, args: dict[str, Any]) -> str | None:
    app = await deps.marketplace.applications.get(str(args["application"]))
    return None if app is None else str(app.borrower_id)


# The moves a person confirms on their own records, and whose they are.
_CONCERNS: dict[str, Callable[[Any, dict[str, Any]], Awaitable[str | None]]] = {
    "accept_offer": _offer_borrower,
}


async def concerning(tool: str, deps: Any, args: dict[str, Any]) -> str | None:
    """Whose own records a move of ``tool`` with ``args`` is on (an offer's borrower, who confirms
    it), for their list of pending actions; None for a move only staff confirm."""
    found = _CONCERNS.get(tool)
    return None if found is None else await found(deps, args)
