"""Loans: the status machine, the records, and how a repayment and a settlement read the installments.

**States.** ``pending_disbursement`` (originated, schedule fixed) -> ``active`` (disbursement confirmed)
-> ``delinquent`` when anything is past due, back to ``active`` once the arrears are paid (aging or a
repayment cures it) -> ``closed`` when everything is paid (also a defaulted loan that is recovered in
full), or ``defaulted`` past the default threshold -> ``written_off`` (an admin, with a reason). Any
other move is illegal (``IllegalLoanTransition``, a conflict at the tool edge).

**Origination.** The loan takes the accepted bid's terms. ``installment_count``
(tools/marketplace/domain/bids.py)
turns the term into installments; the first is due one unit period after the origination date
(``first_due_date``: a calendar month, 14 or 7 days) and the schedule is fixed then: a disbursement a
few days later does not move it. The APR is disclosed with the origination date as the loan date.

**Installments.** Each keeps the contract's figures (``scheduled_*``), what it owes now (``*_due``:
the contract, plus late fees, less interest cancelled by a prepayment) and what was paid
(``*_paid``). ``apply_allocation`` folds an allocation (tools/loans/domain/repayments.py) into them:
every line adds to the component it paid, and each component's due becomes paid + what the
allocation says is still owed, so ``due - paid`` is always the amount outstanding.

**Settlement**: ``domain.payoffs`` (``settlement_quote``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from tools.loans.domain.repayments import (
    Allocation,
    Component,
    LoanTerms,
    Outstanding,
)
from tools.loans.domain.schedules import Frequency, add_months
from tools.platform.domain.money import from_minor

__all__ = [
    "CANCELLED_FOR_LENDERS",
    "LOAN_TRANSITIONS",
    "SERVICING",
    "AcceptedBid",
    "IllegalLoanTransition",
    "InstallmentRecord",
    "LoanChanges",
    "LoanRecord",
    "LoanStatus",
    "LoanTransition",
    "NewLoan",
    "RepaymentRecord",
    "apply_allocation",
    "arrears_cured",
    "check_loan_transition",
    "first_due_date",
    "loan_event_fields",
    "loan_terms",
    "open_outstanding",
]


class LoanStatus(StrEnum):
    PENDING_DISBURSEMENT = "pending_disbursement"
    ACTIVE = "active"
    DELINQUENT = "delinquent"
    CLOSED = "closed"
    DEFAULTED = "defaulted"
    WRITTEN_OFF = "written_off"
    # Ended before any payout succeeded: the lender's reservation is released, nothing is owed.
    CANCELLED = "cancelled"


L = LoanStatus
LOAN_TRANSITIONS: dict[LoanStatus, frozenset[LoanStatus]] = {
    L.PENDING_DISBURSEMENT: frozenset({L.ACTIVE, L.CANCELLED}),
    L.ACTIVE: frozenset({L.DELINQUENT, L.CLOSED}),
    L.DELINQUENT: frozenset({L.ACTIVE, L.CLOSED, L.DEFAULTED}),
    # Cured: every arrear paid, the loan is performing again (``defaulted_at`` keeps that it defaulted).
    L.DEFAULTED: frozenset({L.ACTIVE, L.WRITTEN_OFF, L.CLOSED}),
    L.CLOSED: frozenset(),
    L.WRITTEN_OFF: frozenset(),
    L.CANCELLED: frozenset(),
}
# What a lender reads of a cancellation: its free-text reason may be the borrower's adverse-action
# notice (personal data); staff and the borrower read it in full.
CANCELLED_FOR_LENDERS = "cancelled before its disbursement"
# The loans still being repaid: repayments, quotes and aging apply to them.
SERVICING = frozenset({L.ACTIVE, L.DELINQUENT, L.DEFAULTED})


class IllegalLoanTransition(ValueError):
    def __init__(self, current: LoanStatus, target: LoanStatus) -> None:
        self.current, self.target = current, target
        legal = sorted(LOAN_TRANSITIONS[current])
        nxt = ", ".join(legal) if legal else "nothing: it is final"
        super().__init__(
            f"the loan is {current}; it cannot become {target}. From {current} it can go to {nxt}"
        )


def check_loan_transition(current: LoanStatus, target: LoanStatus) -> None:
    if target not in LOAN_TRANSITIONS[current]:
        raise IllegalLoanTransition(current, target)


def arrears_cured(status: str, days_past_due: int) -> bool:
    """Whether a loan goes back to active: it is delinquent or defaulted and nothing is past due any
    more, its arrears paid (a default is cured too). ``days_past_due`` is its aging after the change
    (``domain.aging.age``), where an installment's unpaid fees are past due like its interest and
    principal. Aging and a repayment both move the loan by it."""
    return status in (LoanStatus.DELINQUENT, LoanStatus.DEFAULTED) and days_past_due == 0


def first_due_date(origination: date, frequency: Frequency | str) -> date:
    """One unit period after ``origination``: a calendar month (clamped), 14 or 7 days."""
    frequency = Frequency(frequency)
    if frequency is Frequency.MONTHLY:
        return add_months(origination, 1)
    return origination + timedelta(days=14 if frequency is Frequency.BIWEEKLY else 7)


@dataclass(frozen=True, slots=True)
class AcceptedBid:
    """The accepted bid of an application, as the loan needs it (caas_core.bids)."""

    id: UUID
    application_id: UUID
    provider_id: UUID
    version: int
    amount_minor: int
    currency: str
    annual_rate: Decimal
    term_months: int
    origination_fee_minor: int
    repayment_frequency: str
    schedule_method: str
    valid_until: datetime  # the lender stands by it until then: a loan is made before, or never


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLoan:
    application_id: UUID
    bid_id: UUID
    provider_id: UUID
    borrower_id: str
    currency: str
    principal_minor: int
    annual_rate: Decimal
    term_months: int
    repayment_frequency: str
    schedule_method: str
    installment_count: int
    origination_fee_minor: int
    total_interest_minor: int
    total_of_payments_minor: int
    amount_financed_minor: int
    finance_charge_minor: int
    apr: Decimal
    apr_percent: Decimal
    origination_date: date
    first_due_date: date
    maturity_date: date
    created_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoanRecord(NewLoan):
    id: UUID
    status: str
    disbursement_reference: str | None
    disbursed_amount_minor: int | None
    disbursed_at: datetime | None
    commission_plan: dict[str, object] | None
    commission_minor: int
    credit_minor: int
    days_past_due: int
    aging_bucket: str
    aged_on: date | None
    closed_at: datetime | None
    defaulted_at: datetime | None
    written_off_at: datetime | None
    write_off_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    application_reference: str
    application_created_by: str

    @property
    def disbursed_on(self) -> date | None:
        return None if self.disbursed_at is None else self.disbursed_at.date()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoanChanges:
    """Fields a use case changes on a loan (status moves go through ``move``); None leaves one alone."""

    disbursement_reference: str | None = None
    disbursed_amount_minor: int | None = None
    commission_plan: dict[str, object] | None = None
    commission_minor: int | None = None
    credit_minor: int | None = None
    days_past_due: int | None = None
    aging_bucket: str | None = None
    aged_on: date | None = None
    write_off_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallmentRecord:
    number: int
    due_date: date
    scheduled_principal_minor: int
    scheduled_interest_minor: int
    principal_due_minor: int
    interest_due_minor: int
    fee_due_minor: int = 0
    principal_paid_minor: int = 0
    interest_paid_minor: int = 0
    fee_paid_minor: int = 0
    late_fee_assessed_on: date | None = None
    cancelled: bool = False
    settled_at: datetime | None = None

    @property
    def outstanding(self) -> Outstanding:
        return Outstanding(
            self.number,
            self.due_date,
            fees=self.fee_due_minor - self.fee_paid_minor,
            interest=self.interest_due_minor - self.interest_paid_minor,
            principal=self.principal_due_minor - self.principal_paid_minor,
            interest_paid=self.interest_paid_minor,
        )


@dataclass(frozen=True, slots=True)
class LoanTransition:
    from_status: str | None
    to_status: str
    actor_id: str
    actor_role: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RepaymentRecord:
    id: UUID
    loan_id: UUID
    reference: str
    amount_minor: int
    paid_at: datetime
    to_fees_minor: int
    to_interest_minor: int
    to_principal_minor: int
    to_accrued_interest_minor: int
    prepaid_principal_minor: int
    credit_minor: int
    commission_minor: int
    outstanding_after_minor: int
    overdue_after_minor: int
    lines: list[dict[str, object]]
    status_after: str
    journal_id: UUID
    recorded_by: str
    recorded_at: datetime
    prepay: str | None = None  # the borrower's choice for money beyond what was due (domain.prepay_choices)
    paid_ahead_minor: int = 0  # of to_interest + to_principal: installments not yet due, paid in advance


def open_outstanding(installments: Sequence[InstallmentRecord]) -> list[Outstanding]:
    """What each installment that is neither cancelled nor settled still owes, in order."""
    return [
        i.outstanding
        for i in sorted(installments, key=lambda i: i.number)
        if not i.cancelled and i.outstanding.total > 0
    ]


_FIELDS = {
    Component.FEE: "fee_paid_minor",
    Component.INTEREST: "interest_paid_minor",
    Component.ACCRUED_INTEREST: "interest_paid_minor",
    Component.PRINCIPAL: "principal_paid_minor",
    Component.PREPAYMENT: "principal_paid_minor",
}


def apply_allocation(
    installments: Sequence[InstallmentRecord], allocation: Allocation, at: datetime
) -> list[InstallmentRecord]:
    """The installments the allocation changed, as they are after it (module docstring)."""
    by_number = {i.number: i for i in installments}
    touched = {o.number for o in open_outstanding(installments)}
    last = max(touched) if touched else None
    paid: dict[tuple[int, str], int] = {}
    for line in allocation.lines:
        field = _FIELDS.get(line.component)
        number = line.installment if line.installment is not None else last
        if field is None or number is None:
            continue  # a credit belongs to the borrower, not to an installment
        paid[number, field] = paid.get((number, field), 0) + line.amount
    remaining = {o.number: o for o in allocation.remaining}
    changed: list[InstallmentRecord] = []
    for number in sorted(touched):
        before = by_number[number]
        owed = remaining.get(number, Outstanding(number, before.due_date))
        after = replace(
            before,
            fee_paid_minor=before.fee_paid_minor + paid.get((number, "fee_paid_minor"), 0),
            interest_paid_minor=before.interest_paid_minor + paid.get((number, "interest_paid_minor"), 0),
            principal_paid_minor=before.principal_paid_minor + paid.get((number, "principal_paid_minor"), 0),
            cancelled=number in allocation.cancelled,
        )
        after = replace(
            after,
            fee_due_minor=after.fee_paid_minor + owed.fees,
            interest_due_minor=after.interest_paid_minor + owed.interest,
            principal_due_minor=after.principal_paid_minor + owed.principal,
        )
        if owed.total == 0 and after.settled_at is None:
            after = replace(after, settled_at=at)
        if after != before:
            changed.append(after)
    return changed


def loan_terms(loan: LoanRecord) -> LoanTerms:
    """What recalculates the loan's installments after a ``reduce_installment`` prepayment."""
    return LoanTerms(loan.annual_rate, loan.schedule_method, loan.repayment_frequency)


def loan_event_fields(
    loan: LoanRecord, to_status: str, reason: str, from_status: str | None
) -> dict[str, str | None]:
    """A ``loan.*`` event's payload but its ``occurred_at`` (the written row's ``updated_at``, which
    the statement that writes it adds). No personal data: events leave the system of record."""
    return {
        "loan_id": str(loan.id),
        "application_id": str(loan.application_id),
        "provider_id": str(loan.provider_id),
        "borrower_id": loan.borrower_id,
        "from_status": from_status,
        "status": to_status,
        "reason": reason,
        "currency": loan.currency,
        "principal": str(from_minor(loan.principal_minor, loan.currency)),
    }
