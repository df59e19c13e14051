"""The single place where concrete adapters meet the use cases' ports: the dependencies of every
service, the background workers, the gateway (or the sandbox) and the Supabase writers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import asyncpg
from pydantic import SecretStr

from adapters.marketplace.webhook_sender import HttpxWebhookSender
from adapters.monitoring.metrics import PrometheusMetrics, metrics_targets
from adapters.notifications.supabase_sync import count_sync_failures, observe_sync_lag
from adapters.payments.onasis_gateway import OnasisGateway
from adapters.sandbox import Sandbox
from database.credit.applications import PgApplicationReader
from database.credit.documents import PgDocumentReader
from database.ledger.ledger import PgLedgerReader
from database.loans.commissions import PgCommissionReader
from database.loans.loans import PgLoanReader
from database.marketplace.bids import PgBidReader
from database.marketplace.decision_tallies import fold_provider_decisions as fold_decisions
from database.marketplace.providers import PgProviderReader
from database.marketplace.webhook_deliveries import PgWebhookDeliveries
from database.monitoring.dashboard import PgMonitoringReader
from database.notifications.due_installments import PgDueInstallments
from database.payments.payments import PgPaymentReader
from database.platform.jobs import PgJobStore
from database.platform.pending_actions import fail_interrupted_actions as unran
from database.risk.assessments import PgRiskReader
from database.unit_of_work import PgUnitOfWork, pg_unit_of_work
from mcp_servers.config import Settings
from mcp_servers.platform.multiprocess import process_registry
from mcp_servers.platform.workers import Periodic, Workers, worker_invocation
from mcp_servers.processes import selected
from mcp_servers.supabase_wiring import document_store, status_mirror, supabase_over_rest, supabase_stores
from tools.credit import applications
from tools.credit.ports import CreditDeps
from tools.ledger import ledger as ledger_use_cases
from tools.ledger.ports import LedgerDeps
from tools.loans import aging as loan_aging
from tools.loans.ports import LoanDeps, LoanPolicy
from tools.marketplace import provider_webhooks
from tools.marketplace.ports import MarketplaceDeps
from tools.marketplace.webhook_batch import provider_webhook_handler
from tools.monitoring.ports import MonitoringDeps, SyncMode
from tools.notifications.notifications import notification_handler, remind_due_repayments
from tools.notifications.ports import NotificationDeps, NotificationStore, SupportStore
from tools.notifications.supabase_sync import sync_handler
from tools.payments.charges import expire_stalled_charges
from tools.payments.domain.routing import VendorRouter, parse_routes
from tools.payments.ports import CommunicationGateway, PaymentDeps, PaymentGateway
from tools.payments.transfers import send_disbursement
from tools.platform.errors import Conflict
from tools.platform.jobs import Handler
from tools.platform.ports import Clock, PersonalDataVault, UnitOfWorkFactory
from tools.risk.domain.scorecard import DEFAULT_POLICY
from tools.risk.ports import RiskDeps

if TYPE_CHECKING:
    from adapters.platform.supabase_rest import SupabaseRest

__all__ = ["Dependencies", "PaymentSecrets", "build_dependencies", "build_gateway", "build_workers"]
__all__ += ["make_sandbox"]

log = logging.getLogger("caas.wiring")


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the use cases of every service get, one dependency dataclass per service; built once per
    process in ``build_dependencies``."""

    credit: CreditDeps
    risk: RiskDeps
    marketplace: MarketplaceDeps
    loans: LoanDeps
    ledger: LedgerDeps
    payments: PaymentDeps
    notifications: NotificationDeps
    monitoring: MonitoringDeps
    # The PostgREST connection of notifications and support chat when they write over HTTP (see
    # ``supabase_stores``); the runtime closes it.
    supabase_rest: SupabaseRest | None = None


@dataclass(frozen=True, slots=True)
class _Shared:
    """What several services' dependencies share: one unit of work and one reader per table for the
    whole process, so every service sees the same pool through the same objects."""

    settings: Settings
    core_pool: asyncpg.Pool
    vault: PersonalDataVault
    clock: Clock
    uow: UnitOfWorkFactory[PgUnitOfWork]
    applications: PgApplicationReader
    documents: PgDocumentReader
    risk: PgRiskReader
    providers: PgProviderReader
    bidding_window: timedelta
    payable_currencies: frozenset[str]  # CAAS_PAYMENT_ROUTES' currencies, parsed once


def build_dependencies(
    settings: Settings,
    core_pool: asyncpg.Pool,
    supabase_pool: asyncpg.Pool,
    vault: PersonalDataVault,
    *,
    gateway: PaymentGateway,
    comms: CommunicationGateway,
    clock: Clock,
    pooled: bool = False,
) -> Dependencies:
    """The single place where concrete adapters meet the use cases' ports. ``pooled``: ``core_pool``
    goes through a transaction pooler (``database.pool.create_pool``)."""
    shared = _Shared(
        settings=settings,
        core_pool=core_pool,
        vault=vault,
        clock=clock,
        uow=pg_unit_of_work(core_pool, pooled=pooled),
        applications=PgApplicationReader(core_pool),
        documents=PgDocumentReader(core_pool),
        risk=PgRiskReader(core_pool),
        providers=PgProviderReader(core_pool),
        bidding_window=timedelta(hours=settings.bidding_window_hours),
        payable_currencies=frozenset(parse_routes(settings.payment_routes)),
    )
    notification_store, support_store, supabase_rest = supabase_stores(settings, supabase_pool)
    # Payments read loans through the very same LoanDeps the loans service gets.
    loans = _loan_deps(shared)
    return Dependencies(
        credit=_credit_deps(shared),
        risk=_risk_deps(shared),
        marketplace=_marketplace_deps(shared),
        loans=loans,
        ledger=LedgerDeps(uow=shared.uow, reader=PgLedgerReader(core_pool), clock=clock),
        payments=_payment_deps(shared, loans, gateway),
        notifications=_notification_deps(shared, supabase_pool, notification_store, support_store, comms),
        monitoring=_monitoring_deps(shared),
        supabase_rest=supabase_rest,
    )


def _loan_deps(shared: _Shared) -> LoanDeps:
    settings = shared.settings
    return LoanDeps(
        uow=shared.uow,
        reader=PgLoanReader(shared.core_pool),
        providers=shared.providers,
        commissions=PgCommissionReader(shared.core_pool),
        clock=shared.clock,
        policy=LoanPolicy(
            default_threshold_days=settings.default_threshold_days,
            late_fee_percent=settings.late_fee_rate,
            late_fee_grace_days=settings.late_fee_grace_days,
            late_fee_flat=settings.late_fee_flat,
        ),
    )


def _credit_deps(shared: _Shared) -> CreditDeps:
    settings = shared.settings
    return CreditDeps(
        uow=shared.uow,
        applications=shared.applications,
        documents=shared.documents,
        risk=shared.risk,
        store=document_store(settings),
        vault=shared.vault,
        clock=shared.clock,
        policy=DEFAULT_POLICY,
        bidding_window=shared.bidding_window,
        document_max_bytes=settings.document_max_bytes,
        operator_approval_above=settings.operator_approval_above,
        payable_currencies=shared.payable_currencies,
    )


def _risk_deps(shared: _Shared) -> RiskDeps:
    return RiskDeps(
        uow=shared.uow,
        applications=shared.applications,
        documents=shared.documents,
        risk=shared.risk,
        vault=shared.vault,
        clock=shared.clock,
    )


def _marketplace_deps(shared: _Shared) -> MarketplaceDeps:
    settings = shared.settings
    return MarketplaceDeps(
        uow=shared.uow,
        applications=shared.applications,
        risk=shared.risk,
        providers=shared.providers,
        bids=PgBidReader(shared.core_pool),
        deliveries=PgWebhookDeliveries(shared.core_pool),
        sender=HttpxWebhookSender(
            allow_local=settings.allows_local_webhooks,
            timeout_seconds=settings.webhook_timeout_seconds,
            user_agent="CaaS-Webhooks/1.0",
        ),
        vault=shared.vault,
        clock=shared.clock,
        bidding_window=shared.bidding_window,
        webhook_max_attempts=settings.webhook_max_attempts,
        webhook_retry_base=timedelta(seconds=settings.webhook_retry_base_seconds),
        webhook_secret_overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
        webhook_allow_local=settings.allows_local_webhooks,
        payable_currencies=shared.payable_currencies,
    )


def _payment_deps(shared: _Shared, loans: LoanDeps, gateway: PaymentGateway) -> PaymentDeps:
    settings = shared.settings
    return PaymentDeps(
        uow=shared.uow,
        reader=PgPaymentReader(shared.core_pool),
        loans=loans,
        applications=shared.applications,
        vault=shared.vault,
        gateway=gateway,
        # One router per process: its circuit breakers learn from every payment this process makes.
        router=VendorRouter.from_text(
            settings.payment_routes,
            failures=settings.breaker_failures,
            reset_seconds=settings.breaker_reset_seconds,
        ),
        clock=shared.clock,
    )


def _notification_deps(
    shared: _Shared,
    supabase_pool: asyncpg.Pool,
    store: NotificationStore,
    support: SupportStore,
    comms: CommunicationGateway,
) -> NotificationDeps:
    settings = shared.settings
    return NotificationDeps(
        uow=shared.uow,
        store=store,
        support=support,
        mirror=status_mirror(settings, supabase_pool),
        applications=shared.applications,
        loans=PgLoanReader(shared.core_pool),
        due=PgDueInstallments(shared.core_pool),
        comms=comms,
        clock=shared.clock,
        reminder_days=settings.repayment_reminder_days,
        observe_lag=observe_sync_lag,
    )


def _monitoring_deps(shared: _Shared) -> MonitoringDeps:
    s = shared.settings
    mode: SyncMode = "embedded" if s.embedded else "postgrest" if supabase_over_rest(s) else "postgres"
    reader, metrics, targets = (
        PgMonitoringReader(shared.core_pool),
        PrometheusMetrics(process_registry()),  # under --processes: all of them
        metrics_targets(s.monitor_targets),
    )
    return MonitoringDeps(reader, metrics, targets, mode, shared.bidding_window, shared.clock)


def build_workers(
    settings: Settings,
    deps: Dependencies,
    core_pool: asyncpg.Pool,
    clock: Clock,
    *,
    queues: frozenset[str] | None = None,
    listen_dsn: str | None = None,
) -> Workers:
    """The background work of this process: the outbox relay, each queue's handler and the periodic
    jobs (each safe to run in several processes at once), or those of them named in ``queues``
    (``mcp_servers.processes.QUEUES``); ``clock`` says when a job is due (the use cases' clock)."""

    async def expire() -> object:
        return await applications.expire_stale_applications(deps.credit, worker_invocation("expire"))

    async def age() -> object:
        # A run ages at most 500 loans and skips those already aged today: run until one ages none,
        # so the whole book is aged each day, not only its first 500 loans in arrears.
        aged = 0
        while (report := await loan_aging.age_loans(deps.loans, worker_invocation("age_loans"))).loans_aged:
            aged += report.loans_aged
        return aged

    async def unstall() -> object:
        return await expire_stalled_charges(deps.payments, worker_invocation("expire_stalled_charges"))

    async def remind() -> object:
        return await remind_due_repayments(deps.notifications)

    async def reconcile() -> object:
        # Hourly and incremental: it keeps the checkpoint /metrics' ledger figure and the next run
        # start from within the hour, so neither reads every posting (docs/scaling.md).
        try:
            return (await ledger_use_cases.reconcile_ledger(deps.ledger)).consistent
        except Conflict:  # another process (or an operator) is reconciling; its run moves the checkpoint
            return None

    handlers: dict[str, Handler] = {
        "supabase_sync": count_sync_failures(sync_handler(deps.notifications)),
        # A claimed batch at once: its providers read, its deliveries written, in one statement each.
        provider_webhooks.QUEUE: provider_webhook_handler(
            deps.marketplace, PgWebhookDeliveries(core_pool), concurrency=settings.worker_concurrency
        ),
        "payments": partial(send_disbursement, deps.payments, worker_invocation("payments")),
        "notifications": notification_handler(deps.notifications),
    }
    sweep = worker_invocation("fail_interrupted_actions")
    periodic = [
        Periodic("expire_applications", timedelta(minutes=1), expire),
        Periodic("expire_stalled_charges", timedelta(minutes=1), unstall),
        Periodic("fold_provider_decisions", timedelta(minutes=1), partial(fold_decisions, core_pool)),
        Periodic("fail_interrupted_actions", timedelta(minutes=1), partial(unran, core_pool, clock, sweep)),
        Periodic("age_loans", timedelta(hours=1), age),
        Periodic("repayment_reminders", timedelta(hours=1), remind),
        Periodic("reconcile_ledger", timedelta(hours=1), reconcile),
    ]
    return Workers(
        store=PgJobStore(core_pool),
        clock=clock,
        handlers={name: handlers[name] for name in selected(handlers, queues)},
        periodic=[job for job in periodic if job.name in selected([job.name], queues)],
        relay=queues is None or "outbox" in queues,
        poll=settings.worker_poll_seconds,
        fallback_poll=settings.worker_fallback_poll_seconds,
        coalesce=settings.worker_coalesce_seconds,
        lease=settings.job_lease,
        concurrency=settings.worker_concurrency,
        listen_dsn=listen_dsn,
    )


@dataclass(frozen=True, slots=True)
class PaymentSecrets:
    """The keys that payment vendors' webhooks are signed with: the configured ones, else those the
    in-process sandbox generated (it signs with them), else None (nothing can be verified)."""

    paystack: str | None
    stripe: str | None


def secret_value(value: SecretStr | None) -> str | None:
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
        paystack_secret=secret_value(settings.paystack_secret_key),
        stripe_secret=secret_value(settings.stripe_webhook_secret),
        payments_path=settings.onasis_payments_path,
        transfers_path=settings.onasis_transfers_path,
        registry_services_path=settings.registry_services_path,
    )


def build_gateway(settings: Settings, sandbox: Sandbox | None) -> OnasisGateway:
    """The gateway adapter: at the sandbox when it runs (money simulated), else at the configured URL."""
    url = sandbox.gateway_url if sandbox is not None else str(settings.onasis_gateway_url)
    return OnasisGateway(
        url,
        api_key=secret_value(settings.onasis_api_key),
        project_scope=settings.onasis_project_scope,
        payments_path=settings.onasis_payments_path,
        transfers_path=settings.onasis_transfers_path,
        timeout_seconds=settings.gateway_timeout_seconds,
        connect_timeout_seconds=settings.gateway_connect_timeout_seconds,
        simulated=sandbox is not None,
    )
