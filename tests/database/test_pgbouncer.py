"""Through a real PgBouncer in transaction pooling mode, as Neon's pooled endpoint runs it: the request
pools work with the statement cache off (and fail with it on), migrations refuse the pooled URL and run
on the direct one, money moves' row and advisory locks hold, and a listener on the direct URL hears what
is committed through the pooler.

PgBouncer is Debian's ``pgbouncer`` (``.ci/run`` installs it); without it these tests fail, never skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from pydantic import SecretStr

from database import migrate
from database.locks import AdvisoryLock
from mcp_servers.composition import build_server
from mcp_servers.config import ConfigError, Settings, load_settings
from mcp_servers.runtime import Runtime
from tests.helpers.confirm import person_confirms
from tests.helpers.ledger import deposit, new_provider, post, reserve
from tests.helpers.pgbouncer import PgBouncer, find_pgbouncer, start_pgbouncer
from tests.helpers.risk import SUBMIT, body, call, uid
from tools.platform.principal import Principal, Role

from .ledger.test_ledger_locking import cached_and_summed, posting


@pytest.fixture(scope="module")
def bouncer(pg_admin_dsn: str) -> Iterator[PgBouncer]:
    if find_pgbouncer() is None:
        pytest.fail(
            "pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it): "
            "the pooled-Neon tests need a real one"
        )
    running = start_pgbouncer(pg_admin_dsn)
    yield running
    running.stop()


def direct(runtime: Runtime) -> str:
    assert runtime.targets is not None
    return runtime.targets.direct_core


@pytest.fixture
async def pooled_runtime(settings: Settings, runtime: Runtime, bouncer: PgBouncer) -> AsyncIterator[Runtime]:
    """A second runtime on the test databases whose request pools go through PgBouncer, as a process
    configured with Neon's two URLs (NEON_DATABASE_URL pooled, NEON_DIRECT_URL direct) runs."""
    pooled = settings.model_copy(
        update={
            "database_url": SecretStr(bouncer.url(direct(runtime))),
            "direct_url": SecretStr(direct(runtime)),
            "database_pooled": None,
            "workers": False,  # the session runtime's workers own the queues
        }
    )
    assert pooled.pooled
    other = Runtime(pooled)
    async with other.session():
        yield other


async def prepared_twice_while_another_client_holds_the_first_server(url: str, **options: Any) -> None:
    """PgBouncer hands a client any idle server connection per transaction (the latest used first):
    prepared on one, the statement is looked for on another while a second client holds the first."""
    first, second = await asyncpg.connect(url, **options), await asyncpg.connect(url, **options)
    try:
        assert await first.fetchval("SELECT $1::int + 1", 1) == 2
        async with second.transaction():
            await second.fetchval("SELECT 1")  # takes the server connection ``first`` just used
            assert await first.fetchval("SELECT $1::int + 1", 2) == 3
    finally:
        await first.close()
        await second.close()


async def test_the_statement_cache_breaks_through_pgbouncer_and_the_pooled_setting_turns_it_off(
    runtime: Runtime, bouncer: PgBouncer
) -> None:
    url = bouncer.url(direct(runtime))
    with pytest.raises(asyncpg.InvalidSQLStatementNameError):
        await prepared_twice_while_another_client_holds_the_first_server(url)
    # What a runtime with a pooled URL passes to its request pools.
    assert load_settings(database_url=url, direct_url=direct(runtime)).pooled
    await prepared_twice_while_another_client_holds_the_first_server(url, statement_cache_size=0)


async def test_the_request_pool_with_its_json_codecs_works_under_concurrency_through_pgbouncer(
    pooled_runtime: Runtime,
) -> None:
    pool = pooled_runtime.core_pool
    assert pool is not None

    async def one(n: int) -> None:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::jsonb", {"n": n}) == {"n": n}
            # The session settings the pool asked for hold on whichever server connection it gets
            # (asyncpg's RESET ALL on release would revert them there: it is off through a pooler).
            assert await conn.fetchval("SELECT current_setting('timezone')") == "UTC"
            assert await conn.fetchval("SELECT current_setting('application_name')") == "caas"

    await asyncio.gather(*(one(n) for n in range(200)))
    async with pool.acquire() as conn:
        assert await migrate.through_pooler(conn), "the pool must go through PgBouncer here"


async def test_a_tool_call_runs_through_pgbouncer(
    pooled_runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    borrower = uid("b-pooled")
    pooled_runtime.principals.local = Principal(borrower, Role.BORROWER)
    async with Client(
        build_server(pooled_runtime), mode="2026-07-28", elicitation_handler=person_confirms
    ) as client:
        app = await call(client, SUBMIT, {"application": body()})
        again = await call(client, "credit_get_application", {"application": app["reference"]})
    assert again["reference"] == app["reference"]
    stored = await core_db.fetchval(
        "SELECT borrower_id FROM caas_core.applications WHERE reference = $1", app["reference"]
    )
    assert stored == borrower


async def test_migrations_refuse_the_pooled_url_and_a_runtime_runs_them_on_the_direct_one(
    fresh_database: Any, settings: Settings, bouncer: PgBouncer
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    through = await asyncpg.connect(bouncer.url(core), statement_cache_size=0)
    try:
        with pytest.raises(migrate.MigrationError, match="direct URL"):
            await migrate.migrate(through, "core")
    finally:
        await through.close()
    check = await asyncpg.connect(core)
    try:
        # Refused before any change, and no session lock left behind on a pooled server connection.
        assert await check.fetchval("SELECT to_regclass('caas_meta.schema_migrations')") is None
        held = await check.fetchval(
            # This database's only: other tests migrate their own databases at the same time.
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            AdvisoryLock.MIGRATIONS.value & 0xFFFFFFFF,
        )
        assert held == 0
        pooled = settings.model_copy(
            update={
                "database_url": SecretStr(bouncer.url(core)),
                "direct_url": SecretStr(core),
                "supabase_db_url": SecretStr(supabase),
                "workers": False,
            }
        )
        async with Runtime(pooled).session():
            pass
        states = await migrate.status(check, "core")
        assert states and {s.state for s in states} == {"applied"}
    finally:
        await check.close()


def test_a_pooled_url_without_the_direct_one_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="NEON_DIRECT_URL"):
        load_settings(database_url="postgresql://u@db.example/caas", database_pooled=True)
    # Neon's pooled endpoint by its host name, without saying so.
    with pytest.raises(ConfigError, match="NEON_DIRECT_URL"):
        load_settings(database_url="postgresql://u@ep-cool-1234-pooler.eu-central-1.aws.neon.tech/caas")
    with pytest.raises(ConfigError, match="NEON_DATABASE_URL"):
        load_settings(direct_url="postgresql://u@db.example/caas")
    assert not load_settings(database_url="postgresql://u@db.example/caas").pooled


async def test_money_moves_row_locks_and_transaction_advisory_locks_hold_through_pgbouncer(
    runtime: Runtime, bouncer: PgBouncer, core_db: asyncpg.Connection
) -> None:
    url = bouncer.url(direct(runtime))
    p, q = new_provider(), new_provider()
    await post(runtime, deposit(p, 1_000), deposit(q, 1_000))
    one = await asyncpg.connect(url, statement_cache_size=0)
    two = await asyncpg.connect(url, statement_cache_size=0)
    try:
        # Journals crossing the same balance rows in opposite orders, each in its own transaction
        # (tests/database/ledger/test_ledger_locking.py): both commit, the cache matches the postings.
        first, second = one.transaction(), two.transaction()
        await first.start()
        await second.start()
        await posting(one, deposit(p, 10))
        await posting(two, deposit(q, 20))
        await asyncio.gather(posting(one, reserve(q, 5)), posting(two, reserve(p, 7)))
        await first.commit()
        await second.commit()
        # The outbox relay's transaction lock excludes another client while held, and leaves nothing
        # on the pooled server connection after commit.
        async with one.transaction():
            assert await one.fetchval("SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value)
            assert not await two.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value
            )
        assert await two.fetchval("SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value)
    finally:
        await one.close()
        await two.close()
    assert await cached_and_summed(core_db, p) == {
        "capital_available": (1_003, 1_003),
        "capital_contributed": (-1_010, -1_010),
        "capital_reserved": (7, 7),
    }
    assert await cached_and_summed(core_db, q) == {
        "capital_available": (1_015, 1_015),
        "capital_contributed": (-1_020, -1_020),
        "capital_reserved": (5, 5),
    }


async def test_a_listener_on_the_direct_url_hears_what_is_committed_through_pgbouncer(
    pooled_runtime: Runtime,
) -> None:
    assert pooled_runtime.targets is not None and pooled_runtime.core_pool is not None
    heard: asyncio.Queue[str] = asyncio.Queue()
    channel = f"caas_test_{uid('l').replace('-', '_')}"
    # LISTEN needs a session: through PgBouncer it would stay on a server connection the client
    # no longer holds. Listeners take the runtime's direct URL.
    listener = await asyncpg.connect(pooled_runtime.targets.direct_core)
    try:
        assert not await migrate.through_pooler(listener)
        await listener.add_listener(channel, lambda *args: heard.put_nowait(args[3]))
        async with pooled_runtime.core_pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_notify($1, 'committed')", channel)
        assert await asyncio.wait_for(heard.get(), 10) == "committed"
    finally:
        await listener.close()


async def test_pgbouncer_keeps_serving_after_logging_more_than_a_pipe_holds(bouncer: PgBouncer) -> None:
    # PgBouncer logs to stderr too; the helper once piped it unread, and after 64 KiB (a few hundred
    # connections, well inside one pooled suite run) PgBouncer blocked in write() and served no one.
    url = bouncer.url(bouncer.upstream)
    path = bouncer.directory / "pgbouncer.log"
    start = path.stat().st_size
    for _ in range(3000):
        if path.stat().st_size - start > 96 * 1024:
            break
        conn = await asyncpg.connect(url, timeout=10, statement_cache_size=0)
        await conn.close()
    assert path.stat().st_size - start > 96 * 1024
    conn = await asyncpg.connect(url, timeout=10, statement_cache_size=0)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
