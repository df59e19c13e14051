"""Originating a loan from an approved application's accepted bid: its schedule and disclosure, once
per application, while the lender's offer is still valid."""

from __future__ import annotations

from datetime import date

from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import TERMINAL, ApplicationStatus
from tools.credit.lifecycle import locked_application
from tools.loans.domain.apr import AprDisclosure, disclose
from tools.loans.domain.loans import AcceptedBid, InstallmentRecord, NewLoan, first_due_date
from tools.loans.domain.schedules import Schedule, build_schedule
from tools.loans.loans import loan_event, loan_view_of
from tools.loans.models.loans import LoanView
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.marketplace.domain.bids import installment_count
from tools.platform.errors import Conflict
from tools.platform.ports import AuditRecord, Invocation

__all__ = ["originate_loan"]


async def originate_loan(deps: LoanDeps, call: Invocation, application: str) -> LoanView:
    """Turn an approved application's accepted bid into a loan awaiting disbursement; once per
    application: a repeated call returns the loan made first, with ``replayed``."""
    async with deps.uow() as uow:
        app = await locked_application(uow, call.principal, application)
        existing = await uow.loans.for_application(app.id)
        if existing is not None:
            return await loan_view_of(deps, existing, replayed=True)
        bid = await _accepted_bid(uow, app)
        if bid.valid_until <= deps.clock.now():
            raise Conflict(
                f"{app.reference}: its accepted offer was valid until {bid.valid_until.isoformat()}, so it "
                "lapsed before a loan was made; the application expires and the lender's capital goes back "
                "(expire_stale_applications does it now), and the borrower applies again"
            )
        origination = deps.clock.today()
        schedule, disclosure = _loan_terms(bid, origination)
        new = _new_loan(app, bid, schedule, disclosure, origination, call.principal.subject)
        loan = await uow.loans.insert(new, _installment_lines(schedule), call.principal)
        reason = f"originated from bid {bid.id} (version {bid.version})"
        await uow.record(AuditRecord(call, "loan", str(loan.id)), [loan_event(loan, "originated", reason)])
    return await loan_view_of(deps, loan)


async def _accepted_bid(uow: LoanUnitOfWork, app: ApplicationRecord) -> AcceptedBid:
    if app.status in TERMINAL:
        raise Conflict(f"{app.reference} is {app.status}, which is final: no loan is made from it")
    if app.status != ApplicationStatus.APPROVED:
        raise Conflict(
            f"{app.reference} is {app.status}; a loan is originated from an approved application "
            "with an accepted offer (approve it with approve_application first)"
        )
    bid = await uow.loans.accepted_bid(app.id)
    if bid is None:
        raise Conflict(f"{app.reference} has no accepted bid; the borrower must accept an offer first")
    if bid.currency != app.currency:
        raise Conflict(f"the accepted bid is in {bid.currency} but {app.reference} is in {app.currency}")
    return bid


def _loan_terms(bid: AcceptedBid, origination: date) -> tuple[Schedule, AprDisclosure]:
    try:
        schedule = build_schedule(
            bid.amount_minor,
            bid.currency,
            bid.annual_rate,
            installment_count(bid.term_months, bid.repayment_frequency),
            first_due_date(origination, bid.repayment_frequency),
            method=bid.schedule_method,
            frequency=bid.repayment_frequency,
        )
        disclosure = disclose(
            schedule, prepaid_finance_charge=bid.origination_fee_minor, loan_date=origination
        )
    except ValueError as exc:
        raise Conflict(f"the accepted bid's terms cannot make a loan: {exc}") from None
    return schedule, disclosure


def _new_loan(
    app: ApplicationRecord,
    bid: AcceptedBid,
    schedule: Schedule,
    disclosure: AprDisclosure,
    origination: date,
    created_by: str,
) -> NewLoan:
    return NewLoan(
        application_id=app.id,
        bid_id=bid.id,
        provider_id=bid.provider_id,
        borrower_id=app.borrower_id,
        currency=bid.currency,
        principal_minor=bid.amount_minor,
        annual_rate=bid.annual_rate,
        term_months=bid.term_months,
        repayment_frequency=schedule.frequency.value,
        schedule_method=schedule.method.value,
        installment_count=len(schedule.installments),
        origination_fee_minor=bid.origination_fee_minor,
        total_interest_minor=schedule.total_interest,
        total_of_payments_minor=schedule.total_of_payments,
        amount_financed_minor=disclosure.amount_financed,
        finance_charge_minor=disclosure.finance_charge,
        apr=disclosure.apr,
        apr_percent=disclosure.apr_percent,
        origination_date=origination,
        first_due_date=schedule.first_due_date,
        maturity_date=schedule.maturity_date,
        created_by=created_by,
    )


def _installment_lines(schedule: Schedule) -> list[InstallmentRecord]:
    return [
        InstallmentRecord(
            number=i.number,
            due_date=i.due_date,
            scheduled_principal_minor=i.principal,
            scheduled_interest_minor=i.interest,
            principal_due_minor=i.principal,
            interest_due_minor=i.interest,
        )
        for i in schedule.installments
    ]
