"""The business half of the dashboard: application pipeline health, provider benchmarks and revenue
by month, each one read of the system of record (``MonitoringReader``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from uuid import UUID

from tools.loans.domain.revenue import platform_income
from tools.monitoring.domain.pipeline import STATES, WAITING, expected_times
from tools.monitoring.models import (
    PipelineHealth,
    PipelineState,
    ProviderBenchmark,
    ProviderBenchmarks,
    RevenueByMonth,
    RevenueMonth,
    StuckApplication,
)
from tools.monitoring.ports import MonitoringDeps, ProviderRow, RevenueRow
from tools.platform.cursor import Keyset, decode_position, encode_position, keyset, unusable_cursor
from tools.platform.domain.money import MoneyError, currency_exponent
from tools.platform.errors import InvalidArgument
from tools.platform.models import Money

__all__ = ["DEFAULT_DPD", "get_pipeline_health", "get_revenue_by_month", "list_provider_benchmarks"]

# A loan more than 90 days past due is in default by the usual (Basel) definition, whatever its status.
DEFAULT_DPD = 90
_RATE = Decimal("0.0001")
_ORDER = {status.value: i for i, status in enumerate(STATES)}


def _currency(code: str | None) -> str | None:
    if code is not None:
        try:
            currency_exponent(code)
        except MoneyError as exc:
            raise InvalidArgument(f"currency: {exc}") from None
    return code


def rate(part: int, whole: int) -> Decimal | None:
    """``part / whole`` to four decimals (half even); None when there is nothing to divide."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_EVEN)


async def get_pipeline_health(deps: MonitoringDeps, currency: str | None, stuck_limit: int) -> PipelineHealth:
    """Counts and ages per state and currency, and the applications past their state's expected time."""
    now = deps.clock.now()
    expected = {status.value: limit for status, limit in expected_times(deps.bidding_window).items()}
    waiting = [s.value for s in WAITING]
    states, stuck = await deps.reader.pipeline(now, expected, waiting, _currency(currency), stuck_limit)

    def limit_s(status: str) -> int | None:
        return int(expected[status].total_seconds()) if status in expected else None

    return PipelineHealth(
        as_of=now,
        currency=currency,
        states=[
            PipelineState(
                status=row.status,
                currency=row.currency,
                count=row.count,
                oldest_age_s=_seconds(row.oldest_s),
                p50_age_s=_seconds(row.p50_s),
                expected_s=limit_s(row.status),
                stuck=row.stuck,
            )
            for row in sorted(states, key=lambda r: (_ORDER.get(r.status, len(_ORDER)), r.currency))
        ],
        stuck=[
            StuckApplication(
                reference=row.reference,
                status=row.status,
                currency=row.currency,
                in_state_since=row.since.astimezone(UTC),
                age_s=int((now - row.since).total_seconds()),
                expected_s=limit_s(row.status) or 0,
            )
            for row in stuck
        ],
        stuck_total=sum(row.stuck for row in states),
        expected_s={status: int(limit.total_seconds()) for status, limit in expected.items()},
    )


def _seconds(value: float | None) -> int | None:
    return None if value is None else max(0, int(value))


def _after(scope: Keyset, cursor: str) -> UUID:
    (provider_id,) = decode_position(scope, cursor, str)
    try:
        return UUID(provider_id)
    except ValueError:
        raise unusable_cursor() from None


def _benchmark(row: ProviderRow) -> ProviderBenchmark:
    return ProviderBenchmark(
        provider_id=str(row.provider_id),
        name=row.name,
        currency=row.currency,
        status=row.status,
        invitations=row.invitations,
        bids=row.bid_on,
        accepted=row.accepted,
        bid_rate=rate(row.bid_on, row.invitations),
        acceptance_rate=rate(row.accepted, row.bid_on),
        median_time_to_bid_s=None if row.median_bid_s is None else max(0, round(row.median_bid_s)),
        loans=row.loans,
        defaulted=row.defaulted,
        default_rate=rate(row.defaulted, row.loans),
        volume=Money.from_minor(row.volume_minor, row.currency),
    )


async def list_provider_benchmarks(
    deps: MonitoringDeps, currency: str | None, limit: int, cursor: str | None
) -> ProviderBenchmarks:
    """Each provider's funnel (invitations, bids, accepted), time to bid, defaults and volume, by id."""
    code = _currency(currency)
    scope = keyset("provider_benchmarks", currency=code)
    after = None if cursor is None else _after(scope, cursor)
    rows = await deps.reader.providers(code, after, limit + 1, DEFAULT_DPD)
    page = rows[:limit]
    return ProviderBenchmarks(
        as_of=deps.clock.now(),
        providers=[_benchmark(row) for row in page],
        next_cursor=encode_position(scope, str(page[-1].provider_id)) if len(rows) > limit else None,
    )


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


async def get_revenue_by_month(deps: MonitoringDeps, currency: str | None, months: int) -> RevenueByMonth:
    """The platform's income per currency and calendar month (UTC), the last ``months`` months up to
    this one, from its ledger accounts, split as ``get_platform_revenue`` splits it."""
    today = deps.clock.today()
    first, following = _month_start(today, months - 1), _month_start(today, -1)
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = datetime.combine(following, datetime.min.time(), UTC)
    lines: dict[tuple[str, date], list[RevenueRow]] = defaultdict(list)
    for row in await deps.reader.revenue(start, end, _currency(currency)):
        lines[(row.currency, row.month)].append(row)
    result = []
    for (code, month), rows in sorted(lines.items(), key=lambda item: (item[0][0], -item[0][1].toordinal())):
        income = platform_income(rows)

        def money(minor: int, code: str = code) -> Money:
            return Money.from_minor(minor, code)

        result.append(
            RevenueMonth(
                currency=code,
                month=month.strftime("%Y-%m"),
                commission_at_disbursement=money(income.at_disbursement),
                commission_on_interest=money(income.on_interest),
                commission_reversals=money(income.reversals),
                commission=money(income.commission),
                fee_income=money(income.fees),
                total=money(income.total),
                journals=income.journals,
            )
        )
    return RevenueByMonth(period_start=first, period_end=following - timedelta(days=1), months=result)
