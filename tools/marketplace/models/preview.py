"""Input and output of a bid preview: the terms a lender is typing, and what compare_offers would show
for them (APR, total cost of credit, installment) with every way they would not fit yet."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import Field

from tools.loans.domain.schedules import Frequency, Method
from tools.marketplace.models.bids import Amount, DisclosedFigures, Fee, Rate, Term, ValidUntil, _Amounts
from tools.platform.models import CurrencyCode

__all__ = ["BidPreview", "BidPreviewInput"]


class BidPreviewInput(_Amounts):
    """The money terms of a bid being drafted: place_bid's, checked the same way; nothing is stored."""

    currency: CurrencyCode
    amount: Amount
    annual_rate: Rate
    term_months: Term
    origination_fee: Fee = Decimal(0)
    repayment_frequency: Annotated[
        Frequency, Field(description="How often installments fall due: monthly, biweekly or weekly.")
    ] = Frequency.MONTHLY
    schedule_method: Annotated[
        Method, Field(description="annuity (level installments), flat, or declining_balance.")
    ] = Method.ANNUITY
    valid_until: Annotated[
        ValidUntil | None, Field(description="Checked like place_bid's when given; left out, not checked.")
    ] = None


class BidPreview(DisclosedFigures):
    application_id: UUID
    reference: str
    as_of: date = Field(description="The comparison date: the first installment falls one period later.")
    fits: bool = Field(description="place_bid would accept these terms now (problems is empty).")
    problems: list[str] = Field(
        description="Every rule place_bid would refuse these terms for: the application, your provider's "
        "terms and capital, bidding still open for you."
    )
