"""Outputs of the commission tools: a preview, a provider's statement and the platform's revenue."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from tools.platform.models import Money, Output

__all__ = [
    "CommissionKind",
    "CommissionLineView",
    "CommissionPreviewView",
    "CommissionStatement",
    "CommissionStatementLine",
    "PlatformRevenue",
    "ProviderCommission",
]


class CommissionLineView(Output):
    label: str = Field(description='"band 1", "performance", "minimum", "maximum" or "interest share".')
    basis: Money = Field(description="The amount the rate applies to.")
    rate: Decimal = Field(description="A fraction (0.085 = 8.5%); percentage points for performance.")
    amount: Money
    explanation: str


class CommissionPreviewView(Output):
    provider_id: UUID
    plan: str
    currency: str
    principal: Money
    performance_points: Decimal = Field(
        description="The performance adjustment, a fraction (0.01 = 1 point)."
    )
    lines: list[CommissionLineView]
    upfront: Money = Field(description="Earned when the loan is disbursed.")
    expected_interest: Money = Field(
        description="The schedule's total interest (zero without rate and term)."
    )
    interest_share: Money = Field(description="Estimated share of the interest, earned as it is repaid.")
    total: Money
    stored: bool = Field(default=False, description="Always false: a preview changes nothing.")


class CommissionKind(StrEnum):
    DISBURSEMENT = "disbursement"
    INTEREST_SHARE = "interest_share"
    REVERSAL = "reversal"


class CommissionStatementLine(Output):
    journal_id: UUID
    kind: CommissionKind
    loan_id: UUID | None
    amount: Money = Field(description="Negative for a reversal.")
    posted_at: datetime


class CommissionStatement(Output):
    provider_id: UUID
    currency: str
    period_start: date
    period_end: date = Field(description="Inclusive; days are UTC.")
    at_disbursement: Money
    interest_share: Money
    reversals: Money
    total: Money = Field(description="What the provider owes the platform for the period.")
    postings: int = Field(description="Commission postings in the whole period; the totals are theirs.")
    lines: list[CommissionStatementLine] = Field(description="This page of the period's lines, oldest first.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")
    other_currencies: list[str] = Field(
        description="Other currencies the provider was charged commission in during the period; ask for "
        "each with currency."
    )


class ProviderCommission(Output):
    provider_id: str
    commission: Money


class PlatformRevenue(Output):
    currency: str
    period_start: date
    period_end: date = Field(description="Inclusive; days are UTC.")
    commission_at_disbursement: Money
    commission_on_interest: Money
    commission_reversals: Money
    commission: Money = Field(description="All commission income of the period.")
    fee_income: Money = Field(description="Fees the platform itself earned.")
    total: Money
    journals: int
    by_provider: list[ProviderCommission] = Field(
        description="This page of the commission income by the provider it came from, largest first."
    )
    providers: int = Field(description="Providers the period's commission came from, in all pages.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")
