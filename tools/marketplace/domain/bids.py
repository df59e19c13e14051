"""Bids: a provider's offer on an application, its versions and statuses, and the bidding round.

A bid offers ``amount_minor`` of ``currency`` at ``annual_rate`` (a fraction, 0.24 is 24%) over
``term_months``, repaid ``repayment_frequency`` (monthly, biweekly, weekly) by ``schedule_method``
(annuity, flat, declining_balance), with an origination fee (a prepaid finance charge, deducted at
closing) and a validity deadline. A provider has at most one live bid per application; a revision
supersedes it with ``version + 1`` and the earlier versions stay as history.

**Installments.** A term in months becomes ``round_half_up(term_months * periods per year / 12)``
installments, at least one: 12 months is 12 monthly, 26 biweekly or 52 weekly installments; 3 months
biweekly is 6.5, so 7. Loans built from an accepted bid must count them the same way
(``installment_count``).

**Checks against the provider's own terms and the application** (``unmet_terms``): the bid is in the
application's currency, which is the provider's lending currency; the amount is at most the requested
amount and within the provider's minimum and maximum; the annual rate is within the provider's
range; the term is within the provider's range; the fee is below the amount; it is valid until a
moment in the future and at most ``MAX_VALIDITY`` ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from uuid import UUID

from tools.loans.domain.schedules import PERIODS_PER_YEAR, Frequency, Method
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.domain.money import from_minor

__all__ = [
    "MAX_VALIDITY",
    "MAX_VERSIONS",
    "BidRecord",
    "BidStatus",
    "BidTerms",
    "BiddingRound",
    "NewBid",
    "installment_count",
    "unmet_terms",
]

MAX_VALIDITY = timedelta(days=90)
MAX_VERSIONS = 50  # revisions of one provider's bid on one application


class BidStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


def installment_count(term_months: int, frequency: Frequency | str) -> int:
    """The number of installments of a ``term_months`` loan paid ``frequency`` (module docstring)."""
    exact = Decimal(term_months * PERIODS_PER_YEAR[Frequency(frequency)]) / 12
    return max(1, int(exact.to_integral_value(rounding=ROUND_HALF_UP)))


@dataclass(frozen=True, slots=True)
class BidTerms:
    """What a provider offers; amounts in minor units of ``currency``."""

    amount_minor: int
    currency: str
    annual_rate: Decimal
    term_months: int
    origination_fee_minor: int
    repayment_frequency: Frequency
    schedule_method: Method
    valid_until: datetime
    conditions: str | None

    @property
    def installments(self) -> int:
        return installment_count(self.term_months, self.repayment_frequency)


@dataclass(frozen=True, slots=True)
class NewBid:
    """A bid about to be stored: the ``version``-th of its provider on the application."""

    application_id: UUID
    provider_id: UUID
    version: int
    terms: BidTerms


@dataclass(frozen=True, slots=True)
class BidRecord:
    """One stored version of a bid, with its provider's name and status."""

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
    valid_until: datetime
    conditions: str | None
    status: str
    created_by: str
    created_at: datetime
    accepted_at: datetime | None
    provider_name: str
    provider_status: str

    def terms(self) -> BidTerms:
        return BidTerms(
            amount_minor=self.amount_minor,
            currency=self.currency,
            annual_rate=self.annual_rate,
            term_months=self.term_months,
            origination_fee_minor=self.origination_fee_minor,
            repayment_frequency=Frequency(self.repayment_frequency),
            schedule_method=Method(self.schedule_method),
            valid_until=self.valid_until,
            conditions=self.conditions,
        )

    def status_at(self, now: datetime) -> BidStatus:
        """The stored status, except that an active bid past its validity reads as expired."""
        if self.status == BidStatus.ACTIVE and self.valid_until <= now:
            return BidStatus.EXPIRED
        return BidStatus(self.status)

    def live_at(self, now: datetime) -> bool:
        """Active and still valid: a bid the borrower can accept."""
        return self.status_at(now) is BidStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class BiddingRound:
    """When bidding on an application opened and closes (or closed early, by whom and why)."""

    application_id: UUID
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None

    def open_at(self, now: datetime) -> bool:
        return self.closed_at is None and now < self.closes_at


def _amount(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


def unmet_terms(
    terms: BidTerms,
    provider: ProviderRecord,
    requested_amount_minor: int,
    application_currency: str,
    now: datetime,
) -> list[str]:
    """Every way ``terms`` break the provider's own terms or the application, as readable sentences."""
    problems: list[str] = []
    if terms.currency != application_currency:
        problems.append(f"currency: the application is in {application_currency}, not {terms.currency}")
    elif terms.currency != provider.currency:  # pragma: no cover - invitations match on currency
        problems.append(f"currency: your provider lends in {provider.currency}, not {terms.currency}")
    if not problems:
        currency = terms.currency
        if terms.amount_minor > requested_amount_minor:
            problems.append(
                f"amount: {_amount(terms.amount_minor, currency)} is more than the "
                f"{_amount(requested_amount_minor, currency)} requested"
            )
        if not provider.min_amount_minor <= terms.amount_minor <= provider.max_amount_minor:
            problems.append(
                f"amount: your provider lends {_amount(provider.min_amount_minor, currency)} to "
                f"{_amount(provider.max_amount_minor, currency)}"
            )
        if terms.origination_fee_minor >= terms.amount_minor:
            problems.append("origination_fee: must be less than the amount")
    if not provider.min_annual_rate <= terms.annual_rate <= provider.max_annual_rate:
        problems.append(
            f"annual_rate: {terms.annual_rate} is outside your provider's range "
            f"{provider.min_annual_rate} to {provider.max_annual_rate}"
        )
    if not provider.min_term_months <= terms.term_months <= provider.max_term_months:
        problems.append(
            f"term_months: {terms.term_months} is outside your provider's range "
            f"{provider.min_term_months} to {provider.max_term_months}"
        )
    if terms.valid_until <= now:
        problems.append("valid_until: must be in the future")
    elif terms.valid_until > now + MAX_VALIDITY:
        problems.append(f"valid_until: at most {MAX_VALIDITY.days} days ahead")
    return problems


@dataclass(frozen=True, slots=True)
class BiddingState:
    """What placing a bid reads once the application is locked, in one round trip: the provider's
    invitation (locked; None when it was not invited), the round (made now when bidding is open to
    this provider; None when the application is not open_for_bids or the provider not invited), the
    provider (not locked: its row is locked last), its active bid and the version its next bid takes."""

    invitation: str | None
    round: BiddingRound | None
    provider: ProviderRecord | None
    standing: BidRecord | None
    next_version: int
