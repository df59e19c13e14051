"""Output models built from loan records: what a caller is shown of a loan, its schedule, a repayment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from tools.loans.domain.aging import Bucket
from tools.loans.domain.loans import (
    CANCELLED_FOR_LENDERS,
    InstallmentRecord,
    LoanRecord,
    LoanStatus,
    LoanTransition,
    RepaymentRecord,
)
from tools.loans.domain.repayments import Component, Outstanding, Prepay, SettlementQuote
from tools.loans.domain.schedules import Frequency, Method
from tools.loans.domain.write_offs import owes_nothing, still_owed, written_off
from tools.loans.models.loans import (
    AllocationLineView,
    Amounts,
    DisclosureView,
    InstallmentStatus,
    InstallmentView,
    LoanTransitionView,
    LoanView,
    NextDue,
    RepaymentView,
    ScheduleView,
    SettlementQuoteView,
)
from tools.platform.domain.money_format import format_money
from tools.platform.models import Money
from tools.platform.principal import Role

__all__ = [
    "as_seen_by",
    "for_lender",
    "loan_view",
    "quote_view",
    "repayment_summary",
    "repayment_view",
    "schedule_view",
]


def _amounts(principal: int, interest: int, fees: int, currency: str) -> Amounts:
    return Amounts(
        principal=Money.from_minor(principal, currency),
        interest=Money.from_minor(interest, currency),
        fees=Money.from_minor(fees, currency),
        total=Money.from_minor(principal + interest + fees, currency),
    )


def _sum(items: Sequence[Outstanding], currency: str) -> Amounts:
    return _amounts(
        sum(i.principal for i in items), sum(i.interest for i in items), sum(i.fees for i in items), currency
    )


def loan_view(
    loan: LoanRecord,
    installments: Sequence[InstallmentRecord],
    timeline: Sequence[LoanTransition],
    today: date,
    *,
    replayed: bool = False,
) -> LoanView:
    cur = loan.currency
    owing = still_owed(loan.status, installments)
    first = owing[0] if owing else None
    return LoanView(
        id=loan.id,
        application_id=loan.application_id,
        application_reference=loan.application_reference,
        bid_id=loan.bid_id,
        provider_id=loan.provider_id,
        borrower_id=loan.borrower_id,
        status=LoanStatus(loan.status),
        currency=cur,
        principal=Money.from_minor(loan.principal_minor, cur),
        annual_rate=loan.annual_rate,
        term_months=loan.term_months,
        installments=loan.installment_count,
        repayment_frequency=Frequency(loan.repayment_frequency),
        schedule_method=Method(loan.schedule_method),
        origination_fee=Money.from_minor(loan.origination_fee_minor, cur),
        total_interest=Money.from_minor(loan.total_interest_minor, cur),
        total_of_payments=Money.from_minor(loan.total_of_payments_minor, cur),
        disclosure=DisclosureView(
            amount_financed=Money.from_minor(loan.amount_financed_minor, cur),
            prepaid_finance_charge=Money.from_minor(loan.origination_fee_minor, cur),
            finance_charge=Money.from_minor(loan.finance_charge_minor, cur),
            total_of_payments=Money.from_minor(loan.total_of_payments_minor, cur),
            apr=loan.apr,
            apr_percent=loan.apr_percent,
        ),
        net_disbursement=Money.from_minor(loan.amount_financed_minor, cur),
        origination_date=loan.origination_date,
        first_due_date=loan.first_due_date,
        maturity_date=loan.maturity_date,
        next_due=None
        if first is None
        else NextDue(number=first.number, due_date=first.due_date, amount=Money.from_minor(first.total, cur)),
        outstanding=_sum(owing, cur),
        overdue=Money.from_minor(sum(o.total for o in owing if o.due_date < today), cur),
        written_off=_sum(written_off(loan.status, installments), cur),
        credit=Money.from_minor(loan.credit_minor, cur),
        commission_earned=Money.from_minor(loan.commission_minor, cur),
        disbursement_reference=loan.disbursement_reference,
        disbursed_at=loan.disbursed_at,
        # Nothing is past due on a written-off loan; the bucket it was written off from stays.
        days_past_due=0 if owes_nothing(loan.status) else loan.days_past_due,
        aging_bucket=Bucket(loan.aging_bucket),
        aged_on=loan.aged_on,
        closed_at=loan.closed_at,
        defaulted_at=loan.defaulted_at,
        written_off_at=loan.written_off_at,
        write_off_reason=loan.write_off_reason,
        created_at=loan.created_at,
        timeline=[LoanTransitionView.model_validate(t, from_attributes=True) for t in timeline],
        replayed=replayed,
    )


def _status(line: InstallmentRecord, today: date, loan_status: str) -> InstallmentStatus:
    if line.cancelled:
        return InstallmentStatus.CANCELLED
    if line.outstanding.total == 0:
        return InstallmentStatus.PAID
    if loan_status == LoanStatus.WRITTEN_OFF:
        return InstallmentStatus.WRITTEN_OFF
    if loan_status == LoanStatus.CANCELLED:  # never paid out: never owed
        return InstallmentStatus.CANCELLED
    if line.due_date < today:
        return InstallmentStatus.OVERDUE
    return InstallmentStatus.DUE_TODAY if line.due_date == today else InstallmentStatus.UPCOMING


def schedule_view(loan: LoanRecord, installments: Sequence[InstallmentRecord], today: date) -> ScheduleView:
    cur = loan.currency
    lines: list[InstallmentView] = []
    balance = loan.principal_minor
    ended = owes_nothing(loan.status)
    removed = {o.number: o for o in written_off(loan.status, installments)}
    for i in installments:
        balance -= i.scheduled_principal_minor
        nothing = Outstanding(i.number, i.due_date)
        owed_now = nothing if i.cancelled or ended else i.outstanding
        gone = removed.get(i.number, nothing)
        lines.append(
            InstallmentView(
                number=i.number,
                due_date=i.due_date,
                status=_status(i, today, loan.status),
                principal=Money.from_minor(i.scheduled_principal_minor, cur),
                interest=Money.from_minor(i.scheduled_interest_minor, cur),
                total=Money.from_minor(i.scheduled_principal_minor + i.scheduled_interest_minor, cur),
                balance_after=Money.from_minor(balance, cur),
                late_fee=Money.from_minor(i.fee_due_minor, cur),
                paid=_amounts(i.principal_paid_minor, i.interest_paid_minor, i.fee_paid_minor, cur),
                outstanding=_amounts(owed_now.principal, owed_now.interest, owed_now.fees, cur),
                written_off=_amounts(gone.principal, gone.interest, gone.fees, cur),
                settled_at=i.settled_at,
            )
        )
    return ScheduleView(
        loan_id=loan.id,
        status=LoanStatus(loan.status),
        currency=cur,
        schedule_method=Method(loan.schedule_method),
        repayment_frequency=Frequency(loan.repayment_frequency),
        annual_rate=loan.annual_rate,
        principal=Money.from_minor(loan.principal_minor, cur),
        total_interest=Money.from_minor(loan.total_interest_minor, cur),
        total_of_payments=Money.from_minor(loan.total_of_payments_minor, cur),
        apr=loan.apr,
        apr_percent=loan.apr_percent,
        first_due_date=loan.first_due_date,
        maturity_date=loan.maturity_date,
        as_of=today,
        lines=lines,
        paid_to_date=_amounts(
            sum(i.principal_paid_minor for i in installments),
            sum(i.interest_paid_minor for i in installments),
            sum(i.fee_paid_minor for i in installments),
            cur,
        ),
        outstanding=_sum(still_owed(loan.status, installments), cur),
        written_off=_sum(list(removed.values()), cur),
    )


_PREPAID: dict[Prepay | None, str] = {
    None: "repays the loan's principal ahead of schedule",
    Prepay.REDUCE_TERM: "repays principal ahead of schedule, as the borrower chose (reduce_term): from the "
    "last installment backwards, so the loan ends sooner; the next installments keep their amounts and dates",
    Prepay.REDUCE_INSTALLMENT: "repays principal ahead of schedule, as the borrower chose "
    "(reduce_installment): the installments still to come keep their dates and each owes less",
}


def repayment_summary(r: RepaymentRecord, currency: str) -> list[str]:
    """The allocation in plain sentences (partial, early and over-payments said as such)."""
    m = format_money
    ahead = {
        part: sum(int(str(x["amount_minor"])) for x in r.lines if x.get("ahead") and x["component"] == part)
        for part in ("interest", "principal")
    }  # what paid installments ahead is said below, not as due
    due_parts = [
        f"{m(amount, currency)} to {name}"
        for amount, name in (
            (r.to_fees_minor, "late fees"),
            (r.to_interest_minor - ahead["interest"], "interest due"),
            (r.to_principal_minor - ahead["principal"], "principal due"),
        )
        if amount
    ]
    text = [f"{m(r.amount_minor, currency)} received {r.paid_at.date().isoformat()}"]
    if due_parts:
        text.append(
            "Due amounts, oldest first (fees, then interest, then principal): " + ", ".join(due_parts)
        )
    if r.overdue_after_minor:
        text.append(
            f"Partial payment: {m(r.overdue_after_minor, currency)} of what is due is still unpaid; the "
            "oldest arrears were paid first"
        )
    if r.to_accrued_interest_minor:
        text.append(
            f"{m(r.to_accrued_interest_minor, currency)} of interest accrued since the last due date, "
            "charged because this payment settles the loan"
        )
    if r.prepay is None and r.prepaid_principal_minor and r.status_after != LoanStatus.CLOSED:
        # A payoff a little short (domain.repayments): said whatever it lacked, accrued interest or not.
        text.append(
            f"This payment settles the loan but for {m(r.outstanding_after_minor, currency)}, what it lacked "
            "of the payoff on its date (quote_early_settlement says what settles the loan now, with any "
            "late fee charged since a quote): that much is owed with the next installment, with interest "
            "on it alone, and the later installments are cancelled"
        )
    if r.paid_ahead_minor:
        text.append(
            f"Paid ahead: {m(r.paid_ahead_minor, currency)} settles the next installments in order, before "
            "their due dates; the loan's term and installments do not change"
        )
    if r.prepaid_principal_minor:
        how = _PREPAID[None if r.prepay is None else Prepay(r.prepay)]
        text.append(f"Early payment: {m(r.prepaid_principal_minor, currency)} {how}")
    if r.credit_minor:
        text.append(
            f"Over-payment: {m(r.credit_minor, currency)} more than the loan owed is held as a credit for "
            "the borrower, to refund or keep for later"
        )
    if r.status_after == LoanStatus.CLOSED:
        text.append("The loan is paid off and closed")
    else:
        text.append(f"The loan still owes {m(r.outstanding_after_minor, currency)} and is {r.status_after}")
    return text


def repayment_view(r: RepaymentRecord, currency: str, *, replayed: bool = False) -> RepaymentView:
    lines = [
        AllocationLineView(
            component=Component(str(line["component"])),
            installment=None if line["installment"] is None else int(str(line["installment"])),
            amount=Money.from_minor(int(str(line["amount_minor"])), currency),
            explanation=str(line["explanation"]),
        )
        for line in r.lines
    ]
    return RepaymentView(
        id=r.id,
        loan_id=r.loan_id,
        reference=r.reference,
        amount=Money.from_minor(r.amount_minor, currency),
        paid_at=r.paid_at,
        allocation=lines,
        to_fees=Money.from_minor(r.to_fees_minor, currency),
        to_interest=Money.from_minor(r.to_interest_minor, currency),
        to_principal=Money.from_minor(r.to_principal_minor, currency),
        to_accrued_interest=Money.from_minor(r.to_accrued_interest_minor, currency),
        prepaid_principal=Money.from_minor(r.prepaid_principal_minor, currency),
        prepay=None if r.prepay is None else Prepay(r.prepay),
        paid_ahead=Money.from_minor(r.paid_ahead_minor, currency),
        credit=Money.from_minor(r.credit_minor, currency),
        commission=Money.from_minor(r.commission_minor, currency),
        outstanding_after=Money.from_minor(r.outstanding_after_minor, currency),
        overdue_after=Money.from_minor(r.overdue_after_minor, currency),
        loan_status=LoanStatus(r.status_after),
        summary=repayment_summary(r, currency),
        journal_id=r.journal_id,
        recorded_at=r.recorded_at,
        replayed=replayed,
    )


def quote_view(loan: LoanRecord, q: SettlementQuote) -> SettlementQuoteView:
    cur = loan.currency
    return SettlementQuoteView(
        loan_id=loan.id,
        as_of=q.as_of,
        valid_until=q.valid_until,
        principal=Money.from_minor(q.principal, cur),
        interest_due=Money.from_minor(q.interest_due, cur),
        accrued_interest=Money.from_minor(q.accrued_interest, cur),
        accrued_days=q.accrued_days,
        fees=Money.from_minor(q.fees, cur),
        total=Money.from_minor(q.total, cur),
        per_diem=Money.from_minor(q.per_diem, cur),
        lines=list(q.lines),
    )


def as_seen_by(view: LoanView, role: Role) -> LoanView:
    """The loan as a principal of ``role`` may read it: its lender without a cancellation's reason, the
    borrower and agents without the lender's commission (what the platform charges the lender)."""
    if role is Role.PROVIDER:
        return for_lender(view)
    if role in (Role.BORROWER, Role.AGENT):
        return view.model_copy(update={"commission_earned": None})
    return view


def for_lender(view: LoanView) -> LoanView:
    """The loan as its lender reads it: a cancellation's reason is not the lender's to read."""
    timeline = [
        t.model_copy(update={"reason": CANCELLED_FOR_LENDERS}) if t.to_status == LoanStatus.CANCELLED else t
        for t in view.timeline
    ]
    return view.model_copy(update={"timeline": timeline})
