"""What the monitoring use cases read: the system of record (``MonitoringReader``, one read-only query
per question) and Prometheus samples of this process and of sibling processes (``MetricsSource``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID

from tools.monitoring.domain.latency import Sample
from tools.platform.ports import Clock

__all__ = [
    "MetricsSource",
    "MetricsUnavailable",
    "MonitoringDeps",
    "MonitoringReader",
    "ProviderRow",
    "RevenueRow",
    "StateRow",
    "StuckRow",
    "SyncMode",
    "SyncRow",
]

SyncMode = Literal["postgres", "postgrest", "embedded"]


@dataclass(frozen=True, slots=True)
class StateRow:
    """Applications in one state and currency, and how long they have been in it."""

    status: str
    currency: str
    count: int
    oldest_s: float | None  # None for the ends of the lifecycle: nothing waits there
    p50_s: float | None
    stuck: int


@dataclass(frozen=True, slots=True)
class StuckRow:
    reference: str
    status: str
    currency: str
    since: datetime


@dataclass(frozen=True, slots=True)
class ProviderRow:
    provider_id: UUID
    name: str
    currency: str
    status: str
    invitations: int
    bid_on: int  # applications it bid on (revisions of one bid count once)
    accepted: int
    median_bid_s: float | None  # from its invitation to its first bid, per application
    loans: int  # disbursed
    defaulted: int
    volume_minor: int  # principal of its disbursed loans


@dataclass(frozen=True, slots=True)
class RevenueRow:
    """Income posted to one platform account by one kind of journal in one month."""

    currency: str
    month: date
    account_purpose: str
    journal_kind: str
    amount_minor: int
    journals: int


@dataclass(frozen=True, slots=True)
class SyncRow:
    """The ``supabase_sync`` queue: what waits, what failed, and how late the last hour applied."""

    pending: int
    oldest_pending_at: datetime | None
    failed: int
    last_failed_at: datetime | None
    last_failed_event: str | None  # its event type; the error text stays in the log (it may quote data)
    applied_last_hour: int
    lag_p50_s: float | None
    lag_max_s: float | None
    last_applied_at: datetime | None


class MonitoringReader(Protocol):
    async def pipeline(
        self,
        now: datetime,
        expected: Mapping[str, timedelta],
        waiting: Sequence[str],
        currency: str | None,
        stuck_limit: int,
    ) -> tuple[list[StateRow], list[StuckRow]]:
        """Every state's count, the ages in the ``waiting`` states, and the ``stuck_limit`` longest
        stuck applications, one snapshot."""
        ...

    async def providers(
        self, currency: str | None, after: UUID | None, limit: int, default_dpd: int
    ) -> list[ProviderRow]:
        """Providers in id order after ``after``, with their funnel, loans and defaults."""
        ...

    async def revenue(self, start: datetime, end: datetime, currency: str | None) -> list[RevenueRow]: ...

    async def sync(self, now: datetime, queue: str) -> SyncRow: ...


class MetricsUnavailable(Exception):
    """A sibling's /metrics could not be read; the message says why, without secrets."""


class MetricsSource(Protocol):
    def local(self) -> list[Sample]:
        """This process's samples (its prometheus_client registry)."""
        ...

    async def scrape(self, url: str) -> list[Sample]:
        """A sibling process's /metrics; raises MetricsUnavailable."""
        ...


@dataclass(frozen=True, slots=True)
class MonitoringDeps:
    reader: MonitoringReader
    metrics: MetricsSource
    # Sibling processes' /metrics URLs (CAAS_MONITOR_TARGETS), merged into the latency figures.
    targets: tuple[str, ...]
    sync_mode: SyncMode
    bidding_window: timedelta
    clock: Clock
