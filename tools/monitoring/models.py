"""What the monitoring tools answer: amounts as Money (decimal strings with their currency), rates
as decimal fractions, times timezone-aware UTC, durations in whole seconds or milliseconds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from tools.platform.models import Money, Output

__all__ = [
    "PipelineHealth",
    "PipelineState",
    "ProviderBenchmark",
    "ProviderBenchmarks",
    "RevenueByMonth",
    "RevenueMonth",
    "StuckApplication",
    "SyncStatus",
    "SystemPerformance",
    "TargetStatus",
    "ToolPerformance",
]

Rate = Decimal


class PipelineState(Output):
    status: str
    currency: str
    count: int
    oldest_age_s: int | None = Field(
        description="Seconds the longest-waiting application has been in this state; null for the ends "
        "(disbursed, declined, withdrawn, expired), where nothing waits."
    )
    p50_age_s: int | None = Field(description="Median seconds in this state; null for the ends.")
    expected_s: int | None = Field(description="How long an application should stay; null: no limit.")
    stuck: int = Field(description="Applications in this state longer than expected_s.")


class StuckApplication(Output):
    reference: str
    status: str
    currency: str
    in_state_since: datetime
    age_s: int
    expected_s: int


class PipelineHealth(Output):
    as_of: datetime
    currency: str | None = Field(description="The currency asked for; null: every currency.")
    states: list[PipelineState] = Field(description="Per state and currency, in the journey's order.")
    stuck: list[StuckApplication] = Field(description="Longest stuck first, at most stuck_limit.")
    stuck_total: int
    expected_s: dict[str, int] = Field(description="The limit of each state that has one, in seconds.")


class ProviderBenchmark(Output):
    provider_id: str
    name: str
    currency: str
    status: str
    invitations: int
    bids: int = Field(description="Applications it bid on (a revised bid counts once).")
    accepted: int = Field(description="Applications whose borrower accepted its bid.")
    bid_rate: Rate | None = Field(description="bids / invitations; null without invitations.")
    acceptance_rate: Rate | None = Field(description="accepted / bids; null without bids.")
    median_time_to_bid_s: int | None = Field(description="Median seconds from invitation to first bid.")
    loans: int = Field(description="Its loans that were disbursed.")
    defaulted: int = Field(
        description="Of those: written off, defaulted, cured of a default since, or over 90 days past due."
    )
    default_rate: Rate | None = Field(description="defaulted / loans; null without loans.")
    volume: Money = Field(description="Principal of its disbursed loans.")


class ProviderBenchmarks(Output):
    as_of: datetime
    providers: list[ProviderBenchmark]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class RevenueMonth(Output):
    currency: str
    month: str = Field(description="YYYY-MM (UTC).")
    commission_at_disbursement: Money
    commission_on_interest: Money
    commission_reversals: Money
    commission: Money
    fee_income: Money
    total: Money
    journals: int


class RevenueByMonth(Output):
    period_start: date
    period_end: date = Field(description="Last day included.")
    months: list[RevenueMonth] = Field(
        description="Per currency, newest month first; months without income left out."
    )


class TargetStatus(Output):
    source: str = Field(description='"this process", or a sibling\'s /metrics URL.')
    status: Literal["ok", "unreachable"]
    error: str | None = None
    tools: int = Field(description="Tools with calls in this source.")


class ToolPerformance(Output):
    source: str
    tool: str
    calls: int
    errors: int
    error_rate: Rate | None = Field(description="errors / calls.")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class SystemPerformance(Output):
    as_of: datetime
    sources: list[TargetStatus]
    tools: list[ToolPerformance] = Field(description="Per source, busiest tool first.")
    note: str = Field(description="How the figures are computed and since when.")


class SyncStatus(Output):
    as_of: datetime
    mode: Literal["postgres", "postgrest", "embedded"] = Field(
        description="How the mirror writes: Supabase's Postgres, its REST API, or the embedded stand-in."
    )
    configured: bool = Field(description="False on the embedded default: no Supabase is configured.")
    note: str
    pending_events: int
    oldest_pending_age_s: int | None = Field(description="Lag: the oldest event not yet mirrored.")
    failed_events: int = Field(description="Events that failed for good (12 attempts).")
    last_failure_at: datetime | None
    last_failure: str | None = Field(description="The event type of the last event that failed for good.")
    applied_last_hour: int
    lag_p50_s: float | None = Field(description="Median seconds from event to mirror, last hour.")
    lag_max_s: float | None
    last_applied_at: datetime | None
    attention: list[str] = Field(description="What needs a person, in plain words; empty when nothing.")
