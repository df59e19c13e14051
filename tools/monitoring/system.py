"""The operational half of the dashboard: tool latency percentiles and error rates from the
``caas_tool_call_seconds`` histograms (this process and its configured siblings), and the status of
the Neon -> Supabase mirror (the ``supabase_sync`` queue)."""

from __future__ import annotations

import asyncio
from datetime import UTC

from tools.monitoring.dashboard import rate
from tools.monitoring.domain.latency import Sample, ToolLatency, tool_latency
from tools.monitoring.models import SyncStatus, SystemPerformance, TargetStatus, ToolPerformance
from tools.monitoring.ports import MetricsUnavailable, MonitoringDeps

__all__ = ["SYNC_QUEUE", "THIS_PROCESS", "get_sync_status", "get_system_performance"]

THIS_PROCESS = "this process"
SYNC_QUEUE = "supabase_sync"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _rows(source: str, latency: list[ToolLatency], tool: str | None) -> list[ToolPerformance]:
    chosen = [row for row in latency if tool is None or row.tool == tool or row.tool.endswith(f"_{tool}")]
    return [
        ToolPerformance(
            source=source,
            tool=row.tool,
            calls=row.calls,
            errors=row.errors,
            error_rate=rate(row.errors, row.calls),
            p50_ms=_ms(row.p50),
            p95_ms=_ms(row.p95),
            p99_ms=_ms(row.p99),
        )
        for row in sorted(chosen, key=lambda r: (-r.calls, r.tool))
    ]


async def _scraped(deps: MonitoringDeps, url: str) -> tuple[str, list[Sample] | None, str | None]:
    try:
        return url, await deps.metrics.scrape(url), None
    except MetricsUnavailable as exc:
        return url, None, str(exc)


async def get_system_performance(deps: MonitoringDeps, tool: str | None) -> SystemPerformance:
    """Calls, error rate and p50/p95/p99 latency per tool, for this process and every sibling in
    ``deps.targets`` (read at once; one that does not answer is an ``unreachable`` source)."""
    local: tuple[str, list[Sample] | None, str | None] = (THIS_PROCESS, deps.metrics.local(), None)
    sources = [local]
    sources += await asyncio.gather(*(_scraped(deps, url) for url in deps.targets))
    statuses, tools = [], []
    for source, samples, error in sources:
        rows = [] if samples is None else _rows(source, tool_latency(samples), tool)
        statuses.append(
            TargetStatus(
                source=source,
                status="ok" if samples is not None else "unreachable",
                error=error,
                tools=len(rows),
            )
        )
        tools += rows
    return SystemPerformance(
        as_of=deps.clock.now(),
        sources=statuses,
        tools=tools,
        note=(
            "Counted since each process started (Prometheus counters); percentiles are interpolated in "
            "the histogram's buckets like PromQL's histogram_quantile, so they are estimates bounded by "
            "the bucket edges. For a time window, query Prometheus: rate() over these series."
        ),
    )


async def get_sync_status(deps: MonitoringDeps) -> SyncStatus:
    """What the Supabase mirror has still to apply, what failed for good, and how late it applied the
    last hour's events, from the ``supabase_sync`` queue in the system of record."""
    now = deps.clock.now()
    row = await deps.reader.sync(now, SYNC_QUEUE)
    oldest = (
        None if row.oldest_pending_at is None else max(0, int((now - row.oldest_pending_at).total_seconds()))
    )
    configured = deps.sync_mode != "embedded"
    note = {
        "postgres": "The mirror writes to Supabase's Postgres (SUPABASE_DB_URL).",
        "postgrest": "The mirror writes through Supabase's REST API (SUPABASE_URL and the service-role key).",
        "embedded": (
            "The mirror is not configured: no Supabase is set, so it writes to the embedded stand-in "
            "database. Set SUPABASE_DB_URL, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, to mirror to "
            "Supabase."
        ),
    }[deps.sync_mode]
    attention = []
    if row.failed:
        attention.append(
            f"{row.failed} event(s) failed for good and are not mirrored; the platform_health tool counts "
            "them and the log of the supabase_sync worker says why"
        )
    # A minute behind means the workers are stopped or Supabase is failing; seconds are normal traffic.
    if oldest is not None and oldest > 60:
        attention.append(f"the mirror is {oldest} s behind: check the supabase_sync workers and Supabase")
    return SyncStatus(
        as_of=now,
        mode=deps.sync_mode,
        configured=configured,
        note=note,
        pending_events=row.pending,
        oldest_pending_age_s=oldest,
        failed_events=row.failed,
        last_failure_at=None if row.last_failed_at is None else row.last_failed_at.astimezone(UTC),
        last_failure=row.last_failed_event,
        applied_last_hour=row.applied_last_hour,
        lag_p50_s=None if row.lag_p50_s is None else round(row.lag_p50_s, 3),
        lag_max_s=None if row.lag_max_s is None else round(row.lag_max_s, 3),
        last_applied_at=None if row.last_applied_at is None else row.last_applied_at.astimezone(UTC),
        attention=attention,
    )
