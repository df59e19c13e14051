"""Real PostgreSQL for every run: CAAS_TEST_POSTGRES_URL if set, else an embedded server.

Each run creates its own pair of databases (system of record and Supabase side) and drops them at
the end, so runs never see each other's rows. With CAAS_TEST_POOLED_URL (a PgBouncer in transaction
mode in front of that server, as .ci/run starts it) the runtime's request pools go through PgBouncer,
as on Neon's pooled endpoint, and migrations and the tests' own connections use the direct URL.
"""

from __future__ import annotations

import os

os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "ERROR")

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from fastmcp import Client, FastMCP

from database.embedded import start_embedded
from database.pool import configure_connection
from mcp_servers.composition import build_server
from mcp_servers.config import Settings, load_settings
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, PII_ENV, SERVICE_KEY
from tests.helpers.confirm import person_confirms
from tests.helpers.markets import Countries
from tests.helpers.pgbouncer import core_urls
from tests.helpers.supabase import apply_hosted_defaults
from tools.payments.domain.routing import DEFAULT_ROUTES
from tools.platform.principal import Principal, Role


def pytest_configure(config: pytest.Config) -> None:
    # A configured database needs configured encryption keys; every Settings built in the run (and
    # every subprocess that inherits this environment) gets the test keys.
    for name, value in PII_ENV.items():
        os.environ.setdefault(name, value)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    configured = os.environ.get("CAAS_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    # Not tmp_path_factory: pytest prunes old basetemp folders, which would pull the data directory
    # from under a server that a concurrent run still uses.
    data_dir = Path(tempfile.mkdtemp(prefix="caas-test-pg-"))
    embedded = start_embedded(data_dir)
    yield embedded.admin_dsn
    embedded.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def fresh_database(pg_admin_dsn: str) -> AsyncIterator[object]:
    """A factory: ``await fresh_database()`` makes a new empty database and returns its DSN."""
    made: list[str] = []
    run = secrets.token_hex(4)

    async def make() -> str:
        name = f"caas_test_{run}_{len(made)}"
        conn = await asyncpg.connect(pg_admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return with_database(pg_admin_dsn, name)

    yield make
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        for name in made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def settings(fresh_database, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    core = await fresh_database()
    supabase = await fresh_database()
    # Before migrating, as on a hosted project: the migrations must hold against Supabase's own grants.
    await apply_hosted_defaults(supabase)
    return load_settings(
        **core_urls(core),
        supabase_db_url=supabase,
        data_dir=Path(tmp_path_factory.mktemp("data")),
        jwt_secret=JWT_SECRET,
        jwt_issuer=JWT_ISSUER,
        jwt_audience=JWT_AUDIENCE,
        service_api_key=SERVICE_KEY,
        pool_max_size=16,
        # Every currency a test lends in (a matching test's market is MUR): an application or lender in
        # a currency with no payment route is refused (tests/mcp_servers/test_payable_currencies.py).
        payment_routes=f"{DEFAULT_ROUTES};MUR,BWP,JPY,MWK,SCR,ZMW:paystack",
        # Tool tests call every tool a role may; the default views have tests of their own
        # (tests/mcp_servers/test_toolsets.py).
        toolsets="all",
    )


@pytest.fixture(scope="session")
def session_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="session")
async def runtime(settings: Settings, session_clock: MovableClock) -> AsyncIterator[Runtime]:
    rt = Runtime(settings, clock=session_clock)
    async with rt.session():
        yield rt


@pytest.fixture
def clock(runtime: Runtime, session_clock: MovableClock) -> Iterator[MovableClock]:
    """The runtime's clock, for this test to move forward; it is back at real time afterwards."""
    yield session_clock
    session_clock.reset()


@pytest.fixture
def principal(runtime: Runtime) -> Iterator[object]:
    """``principal(subject, role)`` switches who the in-memory client calls as, for this test."""
    original = runtime.principals.local

    def use(subject: str, role: Role = Role.BORROWER, provider_id: str | None = None) -> Principal:
        runtime.principals.local = Principal(subject, role, provider_id)
        return runtime.principals.local

    yield use
    runtime.principals.local = original


@pytest.fixture(scope="session")
def countries(tmp_path_factory: pytest.TempPathFactory) -> Countries:
    """Hands out countries, each to one test of the run (``countries.claim()``)."""
    return Countries.for_run(tmp_path_factory)


@pytest.fixture
def country(countries: Countries) -> str:
    """This test's market: a country no other test of the run lends or applies in, so matching sees
    exactly the lenders the test onboarded there."""
    return countries.claim()


@pytest.fixture(scope="session")
def server(runtime: Runtime) -> FastMCP:
    return build_server(runtime)


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client]:
    """An in-memory MCP client of the current protocol era (2026-07-28). The older handshake era is the
    transport's business and has tests of its own (``test_protocol_eras``, ``test_http``, ``test_stdio``,
    ``test_catalog``), instead of doubling every tool test."""
    # Its person answers yes to money moves; an agent's or a service's still needs confirm_action by a
    # person (tests.helpers.confirm.confirmed), and tests/mcp_servers/test_confirmation.py has the refusals.
    async with Client(server, mode="2026-07-28", elicitation_handler=person_confirms) as c:
        yield c


@pytest.fixture
async def supa(runtime: Runtime) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the Supabase database (the embedded second one, or SUPABASE_DB_URL)."""
    assert runtime.targets is not None
    conn = await asyncpg.connect(runtime.targets.supabase)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def core_db(runtime: Runtime) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the system of record, for asserting what was (not) stored."""
    assert runtime.targets is not None
    conn = await asyncpg.connect(runtime.targets.direct_core)
    await configure_connection(conn)
    try:
        yield conn
    finally:
        await conn.close()
