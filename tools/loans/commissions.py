"""Commission use cases: preview what a loan would earn (nothing stored), a provider's statement and the
platform's revenue for a period, both read from the ledger (``database.loans.commissions``).

The commission itself is posted by the loans: at disbursement (``tools.loans.loans.confirm_disbursement``)
and with each repayment's interest (``tools.loans.servicing.record_repayment``), per the provider's plan
(``tools.loans.domain.commissions``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from tools.ledger.ledger import posting_cursor, posting_position
from tools.loans.domain.commissions import CommissionPreview, preview_commission, terms_from_plan
from tools.loans.domain.loans import first_due_date
from tools.loans.domain.revenue import platform_income
from tools.loans.domain.schedules import Frequency, Method, build_schedule
from tools.loans.loans import provider_performance
from tools.loans.models.commissions import (
    CommissionKind,
    CommissionLineView,
    CommissionPreviewView,
    CommissionStatement,
    CommissionStatementLine,
    PlatformRevenue,
    ProviderCommission,
)
from tools.loans.ports import LoanDeps
from tools.marketplace.domain.bids import installment_count
from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.providers import can_see_provider, parse_provider_id, provider_not_found
from tools.platform.cursor import decode_position, encode_position, keyset
from tools.platform.domain.money import MoneyError, currency_exponent, to_minor
from tools.platform.errors import InvalidArgument
from tools.platform.models import Money
from tools.platform.principal import Principal

__all__ = ["calculate_commission", "get_commission_statement", "get_platform_revenue"]

_KINDS = {
    "commission": CommissionKind.DISBURSEMENT,
    "repayment": CommissionKind.INTEREST_SHARE,
    "reversal": CommissionKind.REVERSAL,
}


def _lendable(currency: str) -> str:
    """``currency``, or invalid_argument for a code no account can be in (XYZ, XAU: the three
    letters the schema checks are not enough)."""
    try:
        currency_exponent(currency)
    except MoneyError as exc:
        raise InvalidArgument(f"currency: {exc}") from None
    return currency


def _period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC): both days included."""
    if end < start:
        raise InvalidArgument(f"period_end {end} is before period_start {start}")
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


async def calculate_commission(
    deps: LoanDeps,
    principal: Principal,
    provider: str,
    amount: Decimal,
    annual_rate: Decimal | None = None,
    term_months: int | None = None,
    repayment_frequency: Frequency = Frequency.MONTHLY,
    schedule_method: Method = Method.ANNUITY,
) -> CommissionPreviewView:
    """What a loan of ``amount`` (the provider's currency) would earn the platform under the provider's
    plan and record; with ``annual_rate`` and ``term_months`` also the interest share of the schedule's
    total interest. Nothing is stored."""
    provider_id = parse_provider_id(provider)
    if not can_see_provider(principal, provider_id):
        raise provider_not_found(provider)
    record = await deps.providers.get(provider_id)
    if record is None:
        raise provider_not_found(provider)
    currency = record.currency
    try:
        minor = to_minor(amount, currency)
    except MoneyError as exc:
        raise InvalidArgument(f"amount: {exc}") from None
    if (annual_rate is None) != (term_months is None):
        raise InvalidArgument(
            "give annual_rate and term_months together (for the interest share), or neither"
        )
    expected = 0
    if annual_rate is not None and term_months is not None:
        expected = _expected_interest(
            deps, minor, currency, annual_rate, term_months, repayment_frequency, schedule_method
        )
    terms = terms_from_plan(record.commission_plan, currency, name=f"{record.name}'s plan")
    preview = preview_commission(
        terms,
        minor,
        currency,
        performance=await provider_performance(deps, record),
        expected_interest=expected,
    )
    return _preview_view(record, preview, minor)


def _expected_interest(
    deps: LoanDeps,
    minor: int,
    currency: str,
    annual_rate: Decimal,
    term_months: int,
    frequency: Frequency,
    method: Method,
) -> int:
    """The total interest of the schedule these terms would make for a loan disbursed today."""
    try:
        schedule = build_schedule(
            minor,
            currency,
            annual_rate,
            installment_count(term_months, frequency),
            first_due_date(deps.clock.today(), frequency),
            method=method,
            frequency=frequency,
        )
    except ValueError as exc:
        raise InvalidArgument(f"no schedule can be built from these terms: {exc}") from None
    return schedule.total_interest


def _preview_view(record: ProviderRecord, preview: CommissionPreview, minor: int) -> CommissionPreviewView:
    currency = record.currency
    return CommissionPreviewView(
        provider_id=record.id,
        plan=preview.plan,
        currency=currency,
        principal=Money.from_minor(minor, currency),
        performance_points=preview.points,
        lines=[
            CommissionLineView(
                label=line.label,
                basis=Money.from_minor(line.basis, currency),
                rate=line.rate,
                amount=Money.from_minor(line.amount, currency),
                explanation=line.explanation,
            )
            for line in preview.lines
        ],
        upfront=Money.from_minor(preview.upfront, currency),
        expected_interest=Money.from_minor(preview.expected_interest, currency),
        interest_share=Money.from_minor(preview.interest_share, currency),
        total=Money.from_minor(preview.total, currency),
    )


async def get_commission_statement(
    deps: LoanDeps,
    principal: Principal,
    provider: str,
    period: tuple[date, date],
    limit: int,
    cursor: str | None = None,
    currency: str | None = None,
) -> CommissionStatement:
    """The commission a provider was charged in a period in one currency (default its lending one): at
    disbursement, on interest, reversals; the period's totals, and its lines a page at a time (oldest
    first); and the other currencies it was charged in during the period."""
    period_start, period_end = period
    start, end = _period(period_start, period_end)
    provider_id = parse_provider_id(provider)
    # The resource of a month's statement hands its next_cursor to this tool: the same provider and
    # period make the same keyset.
    if not can_see_provider(principal, provider_id):
        raise provider_not_found(provider)
    record = await deps.providers.get(provider_id)
    if record is None:
        raise provider_not_found(provider)
    cur = _lendable(currency or record.currency)
    scope = keyset("commission_statement", provider=provider_id, start=period_start, end=period_end, cur=cur)
    after = posting_position(scope, cursor) if cursor else None
    rows, count, totals, charged_in = await deps.commissions.provider_postings(
        provider_id, cur, (start, end), after, limit + 1
    )
    postings, more = rows[:limit], len(rows) > limit
    return CommissionStatement(
        provider_id=provider_id,
        currency=cur,
        period_start=period_start,
        period_end=period_end,
        at_disbursement=Money.from_minor(totals.get("commission", 0), cur),
        interest_share=Money.from_minor(totals.get("repayment", 0), cur),
        reversals=Money.from_minor(totals.get("reversal", 0), cur),
        total=Money.from_minor(sum(totals.values()), cur),
        postings=count,
        lines=[
            CommissionStatementLine(
                journal_id=p.journal_id,
                kind=_KINDS[p.journal_kind],
                loan_id=p.loan_id,
                amount=Money.from_minor(p.amount_minor, cur),
                posted_at=p.posted_at,
            )
            for p in postings
            if p.journal_kind in _KINDS
        ],
        next_cursor=posting_cursor(scope, (postings[-1].posted_at, postings[-1].posting_id))
        if more
        else None,
        other_currencies=[c for c in charged_in if c != cur],
    )


async def get_platform_revenue(
    deps: LoanDeps, currency: str, period: tuple[date, date], limit: int, cursor: str | None = None
) -> PlatformRevenue:
    """The platform's income in one currency for a period, from its ledger accounts; the providers
    it came from a page at a time, largest first."""
    _lendable(currency)
    period_start, period_end = period
    start, end = _period(period_start, period_end)
    scope = keyset("platform_revenue", currency=currency, start=period_start, end=period_end)
    after = decode_position(scope, cursor, int, str) if cursor else None
    lines = await deps.commissions.platform_income(currency, start, end)
    rows, providers = await deps.commissions.commission_by_provider(currency, (start, end), after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    income = platform_income(lines)
    return PlatformRevenue(
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        commission_at_disbursement=Money.from_minor(income.at_disbursement, currency),
        commission_on_interest=Money.from_minor(income.on_interest, currency),
        commission_reversals=Money.from_minor(income.reversals, currency),
        commission=Money.from_minor(income.commission, currency),
        fee_income=Money.from_minor(income.fees, currency),
        total=Money.from_minor(income.total, currency),
        journals=income.journals,
        by_provider=[
            ProviderCommission(provider_id=owner, commission=Money.from_minor(amount, currency))
            for owner, amount in page
        ],
        providers=providers,
        next_cursor=encode_position(scope, page[-1][1], page[-1][0]) if more else None,
    )
