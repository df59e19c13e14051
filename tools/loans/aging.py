"""Aging the loans being repaid: days past due and bucket, late fees once per overdue installment,
delinquent <-> active, defaulted past the threshold; one loan per transaction, safe to overlap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date

from tools.ledger.ledger import post_journal
from tools.loans.domain.aging import Bucket, age, assess_late_fees
from tools.loans.domain.journals import late_fee_journal
from tools.loans.domain.loans import (
    LoanChanges,
    LoanRecord,
    LoanStatus,
    arrears_cured,
    open_outstanding,
)
from tools.loans.loans import loan_event, move_loan
from tools.loans.models.loans import (
    AgingReport,
    LateFeeView,
    LoanAgingView,
    LoanMoveView,
)
from tools.loans.ports import LoanDeps, LoanUnitOfWork
from tools.platform.errors import InvalidArgument
from tools.platform.models import Money
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent

__all__ = ["age_loans"]

# Candidates read per query; each is then locked and aged in its own transaction.
_BATCH = 100


def _moves(status: LoanStatus, days_past_due: int, in_default: bool) -> list[LoanStatus]:
    if in_default:
        if status is LoanStatus.ACTIVE:
            return [LoanStatus.DELINQUENT, LoanStatus.DEFAULTED]
        return [LoanStatus.DEFAULTED] if status is LoanStatus.DELINQUENT else []
    if days_past_due > 0 and status is LoanStatus.ACTIVE:
        return [LoanStatus.DELINQUENT]
    if arrears_cured(status, days_past_due):
        return [LoanStatus.ACTIVE]
    return []


async def _age_one(
    deps: LoanDeps, uow: LoanUnitOfWork, call: Invocation, loan: LoanRecord, as_of: date, report: _Report
) -> None:
    installments = await uow.loans.installments(loan.id)
    by_number = {i.number: i for i in installments}
    charged = {i.number for i in installments if i.late_fee_assessed_on is not None}
    fees = assess_late_fees(
        deps.policy.late_fees(loan.currency),
        open_outstanding(installments),
        as_of,
        loan.currency,
        already_charged=charged,
    )
    changed = []
    for fee in fees:
        await post_journal(uow, call, late_fee_journal(loan, fee.installment, fee.amount))
        line = by_number[fee.installment]
        changed.append(
            replace(line, fee_due_minor=line.fee_due_minor + fee.amount, late_fee_assessed_on=as_of)
        )
        report.fees.append(
            LateFeeView(
                loan_id=loan.id,
                installment=fee.installment,
                amount=Money.from_minor(fee.amount, loan.currency),
                days_past_due=fee.days_past_due,
                explanation=fee.explanation,
            )
        )
    await uow.loans.save_installments(loan.id, changed)
    owed = open_outstanding([*(by_number | {c.number: c for c in changed}).values()])
    threshold = deps.policy.default_threshold_days
    aging = age(owed, as_of, threshold=threshold)
    changes = LoanChanges(days_past_due=aging.days_past_due, aging_bucket=aging.bucket.value, aged_on=as_of)
    current = loan
    for target in _moves(LoanStatus(loan.status), aging.days_past_due, aging.in_default):
        if target is LoanStatus.DEFAULTED:
            reason = (
                f"{aging.days_past_due} days past due on {as_of}: more than the {threshold}-day "
                "default threshold"
            )
        elif target is LoanStatus.DELINQUENT:
            reason = f"{aging.days_past_due} days past due on {as_of}"
        else:
            reason = f"nothing past due on {as_of}: the arrears were paid"
            reason += "; the default is cured" if current.status == LoanStatus.DEFAULTED else ""
        before = current.status
        current = await move_loan(uow, call, current, target, reason, changes)
        report.moves.append(
            LoanMoveView(loan_id=loan.id, from_status=before, to_status=target, reason=reason)
        )
    if current is loan:
        current = await uow.loans.update(loan.id, changes)
    events = []
    if fees:
        events.append(
            loan_event(current, "late_fees_assessed", f"{len(fees)} late fee(s) on {as_of}", loan.status)
        )
    await uow.record(AuditRecord(call, "loan", str(loan.id)), events)
    report.loans.append(
        LoanAgingView(
            loan_id=loan.id,
            status=LoanStatus(current.status),
            days_past_due=aging.days_past_due,
            bucket=aging.bucket,
            oldest_unpaid_due_date=aging.oldest_unpaid_due_date,
            overdue=Money.from_minor(aging.overdue, loan.currency),
        )
    )


class _Report:
    def __init__(self) -> None:
        self.fees: list[LateFeeView] = []
        self.moves: list[LoanMoveView] = []
        self.loans: list[LoanAgingView] = []


async def age_loans(
    deps: LoanDeps,
    call: Invocation,
    as_of: date | None = None,
    limit: int = 500,
    progress: Callable[[int, int | None, str], Awaitable[None]] | None = None,
) -> AgingReport:
    """Age every loan being repaid: days past due and bucket, a late fee once per overdue installment
    past the grace period, delinquent <-> active, defaulted past the threshold. A loan another run (or a
    repayment) holds is skipped, and a fee is charged once per installment whichever run gets there
    first, so runs may overlap or repeat without charging anything twice. Only loans whose aging can
    change are read (an installment due before ``as_of``, or in arrears): a current loan with nothing
    due keeps its figures (days past due 0, bucket current) and is not examined, and a loan already
    aged for ``as_of`` is skipped (a repayment re-ages the loan it changes), so a day's runs of
    ``limit`` loans each work through the book rather than ageing its first loans again."""
    day = as_of or deps.clock.today()
    if day > deps.clock.today():
        raise InvalidArgument(
            f"as_of {day} is in the future; loans are aged up to today ({deps.clock.today()})"
        )
    report = _Report()
    examined = 0
    after = None
    # One loan per transaction: a run holds one loan (and its accounts) at a time, so overlapping runs
    # and repayments never wait long for each other, and one loan's failure undoes only that loan.
    while len(report.loans) < limit:
        async with deps.uow() as uow:
            batch = await uow.loans.aging_candidates(day, after, _BATCH)
        for loan_id in batch:
            if len(report.loans) >= limit:
                break
            examined += 1
            async with deps.uow() as uow:
                loan = await uow.loans.lock_servicing(loan_id)
                if loan is not None and loan.aged_on is not None and loan.aged_on > day:
                    loan = None  # aged for a later day meanwhile: a past day's run never winds it back
                if loan is not None:  # None: another run or a repayment holds it, or it was closed
                    await _age_one(deps, uow, call, loan, day, report)
            # After the commit: a slow client never holds a loan's locks.
            if loan is not None and progress is not None:
                await progress(len(report.loans), None, f"{len(report.loans)} loans aged, the last {loan.id}")
        if len(batch) < _BATCH:
            break
        after = batch[-1]
    async with deps.uow() as uow:
        summary = OutboxEvent(
            aggregate_type="loan_aging",
            aggregate_id=day.isoformat(),
            event_type="loans.aged",
            payload={
                "as_of": day.isoformat(),
                "loans_examined": examined,
                "loans": len(report.loans),
                "late_fees": len(report.fees),
            },
        )
        await uow.record(AuditRecord(call, "loan_aging", day.isoformat()), [summary])
    counts = Counter(line.bucket for line in report.loans)
    return AgingReport(
        as_of=day,
        loans_examined=examined,
        loans_aged=len(report.loans),
        buckets={bucket: counts.get(bucket, 0) for bucket in Bucket},
        late_fees=report.fees,
        moves=report.moves,
        loans=report.loans,
    )
