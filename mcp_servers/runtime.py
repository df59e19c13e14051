"""Start-up wiring, in one place: databases, migrations, pools, and the use-case dependencies."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import asyncpg

from adapters.local_store import LocalDocumentStore
from adapters.supabase_storage import SupabaseStorage
from database import migrate
from database.applications import PgApplicationReader
from database.bids import PgBidReader
from database.commissions import PgCommissionReader
from database.documents import PgDocumentReader
from database.embedded import EmbeddedPostgres, ensure_database, start_embedded
from database.jobs import PgJobStore
from database.ledger import PgLedgerReader
from database.loans import PgLoanReader
from database.pool import create_pool
from database.providers import PgProviderReader
from database.risk import PgRiskReader
from database.unit_of_work import pg_unit_of_work
from mcp_servers.auth import PrincipalSource
from mcp_servers.config import Settings
from mcp_servers.pii import vault_from_settings
from mcp_servers.workers import Periodic, Workers, worker_invocation
from tools import applications, loan_servicing
from tools.applications import ApplicationDeps
from tools.bidding import BiddingDeps
from tools.documents import DocumentDeps
from tools.ledger import LedgerDeps
from tools.loans import LoanDeps, LoanPolicy
from tools.matching import MatchingDeps
from tools.ports import DocumentStore, PersonalDataVault
from tools.principal import Principal
from tools.providers import ProviderDeps
from tools.risk import RiskDeps

__all__ = ["DatabaseTargets", "Dependencies", "Runtime"]

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


def build_dependencies(
    settings: Settings, core_pool: asyncpg.Pool, supabase_pool: asyncpg.Pool, vault: PersonalDataVault
) -> Dependencies:
    """The single place where concrete adapters meet the use cases' ports."""
    uow = pg_unit_of_work(core_pool)
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
        loans=LoanDeps(
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
        ),
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
    )


def build_workers(settings: Settings, deps: Dependencies, core_pool: asyncpg.Pool) -> Workers:
    """The background work of this process: each queue's handler and the periodic jobs (each safe to
    run in several processes at once)."""

    async def expire() -> object:
        return await applications.expire_stale_applications(deps.applications, worker_invocation("expire"))

    async def age() -> object:
        return await loan_servicing.age_loans(deps.loans, worker_invocation("age_loans"))

    return Workers(
        store=PgJobStore(core_pool),
        handlers={},
        periodic=[
            Periodic("expire_applications", timedelta(minutes=1), expire),
            Periodic("age_loans", timedelta(hours=1), age),
        ],
        poll=settings.worker_poll_seconds,
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

    @property
    def deps(self) -> Dependencies:
        if self._deps is None:
            raise RuntimeError("the runtime is not started")
        return self._deps

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
        self._deps = build_dependencies(s, self.core_pool, self.supabase_pool, vault_from_settings(s))
        self._workers = build_workers(s, self._deps, self.core_pool)

    async def _stop(self) -> None:
        if self._deps is not None:
            await self._deps.documents.store.aclose()
        self._deps = None
        self._workers = None
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
