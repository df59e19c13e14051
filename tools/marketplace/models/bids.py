"""Inputs and outputs of bidding and offers. Amounts are decimal strings in major units with at most
the currency's decimals; rates are decimal fractions (0.24 is 24%)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from tools.loans.domain.schedules import Frequency, Method
from tools.marketplace.domain.bids import BidStatus, BidTerms
from tools.marketplace.domain.offers import OfferFigures
from tools.platform.domain.money import MoneyError, to_minor
from tools.platform.models import (
    CurrencyCode,
    DecimalString,
    FreeText,
    Input,
    Moment,
    Money,
    Output,
    check_currency,
    described_like,
)

__all__ = [
    "AcceptedOffer",
    "BidChanges",
    "BidInput",
    "BidOutcome",
    "BidPage",
    "BidStatus",
    "BidView",
    "BiddingRoundView",
    "DisclosedFigures",
    "ExcludedBid",
    "Frequency",
    "Method",
    "OfferComparison",
    "OfferInstallment",
    "OfferView",
]

Amount = Annotated[
    DecimalString,
    Field(gt=0, description='Principal offered, a decimal string in major units, e.g. "250000.00".'),
]
Fee = Annotated[
    DecimalString,
    Field(ge=0, description="Origination fee deducted at closing (a prepaid finance charge), major units."),
]
Rate = Annotated[
    DecimalString,
    Field(
        ge=0, le=5, decimal_places=6, description="Nominal annual interest rate as a fraction, 0.24 = 24%."
    ),
]
Term = Annotated[int, Field(ge=1, le=120, description="Loan term in months.")]
ValidUntil = Annotated[
    Moment,
    Field(description="The offer lapses at this moment (with a UTC offset); future, at most 90 days ahead."),
]
Conditions = Annotated[
    FreeText | None,
    Field(default=None, min_length=1, max_length=2000, description="Conditions attached to the offer."),
]


class _Amounts(Input):
    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("amount", "origination_fee", check_fields=False)
    @classmethod
    def _fits_currency(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        currency = info.data.get("currency")
        if value is not None and currency is not None:
            try:
                to_minor(value, currency)
            except MoneyError as exc:
                raise ValueError(str(exc)) from None
        return value


class BidInput(_Amounts):
    """A provider's offer on an application."""

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
    valid_until: ValidUntil
    conditions: Conditions = None

    def to_terms(self) -> BidTerms:
        return BidTerms(
            amount_minor=to_minor(self.amount, self.currency),
            currency=self.currency,
            annual_rate=self.annual_rate,
            term_months=self.term_months,
            origination_fee_minor=to_minor(self.origination_fee, self.currency),
            repayment_frequency=self.repayment_frequency,
            schedule_method=self.schedule_method,
            valid_until=self.valid_until,
            conditions=self.conditions,
        )


class BidChanges(Input):
    """What a revision changes; fields left out keep the current version's value (the currency is
    the application's and cannot change). null clears conditions."""

    model_config = ConfigDict(
        json_schema_extra=described_like(
            BidInput, {"annual_rate": "0.22", "valid_until": "2026-12-31T09:00:00Z"}, {"amount": "200000.00"}
        )
    )

    amount: Amount | None = None
    annual_rate: Rate | None = None
    term_months: Term | None = None
    origination_fee: Fee | None = None
    repayment_frequency: Frequency | None = None
    schedule_method: Method | None = None
    valid_until: ValidUntil | None = None
    conditions: Conditions = None


class BidView(Output):
    id: UUID = Field(description="This version's id; revise_bid, withdraw_bid and accept_offer take it.")
    application_id: UUID
    provider_id: UUID
    provider_name: str
    version: int = Field(description="1 for the first bid; each revision adds one.")
    status: BidStatus = Field(description="As of now: an active bid past valid_until reads expired.")
    live: bool = Field(
        description="Active, still valid, on an application open for bids: it can be accepted now."
    )
    amount: Money
    annual_rate: Decimal
    term_months: int
    installments: int = Field(description="round(term_months * payments per year / 12), at least 1.")
    origination_fee: Money
    repayment_frequency: Frequency
    schedule_method: Method
    valid_until: datetime
    conditions: str | None
    created_by: str
    created_at: datetime
    accepted_at: datetime | None


class BidPage(Output):
    items: list[BidView] = Field(description="Newest first; every version of every bid.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class BiddingRoundView(Output):
    application_id: UUID
    reference: str
    opened_at: datetime
    closes_at: datetime = Field(description="No bid is placed or revised from this moment.")
    open: bool
    closed_at: datetime | None = Field(description="When close_bidding ended it early.")
    closed_by: str | None
    close_reason: str | None
    invitations_expired: int = Field(description="Invited providers that had not bid; they no longer can.")


class OfferInstallment(Output):
    number: int
    due_date: date = Field(description="As if the loan started on the comparison date.")
    principal: Money
    interest: Money
    total: Money
    balance_after: Money


_MONEY_FIGURES = (
    "amount_financed",
    "finance_charge",
    "total_of_payments",
    "installment",
    "largest_installment",
)


class DisclosedFigures(Output):
    """The figures disclosed for one set of terms: a borrower's offer (compare_offers) and a lender's
    preview (preview_bid) alike, both from ``offer_figures``."""

    apr: Decimal = Field(description="Regulation Z Appendix J APR as a fraction, 6 places, fees included.")
    apr_percent: Decimal = Field(description="The APR in percent, 2 places.")
    amount_financed: Money = Field(description="Amount less the origination fee.")
    finance_charge: Money = Field(description="Total cost of credit: total of payments - amount financed.")
    total_of_payments: Money
    installments: int
    installment: Money = Field(description="The first installment (the largest for declining_balance).")
    largest_installment: Money

    @staticmethod
    def of(f: OfferFigures) -> dict[str, Any]:
        """The fields of ``f`` in Money of its currency (keyword arguments of a subclass)."""
        money = {
            k: Money.from_minor(getattr(f, k), f.currency)
            for k in (
                "amount_financed",
                "finance_charge",
                "total_of_payments",
                "installment",
                "largest_installment",
            )
        }
        return {"apr": f.apr, "apr_percent": f.apr_percent, "installments": f.installments, **money}


class OfferView(DisclosedFigures):
    rank: int
    bid: BidView
    why: str = Field(description="How it compares with the offer ranked just above it.")
    schedule: list[OfferInstallment] = Field(
        description="The installments these figures come from, as if the loan started on the comparison date."
    )


class ExcludedBid(Output):
    bid_id: UUID
    provider_id: UUID
    provider_name: str
    reason: str


class OfferComparison(Output):
    application_id: UUID
    reference: str
    requested_amount: Money
    term_months: int
    compared_at: datetime
    offers: list[OfferView] = Field(description="The live bids, best first.")
    best_bid_id: UUID | None
    explanation: str = Field(description="Which offer is best and why.")
    excluded: list[ExcludedBid] = Field(description="Active bids that cannot be accepted now, and why.")


class BidOutcome(Output):
    bid_id: UUID
    provider_id: UUID
    provider_name: str
    status: BidStatus


class AcceptedOffer(Output):
    application_id: UUID
    reference: str
    application_status: str
    accepted: BidView
    reservation_journal_id: UUID = Field(description="The capital reservation in the ledger.")
    capital_reserved: Money
    other_bids: list[BidOutcome] = Field(description="The other bids, now rejected (or expired).")
    replayed: bool = Field(default=False, description="True when an earlier call with this key answered.")
