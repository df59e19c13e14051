"""Outputs of the loan tools: the loan, its schedule, repayments, settlement quotes and aging."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from tools.loans.domain.aging import Bucket
from tools.loans.domain.loans import LoanStatus
from tools.loans.domain.repayments import Component, Prepay
from tools.loans.domain.schedules import Frequency, Method
from tools.platform.models import Money, Output

__all__ = [
    "AgingReport",
    "AllocationLineView",
    "Amounts",
    "DisclosureView",
    "InstallmentStatus",
    "InstallmentView",
    "LateFeeView",
    "LoanAgingView",
    "LoanMoveView",
    "LoanPage",
    "LoanStatus",
    "LoanSummary",
    "LoanTransitionView",
    "LoanView",
    "NextDue",
    "PrepaymentQuoteView",
    "RemainingInstallmentView",
    "RepaymentView",
    "ScheduleView",
    "SettlementQuoteView",
]


# Said once, so that a loan and its schedule describe the written-off amounts in the same words.
_WRITTEN_OFF = (
    "What the write-off removed: what the installments still owed then. Its principal and fees are the "
    "lender's credit loss (the write_off journal); its interest is forgone. Zero unless written off."
)


class InstallmentStatus(StrEnum):
    PAID = "paid"
    CANCELLED = "cancelled"
    OVERDUE = "overdue"
    DUE_TODAY = "due_today"
    UPCOMING = "upcoming"
    WRITTEN_OFF = "written_off"


class Amounts(Output):
    """Principal, interest and late fees, and their total."""

    principal: Money
    interest: Money
    fees: Money
    total: Money


class DisclosureView(Output):
    """Truth in Lending (Regulation Z, Appendix J): the origination fee is a prepaid finance charge."""

    amount_financed: Money = Field(
        description="Principal less the origination fee: what the borrower receives."
    )
    prepaid_finance_charge: Money
    finance_charge: Money = Field(
        description="Total of payments less the amount financed: the cost of credit."
    )
    total_of_payments: Money
    apr: Decimal = Field(description="Annual percentage rate as a fraction, 6 places (0.279661).")
    apr_percent: Decimal = Field(description="The APR in percent, 2 places (27.97).")


class LoanTransitionView(Output):
    from_status: LoanStatus | None
    to_status: LoanStatus
    actor_id: str
    actor_role: str
    reason: str
    occurred_at: datetime


class NextDue(Output):
    number: int
    due_date: date
    amount: Money = Field(description="What the installment still owes.")


class LoanView(Output):
    id: UUID
    application_id: UUID
    application_reference: str
    bid_id: UUID
    provider_id: UUID
    borrower_id: str
    status: LoanStatus
    currency: str
    principal: Money
    annual_rate: Decimal = Field(description="Nominal annual rate, a fraction (0.24 = 24%).")
    term_months: int
    installments: int
    repayment_frequency: Frequency
    schedule_method: Method
    origination_fee: Money
    total_interest: Money
    total_of_payments: Money
    disclosure: DisclosureView
    net_disbursement: Money = Field(description="What the gateway must pay out: the amount financed.")
    origination_date: date
    first_due_date: date = Field(description="One unit period (month, 14 or 7 days) after origination.")
    maturity_date: date
    next_due: NextDue | None = Field(description="The earliest installment still owing something.")
    outstanding: Amounts = Field(
        description="Everything still owed, due or not (no accrued interest); nothing once written off."
    )
    overdue: Money = Field(description="What installments past their due date still owe.")
    written_off: Amounts = Field(description=_WRITTEN_OFF)
    credit: Money = Field(description="Over-payments held for the borrower.")
    commission_earned: Money | None = Field(
        description="The platform's commission on this loan so far, charged to its lender: for staff and "
        "the lender; null for the borrower and agents (it is not their charge)."
    )
    disbursement_reference: str | None
    disbursed_at: datetime | None
    days_past_due: int = Field(description="As of the last aging run (age_loans); 0 once written off.")
    aging_bucket: Bucket = Field(
        description="As of the last aging run; a written-off loan keeps the bucket it was written off from."
    )
    aged_on: date | None
    closed_at: datetime | None
    defaulted_at: datetime | None
    written_off_at: datetime | None
    write_off_reason: str | None
    created_at: datetime
    timeline: list[LoanTransitionView] = Field(description="Every status change, oldest first.")
    replayed: bool = Field(default=False, description="True when this call repeated an earlier one.")


class LoanSummary(Output):
    """A loan in a listing; get_loan has the rest."""

    id: UUID
    application_id: UUID
    application_reference: str
    provider_id: UUID
    provider_name: str
    status: LoanStatus
    currency: str
    principal: Money
    outstanding: Money = Field(
        description="Everything still owed, due or not (no accrued interest); nothing once written off."
    )
    written_off: Money = Field(description="What the write-off removed; zero unless written off.")
    next_due: NextDue | None = Field(description="The earliest installment still owing something.")
    days_past_due: int = Field(description="As of the last aging run (age_loans); 0 once written off.")
    created_at: datetime = Field(description="When the loan was originated.")
    disbursed_at: datetime | None = Field(description="When the gateway paid it out; null until then.")


class LoanPage(Output):
    items: list[LoanSummary] = Field(description="Newest first (by origination).")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class InstallmentView(Output):
    number: int
    due_date: date
    status: InstallmentStatus
    principal: Money = Field(description="Scheduled principal (the contract).")
    interest: Money = Field(description="Scheduled interest (the contract).")
    total: Money = Field(description="Scheduled installment: principal + interest.")
    balance_after: Money = Field(description="Scheduled principal still owed after this installment.")
    late_fee: Money = Field(description="Late fee charged on this installment (at most one).")
    paid: Amounts
    outstanding: Amounts = Field(description="What is still owed; nothing once the loan is written off.")
    written_off: Amounts = Field(description="What the write-off removed of this installment; else zero.")
    settled_at: datetime | None


class ScheduleView(Output):
    loan_id: UUID
    status: LoanStatus
    currency: str
    schedule_method: Method
    repayment_frequency: Frequency
    annual_rate: Decimal
    principal: Money
    total_interest: Money
    total_of_payments: Money = Field(description="The sum of every scheduled installment, exactly.")
    apr: Decimal
    apr_percent: Decimal
    first_due_date: date
    maturity_date: date
    as_of: date
    lines: list[InstallmentView]
    paid_to_date: Amounts
    outstanding: Amounts = Field(description="What is still owed; nothing once the loan is written off.")
    written_off: Amounts = Field(description=_WRITTEN_OFF)


class AllocationLineView(Output):
    component: Component
    installment: int | None
    amount: Money
    explanation: str


class RepaymentView(Output):
    id: UUID
    loan_id: UUID
    reference: str
    amount: Money
    paid_at: datetime
    allocation: list[AllocationLineView] = Field(description="Where each part went, in order.")
    to_fees: Money
    to_interest: Money
    to_principal: Money
    to_accrued_interest: Money = Field(description="Interest accrued since the last due date (payoff only).")
    prepaid_principal: Money = Field(
        description="Principal repaid ahead of schedule by the borrower's choice (prepay), or by a payoff."
    )
    prepay: Prepay | None = Field(default=None, description="The prepayment chosen; null: none.")
    paid_ahead: Money = Field(
        description="Of to_interest + to_principal, what paid installments not yet due."
    )
    credit: Money = Field(description="Beyond a full payoff: held for the borrower, to refund or keep.")
    commission: Money = Field(description="The platform's share of the interest this payment collected.")
    outstanding_after: Money
    overdue_after: Money
    loan_status: LoanStatus = Field(description="The loan's status after the payment.")
    summary: list[str] = Field(description="The allocation in plain sentences.")
    journal_id: UUID
    recorded_at: datetime
    replayed: bool = False


class SettlementQuoteView(Output):
    loan_id: UUID
    as_of: date
    valid_until: date
    principal: Money = Field(description="All outstanding principal.")
    interest_due: Money = Field(description="Interest of installments due by as_of, unpaid.")
    accrued_interest: Money
    accrued_days: int
    fees: Money
    total: Money = Field(description="Paying this by valid_until settles the loan.")
    per_diem: Money = Field(description="One more day's interest.")
    lines: list[str]


class RemainingInstallmentView(Output):
    number: int
    due_date: date
    principal: Money
    interest: Money
    fees: Money
    total: Money


class PrepaymentQuoteView(Output):
    """What a payment would do, without recording it: record_repayment with the same amount, day and
    prepay choice allocates it the same way while the loan is unchanged."""

    loan_id: UUID
    as_of: date
    amount: Money
    prepay: Prepay | None = Field(description="The choice quoted; null: the next installments, in order.")
    allocation: list[AllocationLineView] = Field(description="Where each part would go, in order.")
    prepaid_principal: Money
    paid_ahead: Money = Field(description="Of the interest and principal paid, what is not due yet.")
    credit: Money
    installments_before: int = Field(description="Installments still owing something before the payment.")
    installments_after: int
    next_installment_before: Money | None = Field(description="What the next installment not yet due owes.")
    next_installment_after: Money | None
    interest_before: Money = Field(description="Interest the loan still owes on its schedule.")
    interest_after: Money
    interest_saved: Money
    maturity_before: date | None
    maturity_after: date | None
    remaining: list[RemainingInstallmentView] = Field(description="What each installment would still owe.")
    summary: list[str]


class LateFeeView(Output):
    loan_id: UUID
    installment: int
    amount: Money
    days_past_due: int
    explanation: str


class LoanMoveView(Output):
    loan_id: UUID
    from_status: LoanStatus
    to_status: LoanStatus
    reason: str


class LoanAgingView(Output):
    loan_id: UUID
    status: LoanStatus
    days_past_due: int
    bucket: Bucket
    oldest_unpaid_due_date: date | None
    overdue: Money


class AgingReport(Output):
    as_of: date
    loans_examined: int = Field(
        description="Loans read because their aging could change (an installment due before as_of, or "
        "delinquent, defaulted or past due), including those skipped because another run held them."
    )
    loans_aged: int
    buckets: dict[Bucket, int] = Field(description="Loans aged in each delinquency bucket.")
    late_fees: list[LateFeeView]
    moves: list[LoanMoveView] = Field(description="Status changes: delinquent, cured (active), defaulted.")
    loans: list[LoanAgingView]
