"""Loan tools on the ``credit`` service, and the schedule resource ``caas://loans/{loan_id}/schedule``.

Disbursement has no tool: the payments service confirms it from the gateway's webhook by calling
``tools.loans.confirm_disbursement``.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError
from pydantic import AwareDatetime, Field, StringConstraints

from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ToolGate
from tools import loan_servicing, loans
from tools.errors import DomainError
from tools.models.loans import AgingReport, LoanView, RepaymentView, ScheduleView, SettlementQuoteView
from tools.principal import Role

__all__ = ["SCHEDULE_URI", "register_loan_resources", "register_loan_tools"]

SCHEDULE_URI = "caas://loans/{loan_id}/schedule"
STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
# Borrowers read their own loans, agents those of applications they filed. Like every credit tool these
# are not shown to providers (the use cases would limit one to its own loans, for a providers tool).
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})

ApplicationHandle = Annotated[
    str, Field(min_length=1, max_length=64, description="The application's id or CAAS-YYYY-NNNNNN reference.")
]
LoanHandle = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The loan's id, or its application's id or CAAS-YYYY-NNNNNN reference.",
    ),
]
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
IdempotencyKey = Annotated[
    str | None,
    Field(
        default=None,
        min_length=8,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Optional. The same key with the same arguments returns the first result; with other "
        "arguments it is a conflict. Keys are yours alone and kept 24 hours.",
    ),
]
Day = Annotated[
    date | None, Field(default=None, description="A calendar day (YYYY-MM-DD, UTC); default today.")
]


def register_loan_tools(server: FastMCP, runtime: Runtime, gate: ToolGate) -> None:
    @gate.tool(server, roles=STAFF, title="Originate a loan", read_only=False, idempotent=True)
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
        return await loans.originate_loan(runtime.deps.loans, gate.invocation(), application)

    @gate.tool(server, roles=READERS, title="Get a loan", read_only=True, idempotent=True)
    async def get_loan(loan: LoanHandle) -> LoanView:
        """One loan: its terms, APR disclosure, status and history, what it still owes, what is overdue,
        the next installment, days past due, any credit held for the borrower and the commission earned.

        Use to answer "how much do I still owe, and when is my next payment?". Someone else's loan
        answers not_found, exactly like one that does not exist.
        """
        return await loans.get_loan(runtime.deps.loans, gate.principal(), loan)

    @gate.tool(server, roles=READERS, title="Get a repayment schedule", read_only=True, idempotent=True)
    async def get_repayment_schedule(loan: LoanHandle) -> ScheduleView:
        """Every installment of a loan: due date, the contract's principal, interest and total, the
        balance after it, and what was paid and is still owed, with its status (paid, overdue, due_today,
        upcoming, cancelled by a prepayment).

        Use to show the repayment plan; the totals add up exactly to principal + interest. Also the
        resource caas://loans/{loan_id}/schedule.
        """
        return await loans.get_repayment_schedule(runtime.deps.loans, gate.principal(), loan)

    @gate.tool(server, roles=STAFF, title="Record a repayment", read_only=False, idempotent=True)
    async def record_repayment(
        loan: LoanHandle,
        amount: Annotated[
            Decimal,
            Field(gt=0, description='Decimal string in the loan currency\'s major units, e.g. "23639.90".'),
        ],
        paid_at: Annotated[
            AwareDatetime, Field(description="When the money was received (ISO 8601 with offset).")
        ],
        reference: PaymentReference,
        idempotency_key: IdempotencyKey = None,
    ) -> RepaymentView:
        """Apply a payment received for a loan and explain where every part went.

        Use when the gateway reports money received for a loan. Installments due by the payment date
        are paid oldest first, each late fee, then interest, then principal; a payment too small for
        that is partial and says what is still unpaid. Anything left repays principal ahead of
        schedule from the last installment (the loan ends sooner; the next installments keep their
        dates and amounts); when it settles the loan in full it also pays the interest accrued since
        the last due date (as quote_early_settlement quotes), and anything beyond a full payoff is held
        as a credit for the borrower. A paid-off loan is closed; a
        delinquent loan whose arrears are paid is active again. The repayment journal and the
        platform's interest share post in the same transaction.
        """
        return await loan_servicing.record_repayment(
            runtime.deps.loans, gate.invocation(), loan, amount, paid_at, reference, idempotency_key
        )

    @gate.tool(server, roles=READERS, title="Quote an early settlement", read_only=True, idempotent=True)
    async def quote_early_settlement(
        loan: LoanHandle,
        as_of: Day = None,
        valid_days: Annotated[
            int, Field(ge=0, le=30, description="Days the quote stays good; interest accrues to the last.")
        ] = 0,
    ) -> SettlementQuoteView:
        """What pays the loan off: outstanding principal + interest due and unpaid + unpaid fees +
        interest accrued daily (annual rate / 365) since the last due date.

        Use when a borrower asks what it takes to repay everything now. Paying ``total`` with
        record_repayment by ``valid_until`` closes the loan (paid earlier, the rest is a credit).
        """
        return await loan_servicing.quote_early_settlement(
            runtime.deps.loans, gate.principal(), loan, as_of, valid_days
        )

    @gate.tool(server, roles=STAFF, title="Age the loans", read_only=False, idempotent=True)
    async def age_loans(
        as_of: Day = None,
        limit: Annotated[int, Field(ge=1, le=5000, description="Most loans to age in this run.")] = 500,
    ) -> AgingReport:
        """Age every loan being repaid as of a day (default today, never a future day).

        Use from a daily scheduler or by hand. Days past due (from the oldest unpaid due date), bucket
        (current, 1-30, 31-60, 61-90, 90+), a late fee once per installment overdue beyond the grace
        period (CAAS_LATE_FEE_*), active -> delinquent while anything is past due and back once it is
        paid, defaulted beyond CAAS_DEFAULT_THRESHOLD_DAYS. Safe to run twice or at once: loans another
        run holds are skipped and no installment is charged twice.
        """
        return await loan_servicing.age_loans(runtime.deps.loans, gate.invocation(), as_of, limit)

    @gate.tool(server, roles={Role.ADMIN}, title="Write a loan off", read_only=False, destructive=True)
    async def write_off_loan(
        loan: LoanHandle,
        reason: Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
            Field(description="Mandatory: why the debt is not recoverable."),
        ],
    ) -> LoanView:
        """Write off a defaulted loan: its outstanding principal and unpaid fees become the provider's
        credit loss (a write_off journal) and the loan is final.

        Use when collections have failed on a loan that aging marked defaulted; any other status is a
        conflict. Admins only, with a reason.
        """
        return await loans.write_off_loan(runtime.deps.loans, gate.invocation(), loan, reason)


def register_loan_resources(server: FastMCP, runtime: Runtime) -> None:
    """The schedule resource, on the top-level server so that its address is the same whether the credit
    service runs alone or inside the composed server (a mount would rewrite it)."""

    @server.resource(SCHEDULE_URI, name="loan_schedule", mime_type="application/json")
    async def loan_schedule(loan_id: str) -> str:
        """A loan's repayment schedule, as get_repayment_schedule returns it (JSON)."""
        try:
            view = await loans.get_repayment_schedule(
                runtime.deps.loans, runtime.principals.current(), loan_id
            )
        except DomainError as exc:
            raise ResourceError(f"{exc.code}: {exc.message}", log_level=logging.DEBUG) from None
        return view.model_dump_json()
