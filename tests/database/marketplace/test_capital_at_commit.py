"""Capital given back to a lender is written with COMMIT (issue 14): until then the lender's row is
not locked, so the lender's other bids, offers and settlements do not wait behind a transaction still
working. A transaction that rolls back gives nothing back, and neither does a savepoint rolled back.
A COMMIT refused by the database leaves the connection usable."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.marketplace.bids import PgBidWriter
from database.marketplace.capital_at_commit import CapitalAtCommit
from database.unit_of_work import pg_unit_of_work
from mcp_servers.runtime import Runtime
from tests.helpers.providers import onboard

CAPITAL = "SELECT capital_available_minor, version FROM caas_core.providers WHERE id = $1"


def test_the_commit_query_sums_each_lender_in_id_order_and_drops_what_nets_to_nothing() -> None:
    low, high, nil = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    capital = CapitalAtCommit()
    assert capital.commit_sql() == "COMMIT"
    capital.add(high, 300)
    capital.add(low, 100)
    capital.add(high, 20)
    capital.add(nil, 5)
    capital.add(nil, -5)
    queries = capital.commit_sql().split("; ")
    assert queries[-1] == "COMMIT" and len(queries) == 3
    assert "+ 100, " in queries[0] and f"'{low}'" in queries[0]
    assert "+ 320, " in queries[1] and f"'{high}'" in queries[1]
    mark = capital.mark()
    capital.add(low, 7)
    capital.roll_back_to(mark)
    assert capital.commit_sql() == "; ".join(queries)


def test_without_a_transaction_capital_is_refused_not_lost() -> None:
    with pytest.raises(AssertionError, match="inside a transaction"):
        CapitalAtCommit(enabled=False).add(uuid.UUID(int=1), 100)


@pytest.fixture
async def lender(client: Client, principal: Any, core_db: asyncpg.Connection) -> uuid.UUID:
    onboarded = await onboard(client, principal)
    return uuid.UUID(onboarded["provider"]["id"])


async def test_the_lender_row_is_free_until_commit_and_then_holds_the_capital(
    runtime: Runtime, core_db: asyncpg.Connection, lender: uuid.UUID
) -> None:
    assert runtime.core_pool is not None
    before = await core_db.fetchrow(CAPITAL, lender)
    async with pg_unit_of_work(runtime.core_pool)() as uow:
        await uow.providers.add_capital(lender, 1_500)
        await uow.bids.release_capital(lender, 25)
        # Another transaction may lock the lender meanwhile: a bid, an offer, a settlement.
        async with core_db.transaction():
            await core_db.execute(
                "SELECT 1 FROM caas_core.providers WHERE id = $1 FOR NO KEY UPDATE NOWAIT", lender
            )
        assert await core_db.fetchrow(CAPITAL, lender) == before
    after = await core_db.fetchrow(CAPITAL, lender)
    assert after["capital_available_minor"] == before["capital_available_minor"] + 1_525
    assert after["version"] == before["version"] + 1  # one write for the lender


async def test_a_rollback_or_a_savepoint_rolled_back_gives_nothing_back(
    runtime: Runtime, core_db: asyncpg.Connection, lender: uuid.UUID
) -> None:
    assert runtime.core_pool is not None
    uow = pg_unit_of_work(runtime.core_pool)
    before = await core_db.fetchrow(CAPITAL, lender)
    with pytest.raises(RuntimeError):
        async with uow() as work:
            await work.providers.add_capital(lender, 1_000)
            raise RuntimeError("the use case refused")
    assert await core_db.fetchrow(CAPITAL, lender) == before
    async with uow() as work:
        with pytest.raises(RuntimeError):
            async with work.payments.savepoint():
                await work.providers.add_capital(lender, 1_000)
                raise RuntimeError("the effect refused")
        await work.providers.add_capital(lender, 40)
    assert (await core_db.fetchrow(CAPITAL, lender))["capital_available_minor"] == (
        before["capital_available_minor"] + 40
    )


async def test_a_commit_the_database_refuses_rolls_back_and_the_connection_goes_on(
    runtime: Runtime, core_db: asyncpg.Connection, lender: uuid.UUID
) -> None:
    assert runtime.core_pool is not None
    pool = runtime.core_pool
    before = await core_db.fetchrow(CAPITAL, lender)
    with pytest.raises(asyncpg.CheckViolationError):
        async with pg_unit_of_work(pool)() as work:
            await work.providers.set_secret(lender, b"rolled back with the rest")
            # More taken than the lender has: the CHECK refuses it at COMMIT.
            await work.providers.add_capital(lender, -(before["capital_available_minor"] + 1))
    assert await core_db.fetchrow(CAPITAL, lender) == before
    secret = "SELECT webhook_secret_encrypted FROM caas_core.providers WHERE id = $1"
    assert await core_db.fetchval(secret, lender) != b"rolled back with the rest"
    for _ in range(pool.get_max_size() + 1):  # every pooled connection is out of its transaction
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT 1") == 1


async def test_a_unit_of_work_without_a_transaction_refuses_capital(
    runtime: Runtime, lender: uuid.UUID
) -> None:
    assert runtime.core_pool is not None
    async with pg_unit_of_work(runtime.core_pool)(single_statement=True) as work:
        with pytest.raises(AssertionError):
            await work.providers.add_capital(lender, 100)


async def test_a_writer_on_a_bare_connection_writes_at_once(
    core_db: asyncpg.Connection, lender: uuid.UUID
) -> None:
    before = await core_db.fetchrow(CAPITAL, lender)
    await PgBidWriter(core_db).release_capital(lender, 75)
    after = await core_db.fetchrow(CAPITAL, lender)
    assert after["capital_available_minor"] == before["capital_available_minor"] + 75
    assert after["version"] == before["version"] + 1
