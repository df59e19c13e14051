"""Outputs of the ledger tools: balances, statements, journals and the reconciliation report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from tools.ledger.domain.chart import AccountKind, OwnerType
from tools.ledger.domain.ledger import JournalKind, Side
from tools.platform.models import Money, Output

__all__ = [
    "AccountBalanceView",
    "AccountStatement",
    "BalanceDifferenceView",
    "JournalLineView",
    "JournalView",
    "PostingView",
    "ReconciliationReport",
]


class AccountBalanceView(Output):
    account_id: UUID
    code: str = Field(description="e.g. provider:p-7:capital_available:NGN")
    kind: AccountKind
    owner_type: OwnerType
    owner_id: str | None
    normal_balance: Side = Field(description="debit for assets and expenses, credit for the others.")
    balance: Money = Field(
        description="In the account's normal direction: positive is normal, negative means the account "
        "is on its abnormal side (e.g. an overdrawn asset)."
    )
    balance_minor: int = Field(description="The same balance in integer minor units.")
    net_debit_minor: int = Field(
        description="Debits minus credits in minor units: the ledger's own sign convention."
    )
    as_of: datetime | None = Field(description="Null: the current balance.")
    opened_at: datetime = Field(description="When the account received its first posting.")


class PostingView(Output):
    posting_id: int
    journal_id: UUID
    journal_kind: JournalKind
    source_id: str
    memo: str
    side: Side
    amount: Money = Field(description="Always positive; side says which way it moved.")
    amount_minor: int = Field(description="Signed minor units: debit positive, credit negative.")
    created_at: datetime


class AccountStatement(Output):
    account: AccountBalanceView = Field(description="The account and its current balance.")
    items: list[PostingView] = Field(description="Postings, newest first.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class JournalLineView(Output):
    account_code: str
    account_kind: AccountKind
    side: Side
    amount: Money
    amount_minor: int = Field(description="Signed minor units: debit positive, credit negative.")


class JournalView(Output):
    id: UUID
    kind: JournalKind
    source_id: str = Field(description="What moved: (kind, source_id) is posted at most once.")
    memo: str
    created_by: str
    created_at: datetime
    reverses_journal_id: UUID | None
    reversed_by_journal_id: UUID | None = Field(description="Set once a reversal of this journal posted.")
    lines: list[JournalLineView]


class BalanceDifferenceView(Output):
    account_id: UUID
    code: str
    currency: str
    cached_minor: int = Field(description="The stored balance (debits minus credits).")
    computed_minor: int = Field(description="The sum of the account's postings.")
    difference_minor: int = Field(description="cached_minor - computed_minor.")
    difference: Money


class ReconciliationReport(Output):
    checked_at: datetime
    mode: Literal["full", "incremental"] = Field(
        description="full: every balance recomputed from every posting. incremental: every cached balance "
        "checked against the last run's verified sums plus the journals posted since."
    )
    since: datetime | None = Field(
        description="When the run this one continued from checked the ledger; null for a full run."
    )
    consistent: bool = Field(description="True when no balance differs and every journal balances.")
    accounts_checked: int
    journals_checked: int = Field(description="Journals checked for balance (in incremental mode: since).")
    postings_checked: int = Field(description="Postings summed (in incremental mode: those since).")
    differences_total: int
    differences: list[BalanceDifferenceView] = Field(description="The first 500, by account code.")
    unbalanced_journals: list[UUID] = Field(
        description="Journals whose postings do not sum to zero per currency (the database prevents these)."
    )
