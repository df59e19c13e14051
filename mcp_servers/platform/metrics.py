"""``GET /metrics``: this process's own metrics (the default registry: tool latency and errors, webhooks
received, jobs taken, Supabase sync lag and failures, collection errors; under ``caas serve
--processes N`` their sum over the N processes, ``mcp_servers.platform.multiprocess``) plus
two collectors of the app:

- the facts of the database (``database.platform.metrics``): the plan's four metrics and the queues',
  payments' and webhook deliveries' state, read in one statement and cached for
  ``CAAS_METRICS_CACHE_SECONDS``, and the ledger's reconciliation, read at most once a minute; every
  process exports the same values and a restart resets nothing;
- this process's own state, read at each scrape: its connection pools and payment circuit breakers
  (under ``--processes``, those of the child that answered: they are live objects, not files to sum).

A database that is down or slow never makes ``/metrics`` fail: the scrape answers without the database
facts (they are left out rather than repeated stale) and ``caas_metrics_collect_errors_total`` counts it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from decimal import Decimal

import anyio
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from database.platform.metrics import Fact, PgMetricsReader
from mcp_servers.platform.multiprocess import process_registry
from mcp_servers.runtime import Runtime
from tools.marketplace.domain.provider_webhooks import DeliveryStatus
from tools.payments.domain.payments import PaymentKind
from tools.platform.domain.jobs import SUBSCRIPTIONS
from tools.platform.domain.money import MoneyError, currency_exponent

__all__ = ["COLLECT_ERRORS", "MetricsExporter"]

log = logging.getLogger("caas.metrics")

COLLECT_ERRORS = Counter(
    "caas_metrics_collect_errors_total",
    "Scrapes that could not read the database facts (left out of that scrape)",
)
# A scrape waits at most this long for the database (Prometheus' own scrape timeout is 10 s).
DATABASE_TIMEOUT_S = 3.0
QUEUES = tuple(s.queue for s in SUBSCRIPTIONS)
LEDGER_EVERY_S = 60.0
REVENUE_KINDS = ("commission", "interest_share")


class _Cached:
    """One read of database facts, kept for ``ttl`` seconds; dropped when a read fails."""

    def __init__(self) -> None:
        self.facts: list[Fact] | None = None
        self.read_at: float | None = None

    def fresh(self, ttl: float) -> bool:
        return self.read_at is not None and time.monotonic() - self.read_at < ttl


class MetricsExporter:
    """The ``/metrics`` body of one app; the database facts are cached per app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._facts = _Cached()
        self._ledger = _Cached()
        self._lock = anyio.Lock()
        self._own = process_registry()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_AppCollector(self))

    async def exposition(self) -> bytes:
        ttl = self.runtime.settings.metrics_cache_s
        async with self._lock:  # concurrent scrapes share one read
            # A database that failed the first read is not asked again in this scrape: one wait at most.
            # The reconciliation reads every posting: at most once a minute.
            if await self._refresh(self._facts, ttl, PgMetricsReader.facts):
                await self._refresh(self._ledger, max(ttl, LEDGER_EVERY_S), PgMetricsReader.reconciliation)
        return generate_latest(self._own) + generate_latest(self._registry)

    def families(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The families of the reads at hand: a read that failed leaves its families out altogether."""
        if self._facts.facts is not None:
            yield from database_families(self._facts.facts)
        if self._ledger.facts is not None:
            # A currency lent in that had no ledger account at the last reconciliation had nothing to
            # differ then: 0 until the next one (at most LEDGER_EVERY_S later).
            lent = _sum(self._facts.facts or [], "providers_active")
            found = {key: Decimal(0) for key in lent} | _sum(self._ledger.facts, "reconcile_minor")
            yield _money(
                "caas_ledger_reconcile_difference",
                "Absolute difference the ledger's reconcile rules found, in major units (0 when consistent)",
                found,
            )

    async def _refresh(
        self, cache: _Cached, ttl: float, read: Callable[[PgMetricsReader, float], Awaitable[list[Fact]]]
    ) -> bool:
        """False when the read failed (its facts are dropped); True when they are fresh."""
        if cache.fresh(ttl):
            return True
        pool = self.runtime.core_pool
        try:
            if pool is None:
                raise ConnectionError("the runtime is not started")
            with anyio.fail_after(DATABASE_TIMEOUT_S):
                facts = await read(PgMetricsReader(pool), DATABASE_TIMEOUT_S)
        except Exception as exc:
            COLLECT_ERRORS.inc()
            log.warning("metrics: the database facts could not be read (%s)", type(exc).__name__)
            cache.facts, cache.read_at = None, None
            return False
        cache.facts, cache.read_at = facts, time.monotonic()
        return True


class _AppCollector(Collector):
    def __init__(self, exporter: MetricsExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runtime = self._exporter.runtime
        yield from self._exporter.families()
        yield _pools(runtime)
        yield _breakers(runtime)


def _major(minor: Decimal, currency: str) -> float | None:
    try:
        return float(minor.scaleb(-currency_exponent(currency)))
    except MoneyError:
        log.warning("metrics: %r is not an ISO 4217 currency; its amounts are left out", currency)
        return None


def _sum(facts: Iterable[Fact], metric: str) -> dict[tuple[str, str | None], Decimal]:
    found: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    for fact in facts:
        if fact.metric == metric:
            found[fact.a, fact.b] += fact.value
    return found


def _gauge(name: str, doc: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _money(name: str, doc: str, per_currency: dict[tuple[str, str | None], Decimal]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["currency"])
    for (currency, _), minor in sorted(per_currency.items()):
        if (major := _major(minor, currency)) is not None:
            family.add_metric([currency], major)
    return family


def _zeros(keys: Iterable[str]) -> dict[str, float]:
    return dict.fromkeys(keys, 0.0)


def database_families(facts: list[Fact]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """The metric families of one read of the database facts (the reconciliation is apart)."""
    applications = CounterMetricFamily(
        "caas_applications",
        "Applications that entered each state (the timeline)",
        labels=["status", "currency"],
    )
    for (status, currency), n in sorted(_sum(facts, "applications").items()):
        applications.add_metric([status, currency or ""], float(n))
    yield applications
    active = {currency: float(n) for (currency, _), n in _sum(facts, "providers_active").items()}
    yield _gauge("caas_providers_active", "Active credit providers", "currency", active)
    yield _money(
        "caas_disbursements_amount",
        "Principal of succeeded disbursements, in major units (ledger)",
        _sum(facts, "disbursed_minor"),
    )
    yield _revenue(_sum(facts, "revenue_minor"))
    relay = {q: float(v) for (q, _), v in _sum(facts, "outbox_lag").items()}
    yield _gauge(
        "caas_outbox_lag_seconds",
        "Age of the oldest outbox event a consumer (relay or queue) has not finished",
        "consumer",
        _zeros(("relay", *QUEUES)) | relay,
    )
    queued = {q: float(v) for (q, _), v in _sum(facts, "queue_lag").items()}
    yield _gauge(
        "caas_queue_lag_seconds",
        "Age of the oldest unfinished item of a queue (outbox: not yet relayed)",
        "queue",
        _zeros(QUEUES) | queued | {"outbox": relay.get("relay", 0.0)},
    )
    failed = {q: float(n) for (q, _), n in _sum(facts, "jobs_failed").items()}
    yield _gauge("caas_jobs_failed", "Jobs that failed for good", "queue", _zeros(QUEUES) | failed)
    running = {q: float(n) for (q, _), n in _sum(facts, "jobs_running").items()}
    yield _gauge(
        "caas_jobs_running", "Jobs a worker holds a live lease on", "queue", _zeros(QUEUES) | running
    )
    payments = GaugeMetricFamily(
        "caas_payments_failed", "Failed payments not retried", labels=["kind", "currency"]
    )
    # 0 for each kind in every currency lent in, so that "none failed" is a value, not an absence.
    failed_payments = {(kind.value, c): 0.0 for kind in PaymentKind for c in active} | {
        (kind, currency or ""): float(n) for (kind, currency), n in _sum(facts, "payments_failed").items()
    }
    for (kind, currency), count in sorted(failed_payments.items()):
        payments.add_metric([kind, currency], count)
    yield payments
    deliveries = {s: float(n) for (s, _), n in _sum(facts, "webhook_deliveries").items()}
    yield _gauge(
        "caas_webhook_deliveries",
        "Webhook deliveries to credit providers by status",
        "status",
        _zeros(s.value for s in DeliveryStatus) | deliveries,
    )


def _revenue(per_kind: dict[tuple[str, str | None], Decimal]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "caas_platform_revenue",
        "Platform revenue recognised in the ledger, in major units",
        labels=["currency", "kind"],
    )
    values = {(currency, kind or ""): minor for (currency, kind), minor in per_kind.items()}
    for seen in {currency for currency, _ in per_kind}:
        for required in REVENUE_KINDS:
            values.setdefault((seen, required), Decimal(0))
    for (currency, kind), minor in sorted(values.items()):
        if (major := _major(minor, currency)) is not None:
            family.add_metric([currency, kind], major)
    return family


def _pools(runtime: Runtime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "caas_db_pool_connections", "This process's database connections", labels=["pool", "state"]
    )
    for name, pool in (("core", runtime.core_pool), ("supabase", runtime.supabase_pool)):
        if pool is None:
            continue
        size, idle = pool.get_size(), pool.get_idle_size()
        family.add_metric([name, "in_use"], size - idle)
        family.add_metric([name, "idle"], idle)
        family.add_metric([name, "max"], pool.get_max_size())
    return family


def _breakers(runtime: Runtime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "caas_circuit_breaker_open",
        "1 while this process's breaker refuses calls to a payment vendor, else 0",
        labels=["target"],
    )
    if runtime.ready:
        for vendor, state in sorted(runtime.deps.payments.router.states().items()):
            family.add_metric([vendor], 1.0 if state == "open" else 0.0)
    return family
