"""The running process: databases, migrations, pools, the gateway or sandbox, and the dependencies
built once in ``mcp_servers.wiring``."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import asyncpg

from adapters.payments.absent_gateway import AbsentGateway
from adapters.payments.onasis_gateway import OnasisGateway
from adapters.sandbox import Sandbox
from database import migrate
from database.embedded import EmbeddedPostgres, ensure_database, start_embedded
from database.pool import create_pool
from mcp_servers.config import ConfigError, Settings
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.platform.pii import vault_from_settings
from mcp_servers.platform.workers import Workers
from mcp_servers.processes import ProcessPlan, composed_plan
from mcp_servers.wiring import (
    Dependencies,
    PaymentSecrets,
    build_dependencies,
    build_gateway,
    build_workers,
    make_sandbox,
    secret_value,
)
from tools.platform.ports import Clock, SystemClock
from tools.platform.principal import Principal
from tools.platform.registration import Registrar

__all__ = ["DatabaseTargets", "Dependencies", "PaymentSecrets", "Runtime", "check_sandbox_consent"]

log = logging.getLogger("caas.runtime")


@dataclass(frozen=True, slots=True)
class DatabaseTargets:
    """Where each database is. ``core`` is what request pools use: it may be a transaction pooler
    (``pooled``), so anything that needs a session (migrations, ``LISTEN`` listeners, session locks,
    ``SET`` without ``LOCAL``) connects to ``direct_core`` instead."""

    core: str
    supabase: str
    embedded: EmbeddedPostgres | None
    # NEON_DIRECT_URL when set, else the same URL as core (then core is direct too).
    direct_core: str = ""
    pooled: bool = False

    def __post_init__(self) -> None:
        if not self.direct_core:
            object.__setattr__(self, "direct_core", self.core)

    @property
    def direct_supabase(self) -> str:
        """The Supabase tables' session URL: the direct core one when they live in the core database."""
        return self.direct_core if self.supabase == self.core else self.supabase


async def resolve_databases(settings: Settings) -> DatabaseTargets:
    """The configured URLs, or the embedded server with both databases created in it."""
    if settings.database_url is not None:
        core = settings.database_url.get_secret_value()
        direct = settings.direct_database_url
        assert direct is not None  # database_url is set
        supabase = settings.supabase_db_url.get_secret_value() if settings.supabase_db_url else core
        return DatabaseTargets(core, supabase, None, direct.get_secret_value(), settings.pooled)
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

    def __init__(
        self, settings: Settings, clock: Clock | None = None, plan: ProcessPlan | None = None
    ) -> None:
        self.settings = settings
        # What this process carries (pools, workers, sandbox); the composed server's by default.
        self.plan = plan or composed_plan(settings)
        # The time every use case acts at: the system clock, or one a test moves.
        self.clock: Clock = clock or SystemClock()
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
        self._gateway: OnasisGateway | AbsentGateway | None = None
        # Set by mcp_servers.platform.registration while `caas serve` keeps this server registered (/health).
        self.registration: Registrar | None = None

    @property
    def deps(self) -> Dependencies:
        if self._deps is None:
            raise RuntimeError("the runtime is not started")
        return self._deps

    @property
    def gateway(self) -> OnasisGateway | AbsentGateway:
        """The payment and communication gateway (``PaymentGateway`` and ``CommunicationGateway``)."""
        if self._gateway is None:
            raise RuntimeError("the runtime is not started")
        return self._gateway

    @property
    def payment_secrets(self) -> PaymentSecrets:
        s, sandbox = self.settings, self.sandbox
        return PaymentSecrets(
            paystack=secret_value(s.paystack_secret_key) or (sandbox.paystack_secret if sandbox else None),
            stripe=secret_value(s.stripe_webhook_secret) or (sandbox.stripe_secret if sandbox else None),
        )

    def payments_info(self) -> dict[str, Any]:
        """For /health: whether money is real (the in-process sandbox, or a gateway that said it is one)."""
        if isinstance(self._gateway, AbsentGateway):
            return {"gateway": "none", "simulated": True}
        simulated = self.settings.onasis_gateway_url is None or (
            self._gateway is not None and self._gateway.simulated
        )
        return {"gateway": "sandbox" if simulated else "onasis", "simulated": simulated}

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            raise RuntimeError("the runtime is not started")
        return self._workers

    @property
    def listener_dsn(self) -> str:
        """The DSN of connections that hold a session (the workers' LISTEN): never the pool's. Behind a
        transaction pooler (PgBouncer, Neon's pooled endpoint) the direct URL; this is the one place
        that chooses it."""
        if self.targets is None:
            raise RuntimeError("the runtime is not started")
        return self.targets.direct_core

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
        # Migrations hold a session advisory lock across their transactions: the direct URL, never a pooler.
        for dsn, target in ((self.targets.direct_core, "core"), (self.targets.direct_supabase, "supabase")):
            applied = await prepare_schema(dsn, target, s.auto_migrate)  # type: ignore[arg-type]
            if applied:
                log.info("applied %s migrations: %s", target, ", ".join(applied))
        plan = self.plan
        self.core_pool = await create_pool(
            self.targets.core,
            min_size=plan.pool_min,
            max_size=plan.pool_max,
            application_name=plan.name,
            pooled=self.targets.pooled,
        )
        self.supabase_pool = await create_pool(
            self.targets.supabase,
            min_size=plan.supabase_pool_min,
            max_size=plan.supabase_pool_max,
            application_name=plan.name,
            # Its tables in the core database: the same URL, through the same pooler.
            pooled=self.targets.pooled and self.targets.supabase == self.targets.core,
        )
        if s.onasis_gateway_url is None and plan.owns_payments:
            self.sandbox = make_sandbox(s)
            await self.sandbox.start()
            log.info(
                "no ONASIS_GATEWAY_URL: sandbox gateway on %s, money is simulated", self.sandbox.gateway_url
            )
        if s.onasis_gateway_url is None and self.sandbox is None:
            # Another process owns payments; nothing this one serves calls the gateway.
            self._gateway = AbsentGateway()
        else:
            self._gateway = build_gateway(s, self.sandbox)
        if self.sandbox is None:
            await self._gateway.detect_sandbox()  # before any payment row records whether it is simulated
        self._deps = build_dependencies(
            s,
            self.core_pool,
            self.supabase_pool,
            vault_from_settings(s),
            gateway=self._gateway,
            comms=self._gateway,
            clock=self.clock,
            pooled=self.targets.pooled,
        )
        self._workers = build_workers(
            s, self._deps, self.core_pool, self.clock, queues=plan.queues, listen_dsn=self.listener_dsn
        )

    async def _stop(self) -> None:
        if self._deps is not None:
            await self._deps.credit.store.aclose()
            await self._deps.notifications.mirror.aclose()
            await self._deps.marketplace.sender.aclose()
            if self._deps.supabase_rest is not None:
                await self._deps.supabase_rest.aclose()
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
                # A database that stopped answering must not hold the process up on its way out.
                with anyio.move_on_after(5, shield=True) as closing:
                    await pool.close()
                if closing.cancelled_caught:
                    pool.terminate()
        self.core_pool = self.supabase_pool = None
        if self.targets is not None and self.targets.embedded is not None:
            await anyio.to_thread.run_sync(self.targets.embedded.stop)
        self.targets = None

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Readiness: each database answers ``SELECT 1`` with no migration pending, and the Supabase
        REST and Storage APIs answer when configured, each within two seconds."""
        checks: dict[str, Callable[[], Awaitable[object]]] = {}
        checks["neon"] = partial(_check_database, self.core_pool, "core")
        checks["supabase_db"] = partial(_check_database, self.supabase_pool, "supabase")
        deps = self._deps
        if deps is not None and deps.supabase_rest is not None:
            checks["supabase_rest"] = deps.supabase_rest.ping
        ping = getattr(deps.credit.store, "ping", None) if deps is not None else None
        if ping is not None:
            checks["supabase_storage"] = ping
        found: dict[str, Any] = {}

        async def run(name: str, check: Callable[[], Awaitable[object]]) -> None:
            started = time.perf_counter()
            try:
                with anyio.fail_after(2):
                    await check()
                found[name] = {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
            except _Pending as exc:
                found[name] = {"status": "down", "error": "migrations pending", "pending": exc.names}
            except Exception as exc:
                found[name] = {"status": "down", "error": type(exc).__name__}

        async with anyio.create_task_group() as tg:
            for name, check in checks.items():
                tg.start_soon(run, name, check)
        ordered = {name: found[name] for name in checks}
        return all(d["status"] == "up" for d in ordered.values()), ordered


class _Pending(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__("migrations pending")
        self.names = names


async def _check_database(pool: asyncpg.Pool | None, target: migrate.Target) -> None:
    if pool is None:
        raise ConnectionError("not connected")
    async with pool.acquire() as conn:
        states = await migrate.status(conn, target)  # type: ignore[arg-type]
    pending = [st.migration_name for st in states if st.state == "pending"]
    if pending:
        raise _Pending(pending)


def check_sandbox_consent(settings: Settings) -> None:
    """Money on a configured system of record is never simulated by accident."""
    if settings.database_url is not None and settings.onasis_gateway_url is None and not settings.sandbox:
        raise ConfigError(
            "NEON_DATABASE_URL is set but ONASIS_GATEWAY_URL is not: set ONASIS_GATEWAY_URL for real "
            "payments, or CAAS_SANDBOX=true to simulate money on this database"
        )
