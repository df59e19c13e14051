"""Loan tools on the ``credit`` service, and the schedule resource ``caas://loans/{loan}/schedule``.

Disbursement has no tool: the payments service confirms it from the gateway's webhook by calling
``tools.loans.loans.confirm_disbursement``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Literal
from uuid import UUID

from fastmcp import Context, FastMCP
from pydantic import Field, StringConstraints

from mcp_servers.agreement import agreed
from mcp_servers.apps import SCHEDULE_APP
from mcp_servers.money_summaries import write_off_as_agreed
from mcp_servers.params import (
    PROVIDER_RENAMED,
    ApplicationHandle,
    Cursor,
    Limit,
    LoanHandle,
    OptionalIdempotencyKey,
    PrepayChoice,
)
from mcp_servers.platform.progress import reporter, tell
from mcp_servers.resources import guarded_read
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.loans import aging, listing, loans, origination, prepay_choices, servicing
from tools.loans.models.loans import (
    AgingReport,
    LoanPage,
    LoanStatus,
    LoanView,
    PrepaymentQuoteView,
    RepaymentView,
    ScheduleView,
    SettlementQuoteView,
)
from tools.payments import cancellation
from tools.platform.models import Day, DecimalString, FreeText, Moment
from tools.platform.principal import Principal, Role

__all__ = ["SCHEDULE_URI", "TOOLS", "register_loan_resources"]

SCHEDULE_URI = "caas://loans/{loan}/schedule"
STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
# Who may read loans; tools.loans.loans.can_view_loan narrows each to its own: borrowers their loans, agents
# those of applications they filed, providers the loans they made.
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.PROVIDER, Role.OPERATOR, Role.ADMIN, Role.SERVICE})

PaymentReference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The payment's reference at the gateway: it records one payment on this loan. The same "
        "reference with the same amount and time returns the first result (replayed: true).",
    ),
]
AsOf = Annotated[
    Day | None, Field(default=None, description="A calendar day (YYYY-MM-DD, UTC); default today.")
]


TOOLS = ToolSet()


@TOOLS.tool(roles=STAFF, title="Originate a loan", read_only=False, idempotent=True)
async def originate_loan(application: ApplicationHandle) -> LoanView:
    """Turn an approved application's accepted offer into a loan awaiting disbursement.

    Use once the application is ``approved`` and its borrower accepted a bid. The loan takes the
    bid's amount, rate, term, fee, frequency and method; its full schedule is built (annuity, flat
    or declining balance; installments sum exactly to principal + interest) with the first
    installment one period (a month, 14 or 7 days) after today, and its APR is disclosed with the
    fee as a prepaid finance charge. One loan per application: calling again returns the same
    loan with ``replayed: true``. Status ``pending_disbursement`` until the gateway confirms the
    payout of ``net_disbursement`` (principal less fee).
    """
    return await origination.originate_loan(deps().loans, invocation(), application)


@TOOLS.tool(roles=READERS, title="Get a loan", read_only=True, idempotent=True)
async def get_loan(loan: LoanHandle) -> LoanView:
    """One loan: its terms, APR disclosure, status and history, what it still owes, what is overdue,
    the next installment, days past due, any credit held for the borrower and the commission earned.
    A written-off loan owes nothing; what it owed then is in written_off.

    Use to answer "how much do I still owe, and when is my next payment?". Someone else's loan
    answers not_found, exactly like one that does not exist.
    """
    return await loans.get_loan(deps().loans, principal(), loan)


@TOOLS.tool(
    roles=READERS,
    title="List loans",
    read_only=True,
    idempotent=True,
    retired=PROVIDER_RENAMED,
)
async def list_loans(
    status: Annotated[
        list[LoanStatus] | None,
        Field(default=None, max_length=len(LoanStatus), description="Only these statuses."),
    ] = None,
    provider: Annotated[
        UUID | None,
        Field(default=None, description="Only this provider's loans (providers: leave out)."),
    ] = None,
    currency: Annotated[
        str | None, Field(default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. NGN.")
    ] = None,
    min_days_past_due: Annotated[
        int | None,
        Field(
            default=None,
            ge=1,
            le=100_000,
            description="Only loans at least this many days past due, as of the last aging run.",
        ),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> LoanPage:
    """List loans newest first, a page at a time: each with its application's reference, provider,
    status, principal, what it still owes in all, its next installment and days past due.

    Use to find a loan or work through a book of loans, then get_loan or get_repayment_schedule for
    one of them. Borrowers see their own loans, agents those of applications they filed, providers
    the loans they made, operators, admins and services all. Statuses: pending_disbursement, active,
    delinquent, closed, defaulted, written_off, cancelled. Pass ``next_cursor`` back as ``cursor`` for
    the next page; it is null on the last page.
    """
    return await listing.list_loans(
        deps().loans,
        principal(),
        statuses=status,
        provider_id=provider,
        currency=currency,
        min_days_past_due=min_days_past_due,
        limit=limit,
        cursor=cursor,
    )


@TOOLS.tool(
    roles=READERS, title="Get a repayment schedule", read_only=True, idempotent=True, app=SCHEDULE_APP
)
async def get_repayment_schedule(loan: LoanHandle) -> ScheduleView:
    """Every installment of a loan: due date, the contract's principal, interest and total, the
    balance after it, and what was paid and is still owed, with its status (paid, overdue, due_today,
    upcoming, cancelled (by a prepayment, or with its loan before any payout: never owed), or
    written_off: what it still owed when the loan was written off, which it no longer owes).

    Use to show the repayment plan; the totals add up exactly to principal + interest. Also the
    resource caas://loans/{loan}/schedule.
    """
    return await loans.get_repayment_schedule(deps().loans, principal(), loan)


@TOOLS.tool(roles=STAFF, title="Record a repayment", read_only=False, idempotent=True)
async def record_repayment(
    loan: LoanHandle,
    amount: Annotated[
        DecimalString,
        Field(gt=0, description='Decimal string in the loan currency\'s major units, e.g. "23639.90".'),
    ],
    paid_at: Annotated[Moment, Field(description="When the money was received (ISO 8601 with offset).")],
    reference: PaymentReference,
    idempotency_key: OptionalIdempotencyKey = None,
    prepay: PrepayChoice = None,
) -> RepaymentView:
    """Apply a payment received for a loan and explain where every part went.

    Use when the gateway reports money received for a loan. Installments due by the payment date
    are paid oldest first, each late fee, then interest, then principal; a payment too small for
    that is partial and says what is still unpaid. Anything left pays the next installments in
    order, interest then principal, ahead of their dates (the term and installments do not change),
    unless the borrower chose ``prepay`` (quote it first with quote_prepayment). A payment of at
    least quote_early_settlement's total settles the loan, with the interest accrued since the last
    due date; one short of it by no more than interest (that accrued plus the interest it pays on
    installments due, or the next installment's: a quote paid after its day, or a little short)
    settles it but for the difference, owed with the next installment, and cancels the later
    installments. Anything beyond a
    full payoff is held as a credit for the borrower. A paid-off loan is
    closed; a delinquent loan whose arrears are paid is active again. The repayment journal and the
    platform's interest share post in the same transaction.
    """
    return await servicing.record_repayment(
        deps().loans, invocation(), loan, amount, paid_at, reference, idempotency_key, prepay
    )


@TOOLS.tool(roles=READERS, title="Quote a prepayment", read_only=True, idempotent=True)
async def quote_prepayment(
    loan: LoanHandle,
    amount: Annotated[
        DecimalString,
        Field(gt=0, description='Decimal string in the loan currency\'s major units, e.g. "50000.00".'),
    ],
    prepay: PrepayChoice = None,
    as_of: AsOf = None,
) -> PrepaymentQuoteView:
    """What paying ``amount`` on ``as_of`` would do, without recording anything: where each part
    goes, the installments left, the next installment and the interest saved.

    Use before record_repayment when a borrower wants to pay more than is due: compare no choice
    (the next installments are paid ahead), reduce_term and reduce_installment.
    """
    return await prepay_choices.quote_prepayment(deps().loans, principal(), loan, amount, prepay, as_of)


@TOOLS.tool(roles=READERS, title="Quote an early settlement", read_only=True, idempotent=True)
async def quote_early_settlement(
    loan: LoanHandle,
    as_of: AsOf = None,
    valid_days: Annotated[
        int, Field(ge=0, le=30, description="Days the quote stays good; interest accrues to the last.")
    ] = 0,
) -> SettlementQuoteView:
    """What pays the loan off: outstanding principal + interest due and unpaid + unpaid fees +
    interest accrued daily (annual rate / 365) since the last due date.

    Use when a borrower asks what it takes to repay everything now. Paying ``total`` with
    record_repayment by ``valid_until`` closes the loan (paid earlier, the rest is a credit).
    """
    return await servicing.quote_early_settlement(deps().loans, principal(), loan, as_of, valid_days)


@TOOLS.tool(roles=STAFF, title="Age the loans", read_only=False, idempotent=True)
async def age_loans(
    ctx: Context,
    as_of: AsOf = None,
    limit: Annotated[int, Field(ge=1, le=5000, description="Most loans to age in this run.")] = 500,
) -> AgingReport:
    """Age every loan being repaid as of a day (default today, never a future day).

    Use from a daily scheduler or by hand. Days past due (from the oldest unpaid due date), bucket
    (current, 1-30, 31-60, 61-90, 90+), a late fee once per installment overdue beyond the grace
    period (CAAS_LATE_FEE_*), active -> delinquent while anything is past due and back once it is
    paid, defaulted beyond CAAS_DEFAULT_THRESHOLD_DAYS, and a defaulted loan with every arrear paid
    cured to active. Safe to run twice or at once: loans another run holds are skipped and no
    installment is charged twice. Only loans whose aging can change are read (an installment due
    before ``as_of``, or in arrears; ``loans_examined``): a current loan with nothing due is left as
    it is, and a loan already aged for ``as_of`` or a later day is skipped (a past day's run catches
    up missed days; it never winds a loan back), so the runs of one day work through the book.
    """
    await reporter(ctx)(0, None, "aging loans")
    report = await aging.age_loans(deps().loans, invocation(), as_of, limit, reporter(ctx))
    moved = sum(1 for move in report.moves if move.to_status in (LoanStatus.DEFAULTED, LoanStatus.DELINQUENT))
    await tell(
        ctx,
        "warning" if moved else "info",
        f"aged {report.loans_aged} loans as of {report.as_of}: {len(report.late_fees)} late fees, "
        f"{moved} newly delinquent or defaulted",
    )
    return report


# Idempotent in effect: a loan is written off once, and a second call is a conflict that changes nothing.
@TOOLS.tool(
    roles={Role.ADMIN},
    title="Write a loan off",
    read_only=False,
    destructive=True,
    idempotent=True,
    confirm=True,
)
async def write_off_loan(
    loan: LoanHandle,
    reason: Annotated[
        FreeText,
        StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
        Field(description="Mandatory: why the debt is not recoverable."),
    ],
) -> LoanView:
    """Write off a defaulted loan: its outstanding principal and unpaid fees become the provider's
    credit loss (a write_off journal) and the loan is final.

    Use when collections have failed on a loan that aging marked defaulted; any other status is a
    conflict. Admins only, with a reason.
    """
    said = agreed()
    check = None if said is None else write_off_as_agreed(said, reason)
    return await loans.write_off_loan(deps().loans, invocation(), loan, reason, check)


@TOOLS.tool(
    roles={Role.BORROWER, Role.OPERATOR, Role.ADMIN},
    title="Cancel a loan before its payout",
    read_only=False,
    destructive=True,
    idempotent=True,
)
async def cancel_loan(
    loan: LoanHandle,
    reason: Annotated[
        FreeText,
        StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
        Field(
            description="Mandatory: why it will not be paid out; kept in the loan's and its application's "
            "timelines."
        ),
    ],
    application_ends: Annotated[
        Literal["withdrawn", "declined"],
        Field(
            description="withdrawn: the borrower no longer wants it; declined: the platform refuses to pay "
            "it out (the reason is the borrower's adverse-action notice)."
        ),
    ] = "withdrawn",
) -> LoanView:
    """Cancel a loan that was never paid out: it ends as cancelled, its application as withdrawn or
    declined, and the lender's reserved capital is released (a reservation_release journal, and the
    lender's webhook is told), all at once.

    Use when a loan pending disbursement will not be paid out: the borrower changed their mind before
    the money left (a borrower may cancel their own, as withdrawn), the bank account is wrong and will
    not be fixed, or a check failed (operators and admins, withdrawn or declined). Only a loan
    pending disbursement whose payouts all failed (or that has none) is cancelled; a payout requested or
    sent is a conflict until verify_payment shows it failed; a second call is a conflict and changes
    nothing. Returns the cancelled loan.
    """
    return await cancellation.cancel_loan(deps().payments, invocation(), loan, reason, application_ends)


async def loan_schedule(loan: str) -> str:
    """A loan's repayment schedule, as get_repayment_schedule returns it (JSON)."""

    async def read(runtime: Runtime, caller: Principal) -> ScheduleView:
        return await loans.get_repayment_schedule(runtime.deps.loans, caller, loan)

    # Resources bypass the tool gate, so the tool's roles are checked there; a refusal is -32602.
    return await guarded_read("loan_schedule", READERS, read)


def register_loan_resources(server: FastMCP, render: Callable[[str], str] = str) -> None:
    """The schedule resource, on the top-level server so that its address is the same whether the credit
    service runs alone or inside the composed server (a mount would rewrite it). ``render`` names the
    tools its description mentions as this server exposes them."""
    description = render(inspect.getdoc(loan_schedule) or "")
    server.resource(
        SCHEDULE_URI, name="loan_schedule", description=description, mime_type="application/json"
    )(loan_schedule)
