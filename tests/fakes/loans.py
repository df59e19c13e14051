"""Loans, their installments, history and repayments in memory, with the semantics of
``database/loans/loans.py``: a loan is found by its id, its application's id or reference; one loan per
application and per bid; one repayment per (loan, reference); one loan per disbursement reference."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from tests.fakes.store import FakeStore, Tables, Transaction, UniqueViolation, not_implemented
from tools.loans.domain.loans import (
    AcceptedBid,
    InstallmentRecord,
    LoanChanges,
    LoanRecord,
    LoanStatus,
    LoanTransition,
    NewLoan,
    RepaymentRecord,
)
from tools.loans.loans import loan_event
from tools.loans.ports import CommissionPosting, LoanBook, LoanListRow, LoanQuery, RevenueLine
from tools.marketplace.domain.bids import BidStatus
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.errors import Conflict
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Principal

__all__ = ["FakeCommissionReader", "FakeLoanReader", "FakeLoanWriter", "find_loan"]

_REFERENCE = re.compile(r"^CAAS-\d{4}-\d{6,}$")
_NEW = [f.name for f in fields(NewLoan)]
_STATUS_TIME = {"closed": "closed_at", "defaulted": "defaulted_at", "written_off": "written_off_at"}


def find_loan(tables: Tables, handle: str) -> LoanRecord | None:
    key = handle.strip()
    if _REFERENCE.match(key):
        return next((x for x in tables.loans.values() if x.application_reference == key), None)
    try:
        wanted = UUID(key)
    except ValueError:
        return None
    return next((x for x in tables.loans.values() if wanted in (x.id, x.application_id)), None)


def _changed(loan: LoanRecord, changes: LoanChanges | None, now: datetime, **more: Any) -> LoanRecord:
    values: dict[str, Any] = {}
    for f in fields(LoanChanges):
        value = None if changes is None else getattr(changes, f.name)
        if value is not None:
            values[f.name] = value
    return replace(loan, **values, **more, updated_at=now, version=loan.version + 1)


class FakeLoanReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get(self, handle: str) -> LoanRecord | None:
        return find_loan(self._store.tables, handle)

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]:
        return sorted(self._store.tables.installments.get(loan_id, []), key=lambda i: i.number)

    async def timeline(self, loan_id: UUID) -> list[LoanTransition]:
        return list(self._store.tables.loan_transitions.get(loan_id, []))

    async def details(self, loan_id: UUID) -> tuple[list[InstallmentRecord], list[LoanTransition]]:
        return await self.installments(loan_id), await self.timeline(loan_id)

    async def repayment(self, repayment_id: UUID) -> RepaymentRecord | None:
        return self._store.tables.repayments.get(repayment_id)

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]:
        mine = [r for r in self._store.tables.repayments.values() if r.loan_id == loan_id]
        return sorted(mine, key=lambda r: (r.paid_at, r.recorded_at))

    async def book(self, provider_id: UUID) -> LoanBook:
        made = [
            x
            for x in self._store.tables.loans.values()
            if x.provider_id == provider_id and x.status != LoanStatus.PENDING_DISBURSEMENT
        ]
        bad = sum(1 for x in made if x.status in (LoanStatus.DEFAULTED, LoanStatus.WRITTEN_OFF))
        return LoanBook(loans=len(made), defaulted=bad)

    async def listing(self, query: LoanQuery) -> list[LoanListRow]:
        raise not_implemented("LoanReader.listing")


class FakeLoanWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def accepted_bid(self, application_id: UUID) -> AcceptedBid | None:
        for b in self._tx.tables.bids.values():
            if b.application_id == application_id and b.status == BidStatus.ACCEPTED:
                return AcceptedBid(
                    b.id,
                    b.application_id,
                    b.provider_id,
                    b.version,
                    b.amount_minor,
                    b.currency,
                    b.annual_rate,
                    b.term_months,
                    b.origination_fee_minor,
                    b.repayment_frequency,
                    b.schedule_method,
                    b.valid_until,
                )
        return None

    async def lender(self, provider_id: UUID) -> tuple[ProviderRecord, LoanBook] | None:
        provider = self._tx.tables.providers.get(provider_id)
        if provider is None:
            return None
        made = [
            x
            for x in self._tx.tables.loans.values()
            if x.provider_id == provider_id and x.status != LoanStatus.PENDING_DISBURSEMENT
        ]
        bad = sum(1 for x in made if x.status in (LoanStatus.DEFAULTED, LoanStatus.WRITTEN_OFF))
        return provider, LoanBook(loans=len(made), defaulted=bad)

    async def for_application(self, application_id: UUID) -> LoanRecord | None:
        return next((x for x in self._tx.tables.loans.values() if x.application_id == application_id), None)

    async def insert(
        self, new: NewLoan, installments: Sequence[InstallmentRecord], actor: Principal
    ) -> LoanRecord:
        tables, now = self._tx.tables, self._tx.now
        if any(
            x.application_id == new.application_id or x.bid_id == new.bid_id for x in tables.loans.values()
        ):
            raise Conflict(
                "this application (or its accepted bid) already has a loan; call get_loan with the "
                "application's id"
            )
        app = tables.applications[new.application_id]
        loan = LoanRecord(
            **{name: getattr(new, name) for name in _NEW},
            id=uuid4(),
            status=LoanStatus.PENDING_DISBURSEMENT.value,
            disbursement_reference=None,
            disbursed_amount_minor=None,
            disbursed_at=None,
            commission_plan=None,
            commission_minor=0,
            credit_minor=0,
            days_past_due=0,
            aging_bucket="current",
            aged_on=None,
            closed_at=None,
            defaulted_at=None,
            written_off_at=None,
            write_off_reason=None,
            created_at=now,
            updated_at=now,
            version=1,
            application_reference=app.reference,
            application_created_by=app.created_by,
        )
        tables.loans[loan.id] = loan
        tables.installments[loan.id] = list(installments)
        first = LoanTransition(
            None, loan.status, actor.subject, actor.role.value, "originated from the accepted bid", now
        )
        tables.loan_transitions[loan.id] = [first]
        return loan

    async def lock(self, handle: str) -> LoanRecord | None:
        return find_loan(self._tx.tables, handle)

    async def lock_by_payment(self, payment_id: UUID) -> LoanRecord | None:
        payment = self._tx.tables.payments.get(payment_id)
        return None if payment is None else find_loan(self._tx.tables, str(payment.loan_id))

    async def aging_candidates(self, as_of: date, after: UUID | None, limit: int) -> list[UUID]:
        raise not_implemented("LoanWriter.aging_candidates")

    async def lock_servicing(self, loan_id: UUID) -> LoanRecord | None:
        raise not_implemented("LoanWriter.lock_servicing")

    async def lender_disbursing(
        self, provider_id: UUID, gateway_reference: str
    ) -> tuple[ProviderRecord, LoanBook, UUID | None] | None:
        lender = await self.lender(provider_id)
        if lender is None:
            return None
        loans = self._tx.tables.loans.values()
        disbursed = next((x.id for x in loans if x.disbursement_reference == gateway_reference), None)
        return *lender, disbursed

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]:
        return sorted(self._tx.tables.installments.get(loan_id, []), key=lambda i: i.number)

    async def save_installments(self, loan_id: UUID, changed: Sequence[InstallmentRecord]) -> None:
        by_number = {i.number: i for i in changed}
        stored = self._tx.tables.installments[loan_id]
        self._tx.tables.installments[loan_id] = [by_number.get(i.number, i) for i in stored]

    async def update(self, loan_id: UUID, changes: LoanChanges) -> LoanRecord:
        tables = self._tx.tables
        tables.loans[loan_id] = _changed(tables.loans[loan_id], changes, self._tx.now)
        return tables.loans[loan_id]

    async def move(
        self,
        loan: LoanRecord,
        to_status: str,
        call: Invocation,
        reason: str,
        changes: LoanChanges | None = None,
        told: str | None = None,
    ) -> LoanRecord:
        tables, now = self._tx.tables, self._tx.now
        stored = tables.loans[loan.id]
        more: dict[str, Any] = {"status": to_status}
        if to_status in _STATUS_TIME:
            more[_STATUS_TIME[to_status]] = now
        if to_status == LoanStatus.ACTIVE:
            more["disbursed_at"] = stored.disbursed_at or now
        moved = _changed(stored, changes, now, **more)
        reference = moved.disbursement_reference
        if reference is not None and any(
            x.id != loan.id and x.disbursement_reference == reference for x in tables.loans.values()
        ):
            raise Conflict("this gateway reference already confirmed another loan's disbursement")
        tables.loans[loan.id] = moved
        actor = call.principal
        entry = LoanTransition(loan.status, to_status, actor.subject, actor.role.value, reason[:2000], now)
        tables.loan_transitions.setdefault(loan.id, []).append(entry)
        tables.audit.append(AuditRecord(call, "loan", str(loan.id)))
        tables.outbox.append(loan_event(moved, to_status, told or reason, loan.status))
        return moved

    async def repayment_by_reference(self, loan_id: UUID, reference: str) -> RepaymentRecord | None:
        repayments = self._tx.tables.repayments.values()
        return next((r for r in repayments if (r.loan_id, r.reference) == (loan_id, reference)), None)

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]:
        mine = [r for r in self._tx.tables.repayments.values() if r.loan_id == loan_id]
        return sorted(mine, key=lambda r: (r.paid_at, r.recorded_at))

    async def insert_repayment(self, record: RepaymentRecord) -> RepaymentRecord:
        if await self.repayment_by_reference(record.loan_id, record.reference) is not None:
            raise UniqueViolation(f"loan {record.loan_id} already has a repayment {record.reference}")
        stored = replace(record, recorded_at=self._tx.now)  # the column's default, not the caller's
        self._tx.tables.repayments[stored.id] = stored
        return stored


class FakeCommissionReader:
    async def provider_postings(
        self,
        provider_id: UUID,
        currency: str,
        period: tuple[datetime, datetime],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> tuple[list[CommissionPosting], int, dict[str, int], list[str]]:
        raise not_implemented("CommissionReader.provider_postings")

    async def platform_income(self, currency: str, start: datetime, end: datetime) -> list[RevenueLine]:
        raise not_implemented("CommissionReader.platform_income")

    async def commission_by_provider(
        self, currency: str, period: tuple[datetime, datetime], after: tuple[int, str] | None, limit: int
    ) -> tuple[list[tuple[str, int]], int]:
        raise not_implemented("CommissionReader.commission_by_provider")
