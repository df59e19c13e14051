"""Start-up wiring, in one place: databases, migrations, pools, and the use-case dependencies."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import anyio
import asyncpg
from pydantic import SecretStr

from adapters.local_store import LocalDocumentStore
from adapters.onasis_gateway import OnasisGateway
from adapters.sandbox import Sandbox
from adapters.supabase_storage import SupabaseStorage
from adapters.supabase_sync import PgStatusMirror, PostgrestStatusMirror, observe_sync_lag
from adapters.webhook_sender import HttpxWebhookSender
from database import migrate
from database.applications import PgApplicationReader
from database.bids import PgBidReader
from database.commissions import PgCommissionReader
from database.documents import PgDocumentReader
from database.embedded import EmbeddedPostgres, ensure_database, start_embedded
from database.jobs import PgJobStore
from database.ledger import PgLedgerReader
from database.loans import PgLoanReader
from database.notification_sources import PgDueInstallments
from database.payments import PgPaymentReader
from database.pool import create_pool
from database.providers import PgProviderReader
from database.risk import PgRiskReader
from database.supabase_notifications import PgNotificationStore
from database.supabase_support import PgSupportStore
from database.unit_of_work import pg_unit_of_work
from database.webhook_deliveries import PgWebhookDeliveries
from mcp_servers.auth import PrincipalSource
from mcp_servers.config import Settings
from mcp_servers.pii import vault_from_settings
from mcp_servers.workers import Periodic, Workers, worker_invocation
from tools import applications, loan_servicing, provider_webhooks
from tools.applications import ApplicationDeps
from tools.bidding import BiddingDeps
from tools.documents import DocumentDeps
from tools.domain.routing import VendorRouter
from tools.ledger import LedgerDeps
from tools.loans import LoanDeps, LoanPolicy
from tools.matching import MatchingDeps
from tools.notifications import NotificationDeps, notification_handler, remind_due_repayments
from tools.payment_ports import CommunicationGateway, PaymentGateway
from tools.payments_core import PaymentDeps
from tools.payments_worker import send_disbursement
from tools.ports import DocumentStore, PersonalDataVault
from tools.principal import Principal
from tools.provider_webhooks import ProviderWebhookDeps
from tools.providers import ProviderDeps
from tools.registration import Registrar
from tools.risk import RiskDeps
from tools.supabase_ports import StatusMirror
from tools.supabase_sync import SyncDeps, sync_handler
from tools.support_chat import SupportDeps

__all__ = ["DatabaseTargets", "Dependencies", "PaymentSecrets", "Runtime"]

log = logging.getLogger("caas.runtime")


@dataclass(frozen=True, slots=True)
class DatabaseTargets:
    core: str
    supabase: str
    embedded: EmbeddedPostgres | None


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the use cases of every service get; built once per process in ``build_dependencies``."""

    applications: ApplicationDeps
    documents: DocumentDeps
    risk: RiskDeps
    ledger: LedgerDeps
    providers: ProviderDeps
    matching: MatchingDeps
    loans: LoanDeps
    bidding: BiddingDeps
    supabase_sync: SyncDeps
    webhooks: ProviderWebhookDeps
    payments: PaymentDeps
    notifications: NotificationDeps
    support: SupportDeps


def build_dependencies(
    settings: Settings,
    core_pool: asyncpg.Pool,
    supabase_pool: asyncpg.Pool,
    vault: PersonalDataVault,
    *,
    gateway: PaymentGateway,
    comms: CommunicationGateway,
) -> Dependencies:
    """The single place where concrete adapters meet the use cases' ports."""
    uow = pg_unit_of_work(core_pool)
    loans = LoanDeps(
        uow=uow,
        reader=PgLoanReader(core_pool),
        providers=PgProviderReader(core_pool),
        commissions=PgCommissionReader(core_pool),
        policy=LoanPolicy(
            default_threshold_days=settings.default_threshold_days,
            late_fee_percent=settings.late_fee_rate,
            late_fee_grace_days=settings.late_fee_grace_days,
            late_fee_flat=settings.late_fee_flat,
        ),
    )
    return Dependencies(
        applications=ApplicationDeps(
            uow=uow,
            reader=PgApplicationReader(core_pool),
            bidding_window=timedelta(hours=settings.bidding_window_hours),
            vault=vault,
        ),
        documents=DocumentDeps(
            uow=uow,
            applications=PgApplicationReader(core_pool),
            reader=PgDocumentReader(core_pool),
            store=document_store(settings),
            max_bytes=settings.document_max_bytes,
        ),
        risk=RiskDeps(
            uow=uow,
            applications=PgApplicationReader(core_pool),
            documents=PgDocumentReader(core_pool),
            risk=PgRiskReader(core_pool),
            vault=vault,
            operator_approval_above=settings.operator_approval_above,
        ),
        ledger=LedgerDeps(uow=uow, reader=PgLedgerReader(core_pool)),
        loans=loans,
        providers=ProviderDeps(uow=uow, reader=PgProviderReader(core_pool), vault=vault),
        matching=MatchingDeps(
            uow=uow,
            applications=PgApplicationReader(core_pool),
            risk=PgRiskReader(core_pool),
            providers=PgProviderReader(core_pool),
            bidding_window=timedelta(hours=settings.bidding_window_hours),
        ),
        bidding=BiddingDeps(
            uow=uow,
            applications=PgApplicationReader(core_pool),
            bids=PgBidReader(core_pool),
            providers=PgProviderReader(core_pool),
            bidding_window=timedelta(hours=settings.bidding_window_hours),
        ),
        webhooks=ProviderWebhookDeps(
            deliveries=PgWebhookDeliveries(core_pool),
            providers=PgProviderReader(core_pool),
            vault=vault,
            sender=HttpxWebhookSender(
                timeout_seconds=settings.webhook_timeout_seconds, user_agent="CaaS-Webhooks/1.0"
            ),
            max_attempts=settings.webhook_max_attempts,
            retry_base=timedelta(seconds=settings.webhook_retry_base_seconds),
        ),
        supabase_sync=SyncDeps(mirror=status_mirror(settings, supabase_pool), observe_lag=observe_sync_lag),
        payments=PaymentDeps(
            uow=uow,
            reader=PgPaymentReader(core_pool),
            loans=loans,
            applications=PgApplicationReader(core_pool),
            vault=vault,
            gateway=gateway,
            # One router per process: its circuit breakers learn from every payment this process makes.
            router=VendorRouter.from_text(
                settings.payment_routes,
                failures=settings.breaker_failures,
                reset_seconds=settings.breaker_reset_seconds,
            ),
        ),
        notifications=NotificationDeps(
            store=PgNotificationStore(supabase_pool),
            applications=PgApplicationReader(core_pool),
            loans=PgLoanReader(core_pool),
            due=PgDueInstallments(core_pool),
            comms=comms,
            uow=uow,
            reminder_days=settings.repayment_reminder_days,
        ),
        support=SupportDeps(
            support=PgSupportStore(supabase_pool), applications=PgApplicationReader(core_pool), uow=uow
        ),
    )


def build_workers(settings: Settings, deps: Dependencies, core_pool: asyncpg.Pool) -> Workers:
    """The background work of this process: each queue's handler and the periodic jobs (each safe to
    run in several processes at once)."""

    async def expire() -> object:
        return await applications.expire_stale_applications(deps.applications, worker_invocation("expire"))

    async def age() -> object:
        return await loan_servicing.age_loans(deps.loans, worker_invocation("age_loans"))

    async def remind() -> object:
        return await remind_due_repayments(deps.notifications)

    return Workers(
        store=PgJobStore(core_pool),
        handlers={
            "supabase_sync": sync_handler(deps.supabase_sync),
            provider_webhooks.QUEUE: partial(provider_webhooks.deliver_provider_webhook, deps.webhooks),
            "payments": partial(send_disbursement, deps.payments, worker_invocation("payments")),
            "notifications": notification_handler(deps.notifications),
        },
        periodic=[
            Periodic("expire_applications", timedelta(minutes=1), expire),
            Periodic("age_loans", timedelta(hours=1), age),
            Periodic("repayment_reminders", timedelta(hours=1), remind),
        ],
        poll=settings.worker_poll_seconds,
    )


def status_mirror(settings: Settings, supabase_pool: asyncpg.Pool) -> StatusMirror:
    """Where the Supabase sync writes: the Postgres connection when SUPABASE_DB_URL is set or the
    databases are embedded; PostgREST (supabase-py) when only SUPABASE_URL and the service-role key
    are; otherwise the Supabase tables that live beside the system of record."""
    direct = settings.supabase_db_url is not None or settings.database_url is None
    if not direct and settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        return PostgrestStatusMirror(
            str(settings.supabase_url), settings.supabase_service_role_key.get_secret_value()
        )
    return PgStatusMirror(supabase_pool)


@dataclass(frozen=True, slots=True)
class PaymentSecrets:
    """The keys that payment vendors' webhooks are signed with: the configured ones, else those the
    in-process sandbox generated (it signs with them), else None (nothing can be verified)."""

    paystack: str | None
    stripe: str | None


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def make_sandbox(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    gateway_port: int = 0,
    registry_port: int = 0,
    webhook_base_url: str | None = None,
) -> Sandbox:
    """The sandbox gateway and registry (not yet started): in-process on ephemeral ports when
    ONASIS_GATEWAY_URL is unset, or on fixed ports for ``caas sandbox``."""
    target = webhook_base_url or (str(settings.sandbox_webhook_url) if settings.sandbox_webhook_url else None)
    return Sandbox(
        host=host,
        gateway_port=gateway_port,
        registry_port=registry_port,
        webhook_base_url=target,
        paystack_secret=_secret(settings.paystack_secret_key),
        stripe_secret=_secret(settings.stripe_webhook_secret),
        payments_path=settings.onasis_payments_path,
        transfers_path=settings.onasis_transfers_path,
        registry_services_path=settings.registry_services_path,
    )


def build_gateway(settings: Settings, sandbox: Sandbox | None) -> OnasisGateway:
    """The gateway adapter: at the sandbox when it runs (money simulated), else at the configured URL."""
    url = sandbox.gateway_url if sandbox is not None else str(settings.onasis_gateway_url)
    return OnasisGateway(
        url,
        api_key=_secret(settings.onasis_api_key),
        project_scope=settings.onasis_project_scope,
        payments_path=settings.onasis_payments_path,
        transfers_path=settings.onasis_transfers_path,
        timeout_seconds=settings.gateway_timeout_seconds,
        connect_timeout_seconds=settings.gateway_connect_timeout_seconds,
        simulated=sandbox is not None,
    )


def document_store(settings: Settings) -> DocumentStore:
    """Supabase Storage when its URL and service-role key are set, else files in the data dir."""
    if settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        return SupabaseStorage(
            str(settings.supabase_url),
            settings.supabase_service_role_key.get_secret_value(),
            settings.supabase_storage_bucket,
        )
    return LocalDocumentStore(settings.data_dir / "documents")


async def resolve_databases(settings: Settings) -> DatabaseTargets:
    """The configured URLs, or the embedded server with both databases created in it."""
    if settings.database_url is not None:
        core = settings.database_url.get_secret_value()
        supabase = settings.supabase_db_url.get_secret_value() if settings.supabase_db_url else core
        return DatabaseTargets(core, supabase, None)
    embedded = await anyio.to_thread.run_sync(start_embedded, settings.data_dir)
    for name in (settings.embedded_core_db, settings.embedded_supabase_db):
        await ensure_database(embedded.admin_dsn, name)
    return DatabaseTargets(
        embedded.dsn(settings.embedded_core_db), embedded.dsn(settings.embedded_supabase_db), embedded
    )


async def prepare_schema(dsn: str, target: migrate.Target, apply: bool) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        if apply:
            return await migrate.migrate(conn, target)
        await migrate.verify(conn, target)
        return []
    finally:
        await conn.close()


class Runtime:
    """Everything a running server shares. Started once per process by the server lifespan; tests
    hold a session open across many client connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.principals = PrincipalSource(
            Principal(settings.stdio_subject, settings.stdio_role, settings.stdio_provider_id)
        )
        self.started_at = time.monotonic()
        self.targets: DatabaseTargets | None = None
        self.core_pool: asyncpg.Pool | None = None
        self.supabase_pool: asyncpg.Pool | None = None
        self._deps: Dependencies | None = None
        self._workers: Workers | None = None
        self._users = 0
        self._lock = anyio.Lock()
        # The Onasis gateway adapter, and the in-process sandbox it points at when no
        # ONASIS_GATEWAY_URL is configured (None otherwise); both live from _start to _stop.
        self.sandbox: Sandbox | None = None
        self._gateway: OnasisGateway | None = None
        # Set by mcp_servers.registration while `caas serve` keeps this server registered (/health).
        self.registration: Registrar | None = None

    @property
    def deps(self) -> Dependencies:
        if self._deps is None:
            raise RuntimeError("the runtime is not started")
        return self._deps

    @property
    def gateway(self) -> OnasisGateway:
        """The payment and communication gateway (``PaymentGateway`` and ``CommunicationGateway``)."""
        if self._gateway is None:
            raise RuntimeError("the runtime is not started")
        return self._gateway

    @property
    def payment_secrets(self) -> PaymentSecrets:
        s, sandbox = self.settings, self.sandbox
        return PaymentSecrets(
            paystack=_secret(s.paystack_secret_key) or (sandbox.paystack_secret if sandbox else None),
            stripe=_secret(s.stripe_webhook_secret) or (sandbox.stripe_secret if sandbox else None),
        )

    def payments_info(self) -> dict[str, Any]:
        """For /health: whether money is real."""
        simulated = self.settings.onasis_gateway_url is None
        return {"gateway": "sandbox" if simulated else "onasis", "simulated": simulated}

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            raise RuntimeError("the runtime is not started")
        return self._workers

    @property
    def ready(self) -> bool:
        return self._deps is not None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Runtime]:
        async with self._lock:
            if self._users == 0:
                try:
                    await self._start()
                    self.started_at = time.monotonic()
                except BaseException:
                    await self._stop()  # a half-started runtime must not leak pools or a server
                    raise
            self._users += 1
        try:
            yield self
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0:
                    await self._stop()

    async def _start(self) -> None:
        s = self.settings
        self.targets = await resolve_databases(s)
        for dsn, target in ((self.targets.core, "core"), (self.targets.supabase, "supabase")):
            applied = await prepare_schema(dsn, target, s.auto_migrate)  # type: ignore[arg-type]
            if applied:
                log.info("applied %s migrations: %s", target, ", ".join(applied))
        self.core_pool = await create_pool(
            self.targets.core, min_size=s.pool_min_size, max_size=s.pool_max_size
        )
        self.supabase_pool = await create_pool(self.targets.supabase, min_size=1, max_size=4)
        if s.onasis_gateway_url is None:
            self.sandbox = make_sandbox(s)
            await self.sandbox.start()
            log.info(
                "no ONASIS_GATEWAY_URL: sandbox gateway on %s, money is simulated", self.sandbox.gateway_url
            )
        self._gateway = build_gateway(s, self.sandbox)
        self._deps = build_dependencies(
            s,
            self.core_pool,
            self.supabase_pool,
            vault_from_settings(s),
            gateway=self._gateway,
            comms=self._gateway,
        )
        self._workers = build_workers(s, self._deps, self.core_pool)

    async def _stop(self) -> None:
        if self._deps is not None:
            await self._deps.documents.store.aclose()
            await self._deps.supabase_sync.mirror.aclose()
            await self._deps.webhooks.sender.aclose()
        self._deps = None
        self._workers = None
        if self._gateway is not None:
            await self._gateway.aclose()
            self._gateway = None
        if self.sandbox is not None:
            await self.sandbox.stop()
            self.sandbox = None
        for pool in (self.core_pool, self.supabase_pool):
            if pool is not None:
                await pool.close()
        self.core_pool = self.supabase_pool = None
        if self.targets is not None and self.targets.embedded is not None:
            await anyio.to_thread.run_sync(self.targets.embedded.stop)
        self.targets = None

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Each database answers ``SELECT 1`` within two seconds, or the service is unhealthy."""
        deps: dict[str, Any] = {}
        for name, pool in (("neon", self.core_pool), ("supabase_db", self.supabase_pool)):
            if pool is None:
                deps[name] = {"status": "down", "error": "not connected"}
                continue
            started = time.perf_counter()
            try:
                with anyio.fail_after(2):
                    await pool.fetchval("SELECT 1")
                deps[name] = {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
            except Exception as exc:
                deps[name] = {"status": "down", "error": type(exc).__name__}
        healthy = all(d["status"] == "up" for d in deps.values())
        return healthy, deps
