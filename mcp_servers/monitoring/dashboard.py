"""The ``monitoring`` server's tools (port 3007 on its own): the plan's unified dashboard metrics, all
read-only and for staff: pipeline health, provider benchmarks, revenue by month, system performance
and the Supabase sync status."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_servers.params import Cursor, Limit
from mcp_servers.toolkit import ToolSet, deps
from tools.monitoring import dashboard, system
from tools.monitoring.models import (
    PipelineHealth,
    ProviderBenchmarks,
    RevenueByMonth,
    SyncStatus,
    SystemPerformance,
)
from tools.platform.principal import Role

__all__ = ["TOOLS"]

# The dashboard shows the whole marketplace's figures: the platform's own business.
STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})

Currency = Annotated[
    str | None,
    Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code, e.g. NGN; leave out for every currency.",
    ),
]

TOOLS = ToolSet()


@TOOLS.tool(roles=STAFF, title="Get pipeline health", read_only=True, idempotent=True)
async def get_pipeline_health(
    currency: Currency = None,
    stuck_limit: Annotated[int, Field(ge=1, le=100, description="Most stuck applications to list.")] = 20,
) -> PipelineHealth:
    """How the application pipeline stands: per state and currency, how many applications are in it,
    how long the oldest has waited and the median wait, and which applications are stuck (in a state
    longer than expected: submitted 1 h, under_review 48 h, open_for_bids the bidding window,
    offer_accepted and approved 24 h), longest stuck first, with their references.

    Use to find work that is waiting on someone (a review queue growing, scoring or disbursement not
    happening); open a stuck one with get_application.
    """
    return await dashboard.get_pipeline_health(deps().monitoring, currency, stuck_limit)


@TOOLS.tool(roles=STAFF, title="List provider benchmarks", read_only=True, idempotent=True)
async def list_provider_benchmarks(
    currency: Currency = None, limit: Limit = 20, cursor: Cursor = None
) -> ProviderBenchmarks:
    """Each lender's performance, one page at a time: invitations, applications it bid on, bids the
    borrower accepted, bid_rate (bids / invitations), acceptance_rate (accepted / bids), the median
    seconds from invitation to first bid, its disbursed loans, defaults (written off, defaulted or over
    90 days past due) and default_rate, and the principal it lent.

    Use to compare lenders or review one before changing its plan or suspending it. Rates are decimal
    fractions ("0.3333"); null when there is nothing to divide.
    """
    return await dashboard.list_provider_benchmarks(deps().monitoring, currency, limit, cursor)


@TOOLS.tool(roles=STAFF, title="Get revenue by month", read_only=True, idempotent=True)
async def get_revenue_by_month(
    currency: Currency = None,
    months: Annotated[int, Field(ge=1, le=24, description="Calendar months up to this one.")] = 12,
) -> RevenueByMonth:
    """The platform's revenue per currency and calendar month (UTC), newest first: commission at
    disbursement, the share of interest, reversals, fee income and the total, from the ledger.

    Use for the revenue trend; for one period with the commission by provider use
    get_platform_revenue. Each month adds up exactly as that tool adds the same period.
    """
    return await dashboard.get_revenue_by_month(deps().monitoring, currency, months)


@TOOLS.tool(roles=STAFF, title="Get system performance", read_only=True, idempotent=True)
async def get_system_performance(
    tool: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[a-z][a-z0-9_]{0,80}$",
            description="Only this tool (its name, with or without the server prefix).",
        ),
    ] = None,
) -> SystemPerformance:
    """Per tool: calls, errors, error_rate and p50/p95/p99 latency in milliseconds, since each process
    started, for this process and every sibling process in CAAS_MONITOR_TARGETS (a sibling that does not
    answer is listed as unreachable with the reason).

    Use when calls feel slow or fail often, to see which tool and which process.
    """
    return await system.get_system_performance(deps().monitoring, tool)


@TOOLS.tool(roles=STAFF, title="Get sync status", read_only=True, idempotent=True)
async def get_sync_status() -> SyncStatus:
    """The Neon -> Supabase mirror (the borrower-facing status, loans and activity feed): how it writes,
    events still waiting and the age of the oldest (the lag), events that failed for good, and how
    late the last hour's events were applied. On the embedded default it says the mirror is not
    configured.

    Use when borrowers see an old status, or after a Supabase outage to see the mirror catch up.
    """
    return await system.get_sync_status(deps().monitoring)
