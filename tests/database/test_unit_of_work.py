"""The unit of work's replay of a call whose transaction the database aborted (issue 10, #17): a real
deadlock on PostgreSQL, the call run again and committed once; a call that already committed or wrote
outside the database is not replayed; replays are bounded."""

from __future__ import annotations

import ast
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.notifications.supabase_sync import PgStatusMirror
from database.notifications.notifications import service_connection
from database.unit_of_work import (
    ATTEMPTS,
    PgUnitOfWork,
    is_transient,
    pg_unit_of_work,
    retry_transient,
)
from mcp_servers.runtime import Runtime
from tests.helpers.common import dsn_proxy
from tools.platform.errors import Unavailable
from tools.platform.transactions import ROLLBACK_S, note_outside_effect, transaction

TABLE = "caas_core.test_replay_rows"


@pytest.fixture
async def rows(runtime: Runtime, core_db: asyncpg.Connection) -> AsyncIterator[tuple[int, int]]:
    """Two fresh rows of a scratch table: the two resources the transactions fight over."""
    await core_db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY, runs int NOT NULL)")
    await core_db.execute(f"GRANT SELECT, UPDATE ON {TABLE} TO caas_app")
    first, second = uuid.uuid4(), uuid.uuid4()
    await core_db.execute(f"INSERT INTO {TABLE} VALUES ($1, 0), ($2, 0)", first, second)
    yield first, second  # type: ignore[misc]
    await core_db.execute(f"DROP TABLE {TABLE}")


def conn_of(uow: PgUnitOfWork) -> asyncpg.Connection:
    return uow._conn  # type: ignore[return-value]


async def bump(conn: asyncpg.Connection, row: object) -> None:
    await conn.execute(f"UPDATE {TABLE} SET runs = runs + 1 WHERE id = $1", row)


async def collide(runtime: Runtime, rows: tuple[int, int], before: list[str]) -> tuple[int, list[str]]:
    """Run a call that locks row 1 then row 2 while another session locks row 2 then row 1; the call's
    session detects the deadlock first (the other waits longer before checking), so the call is the
    victim on its first run. ``before`` is what the call does ahead of its transaction."""
    assert runtime.core_pool is not None and runtime.targets is not None
    uow = pg_unit_of_work(runtime.core_pool)
    other = await asyncpg.connect(runtime.targets.direct_core)
    runs: list[str] = []
    locked = asyncio.Event()

    async def call() -> int:
        runs.append("run")
        if "commit" in before:
            async with uow() as first:
                await conn_of(first).execute("SELECT 1")
        if "outside" in before:
            note_outside_effect()
        async with uow() as u:
            await bump(conn_of(u), rows[0])
            locked.set()
            await asyncio.sleep(0.2)  # the other session takes row 2 meanwhile (first run only)
            await bump(conn_of(u), rows[1])
        return len(runs)

    async def other_session() -> None:
        await other.execute("SET deadlock_timeout = '10s'")
        async with other.transaction():
            await locked.wait()
            await bump(other, rows[1])
            await bump(other, rows[0])

    try:
        outcome = await asyncio.gather(retry_transient(call), other_session(), return_exceptions=True)
    finally:
        await other.close()
    if isinstance(outcome[1], BaseException):
        raise outcome[1]
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0], runs


async def test_a_call_aborted_by_a_deadlock_runs_again_and_commits_once(
    runtime: Runtime, core_db: asyncpg.Connection, rows: tuple[int, int]
) -> None:
    result, runs = await collide(runtime, rows, [])
    assert result == 2 and runs == ["run", "run"]
    # Each row: once by the other session, once by the call's second run; the first run kept nothing.
    assert await core_db.fetchval(f"SELECT array_agg(runs) FROM {TABLE} WHERE id = ANY($1)", list(rows)) == [
        2,
        2,
    ]


@pytest.mark.parametrize("before", ["commit", "outside"])
async def test_a_call_that_committed_or_wrote_outside_is_not_replayed(
    runtime: Runtime, core_db: asyncpg.Connection, rows: tuple[int, int], before: str
) -> None:
    with pytest.raises(Unavailable, match="call it again with the same arguments"):
        await collide(runtime, rows, [before])


async def test_replays_are_bounded_and_other_errors_pass_through() -> None:
    runs = []

    async def always_deadlocked() -> None:
        runs.append(1)
        raise asyncpg.DeadlockDetectedError("deadlock detected")

    with pytest.raises(Unavailable):
        await retry_transient(always_deadlocked)
    assert len(runs) == ATTEMPTS

    async def broken() -> None:
        runs.append(1)
        raise asyncpg.UniqueViolationError("duplicate")

    with pytest.raises(asyncpg.UniqueViolationError):
        await retry_transient(broken)
    assert len(runs) == ATTEMPTS + 1


def test_deadlocks_and_serialization_failures_are_transient_also_when_wrapped() -> None:
    try:
        try:
            raise asyncpg.SerializationError("could not serialize access")
        except asyncpg.SerializationError as inner:
            raise RuntimeError("wrapped by a use case") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert is_transient(asyncpg.DeadlockDetectedError("deadlock detected"))
    assert not is_transient(asyncpg.CheckViolationError("check"))


@asynccontextmanager
async def in_unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    async with pg_unit_of_work(pool)() as uow:
        yield conn_of(uow)


@asynccontextmanager
async def in_status_mirror(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    async with PgStatusMirror(pool)._as_service() as conn:
        yield conn


@asynccontextmanager
async def in_transaction(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    async with pool.acquire() as conn, transaction(conn):
        yield conn


# Every way the product opens a transaction; each ends with ``tools.platform.transactions.roll_back``.
BEGUN_BY_HAND = {
    "unit of work": in_unit_of_work,
    "tools.platform.transactions.transaction": in_transaction,
    "notifications' service connection": service_connection,
    "Supabase status mirror": in_status_mirror,
}


@pytest.mark.parametrize("begin", BEGUN_BY_HAND.values(), ids=list(BEGUN_BY_HAND))
async def test_a_cancelled_transaction_on_a_database_gone_silent_lets_go_within_its_rollback_bound(
    fresh_database: Any, begin: Callable[[asyncpg.Pool], AbstractAsyncContextManager[Any]]
) -> None:
    # A shutdown cancels the calls in flight; a ROLLBACK the database never answers must not hold it.
    async with dsn_proxy(await fresh_database()) as (proxy, dsn):
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            entered = asyncio.Event()

            async def stuck() -> None:
                async with begin(pool) as conn:
                    proxy.delay = 30  # from here on the database says nothing for 30 s
                    entered.set()
                    await conn.execute("SELECT 1")

            task = asyncio.create_task(stuck())
            await entered.wait()
            await asyncio.sleep(0.2)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            assert time.monotonic() - started < ROLLBACK_S + 2
        finally:
            proxy.delay = 0
            pool.terminate()


def test_no_transaction_is_opened_with_asyncpg_s_own_rollback() -> None:
    # asyncpg's ``conn.transaction()`` rolls back without a bound: tools.platform.transactions.transaction.
    root = Path(__file__).resolve().parents[2]
    opened = [
        f"{path.relative_to(root)}:{node.lineno}"
        for package in ("database", "adapters", "mcp_servers", "tools")
        for path in sorted((root / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "transaction"
    ]
    assert opened == []
