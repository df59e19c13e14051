"""What the loan and commission use cases need from storage, beside ``tools.credit.ports``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from tools.credit.ports import CreditUnitOfWork
from tools.loans.domain.aging import LateFeePolicy
from tools.loans.domain.loans import (
    AcceptedBid,
    InstallmentRecord,
    LoanChanges,
    LoanRecord,
    LoanTransition,
    NewLoan,
    RepaymentRecord,
)
from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.ports import ProviderReader
from tools.platform.domain.money import to_minor
from tools.platform.ports import Clock, Invocation, UnitOfWorkFactory
from tools.platform.principal import Principal

__all__ = [
    "CommissionPosting",
    "CommissionReader",
    "LoanBook",
    "LoanDeps",
    "LoanListRow",
    "LoanPolicy",
    "LoanQuery",
    "LoanReader",
    "LoanUnitOfWork",
    "LoanUnitOfWorkFactory",
    "LoanWriter",
    "RevenueLine",
]


@dataclass(frozen=True, slots=True)
class LoanBook:
    """A provider's disbursed loans and how many of them defaulted (or were written off)."""

    loans: int
    defaulted: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoanQuery:
    """One page of loans, newest first. ``borrower_id``, ``created_by`` (the agent who filed the
    application) and ``provider_id`` narrow it to what the caller may see; None means no limit."""

    statuses: Sequence[str] | None
    provider_id: UUID | None
    borrower_id: str | None
    created_by: str | None
    currency: str | None
    min_days_past_due: int | None
    after: tuple[datetime, UUID] | None
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoanListRow:
    """A loan as a listing shows it; the amounts owed are read from its open installments."""

    id: UUID
    application_id: UUID
    application_reference: str
    provider_id: UUID
    provider_name: str
    status: str
    currency: str
    principal_minor: int
    outstanding_minor: int
    next_due_number: int | None
    next_due_date: date | None
    next_due_minor: int | None
    days_past_due: int
    created_at: datetime
    disbursed_at: datetime | None


class LoanReader(Protocol):
    async def get(self, handle: str) -> LoanRecord | None:
        """By the loan's id, or its application's id or CAAS-YYYY-NNNNNN reference."""
        ...

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]: ...

    async def timeline(self, loan_id: UUID) -> list[LoanTransition]: ...

    async def details(self, loan_id: UUID) -> tuple[list[InstallmentRecord], list[LoanTransition]]:
        """``installments`` and ``timeline`` in one round trip (one snapshot)."""
        ...

    async def repayment(self, repayment_id: UUID) -> RepaymentRecord | None: ...

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]: ...

    async def book(self, provider_id: UUID) -> LoanBook: ...

    async def listing(self, query: LoanQuery) -> list[LoanListRow]:
        """Newest first by (created_at, id), after the keyset position."""
        ...


class LoanWriter(Protocol):
    """Loans inside the unit of work; every read here holds the rows it returns until COMMIT."""

    async def accepted_bid(self, application_id: UUID) -> AcceptedBid | None: ...

    async def for_application(self, application_id: UUID) -> LoanRecord | None: ...

    async def lender(self, provider_id: UUID) -> tuple[ProviderRecord, LoanBook] | None:
        """The provider (not locked: its row is locked last, tools.platform.locking) and its book as
        ``LoanReader.book`` counts it, in one statement of this transaction."""
        ...

    async def lender_disbursing(
        self, provider_id: UUID, gateway_reference: str
    ) -> tuple[ProviderRecord, LoanBook, UUID | None] | None:
        """As ``lender``, with the loan whose disbursement ``gateway_reference`` confirmed (None: no
        loan's yet), in the same statement."""
        ...

    async def insert(
        self, new: NewLoan, installments: Sequence[InstallmentRecord], actor: Principal
    ) -> LoanRecord:
        """The loan, its schedule and the first entry of its history."""
        ...

    async def lock(self, handle: str) -> LoanRecord | None:
        """As ``LoanReader.get``, and hold the row until the transaction ends."""
        ...

    async def lock_by_payment(self, payment_id: UUID) -> LoanRecord | None:
        """The loan of a payment, held as ``lock`` holds it, found in the same statement; None without
        that payment."""
        ...

    async def aging_candidates(self, as_of: date, after: UUID | None, limit: int) -> list[UUID]:
        """The loans being repaid whose aging can change on ``as_of``, by id after ``after``: an open
        installment due before it, or delinquent, defaulted or still marked past due (a repayment may
        have cured them). Read through indexes; a current loan with nothing due is not read."""
        ...

    async def lock_servicing(self, loan_id: UUID) -> LoanRecord | None:
        """The loan if it is being repaid and no other transaction holds it: SKIP LOCKED, so
        overlapping aging runs never wait for, nor age at once, the same loan."""
        ...

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]: ...

    async def save_installments(self, loan_id: UUID, changed: Sequence[InstallmentRecord]) -> None: ...

    async def update(self, loan_id: UUID, changes: LoanChanges) -> LoanRecord:
        """Set the fields ``changes`` names."""
        ...

    async def move(
        self,
        loan: LoanRecord,
        to_status: str,
        call: Invocation,
        reason: str,
        changes: LoanChanges | None = None,
        told: str | None = None,
    ) -> LoanRecord:
        """Change the status, its timestamp (the disbursement time on becoming active) and the fields
        ``changes`` names, append the history entry (``call``'s principal the actor), and write
        ``call``'s audit row and the ``loan.<to_status>`` event (``loans.loan_event`` of the moved
        loan; its reason ``told`` when given, for a reason that must not leave the platform), all in
        one statement."""
        ...

    async def repayment_by_reference(self, loan_id: UUID, reference: str) -> RepaymentRecord | None: ...

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]:
        """The loan's repayments in this transaction, by the time they were paid."""
        ...

    async def insert_repayment(self, record: RepaymentRecord) -> RepaymentRecord: ...


class LoanUnitOfWork(CreditUnitOfWork, Protocol):
    loans: LoanWriter


LoanUnitOfWorkFactory = UnitOfWorkFactory[LoanUnitOfWork]


@dataclass(frozen=True, slots=True)
class CommissionPosting:
    """One commission posting to a provider's commission_expense account (negative: a reversal)."""

    posting_id: int
    journal_id: UUID
    journal_kind: str
    source_id: str
    loan_id: UUID | None
    amount_minor: int
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class RevenueLine:
    """Platform income posted by one kind of journal in a period."""

    account_purpose: str  # commission_income or fee_income
    journal_kind: str
    amount_minor: int
    journals: int


class CommissionReader(Protocol):
    async def provider_postings(
        self,
        provider_id: UUID,
        currency: str,
        period: tuple[datetime, datetime],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> tuple[list[CommissionPosting], int, dict[str, int], list[str]]:
        """Up to ``limit`` postings in ``currency`` in the period [start, end), oldest first, after the
        posting at ``after`` (time, posting id) when given; how many the whole period has, with their
        totals by journal kind; and every currency the provider was charged commission in during the
        period."""
        ...

    async def platform_income(self, currency: str, start: datetime, end: datetime) -> list[RevenueLine]: ...

    async def commission_by_provider(
        self, currency: str, period: tuple[datetime, datetime], after: tuple[int, str] | None, limit: int
    ) -> tuple[list[tuple[str, int]], int]:
        """Commission income of the period by the provider it was charged to, largest first: up to
        ``limit`` (provider id, amount) after the position ``after`` (amount, provider id) when given;
        and how many providers the period has in all."""
        ...


@dataclass(frozen=True, slots=True)
class LoanPolicy:
    """Servicing policy from configuration: the default threshold and the late fee."""

    default_threshold_days: int = 90
    late_fee_percent: Decimal = Decimal("0.05")
    late_fee_grace_days: int = 5
    late_fee_flat: Mapping[str, Decimal] = field(default_factory=dict)  # major units, per currency

    def late_fees(self, currency: str) -> LateFeePolicy:
        flat = self.late_fee_flat.get(currency, Decimal(0))
        return LateFeePolicy(
            flat_fee=to_minor(flat, currency),
            percent_of_overdue=self.late_fee_percent,
            grace_days=self.late_fee_grace_days,
        )


@dataclass(frozen=True, slots=True)
class LoanDeps:
    """What the loan use cases get (origination, servicing, aging, listing, commissions); built in
    ``mcp_servers.wiring``."""

    uow: LoanUnitOfWorkFactory
    reader: LoanReader
    providers: ProviderReader
    commissions: CommissionReader
    clock: Clock
    policy: LoanPolicy = field(default_factory=LoanPolicy)
