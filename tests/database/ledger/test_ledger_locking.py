"""The ledger's balance-cache rows are locked last, at COMMIT, all of a transaction's at once and in
account order (migration 0019): two transactions whose journals cross the same accounts in opposite
orders both commit, where they used to deadlock (issue 10, #17); a savepoint rolled back takes its
journals out of the cache with it."""

from __future__ import annotations

import asyncio

import asyncpg

from database.ledger.ledger import PgLedgerWriter
from mcp_servers.runtime import Runtime
from tests.helpers.ledger import SERVICE_CALL, capital, deposit, new_provider, post, reserve
from tools.ledger.domain.ledger import JournalDraft

PURPOSES = ("capital_available", "capital_contributed", "capital_reserved")


async def connect(runtime: Runtime) -> asyncpg.Connection:
    assert runtime.targets is not None
    return await asyncpg.connect(runtime.targets.direct_core)


async def cached_and_summed(db: asyncpg.Connection, provider: str) -> dict[str, tuple[int, int]]:
    found = {}
    for purpose in PURPOSES:
        acct = capital(provider, purpose)
        found[purpose] = (
            await db.fetchval(
                "SELECT coalesce((SELECT balance_minor FROM caas_ledger.account_balances "
                "WHERE account_id = $1), 0)",
                acct.id,
            ),
            await db.fetchval(
                "SELECT coalesce(sum(amount_minor), 0)::bigint FROM caas_ledger.postings "
                "WHERE account_id = $1",
                acct.id,
            ),
        )
    return found


async def posting(conn: asyncpg.Connection, draft: JournalDraft) -> None:
    await asyncio.wait_for(PgLedgerWriter(conn).post(draft, SERVICE_CALL, {}), timeout=10)


async def test_journals_crossing_the_same_accounts_in_opposite_orders_both_commit(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    p, q = new_provider(), new_provider()
    await post(runtime, deposit(p, 1_000), deposit(q, 1_000))  # the accounts exist
    one, two = await connect(runtime), await connect(runtime)
    try:
        first, second = one.transaction(), two.transaction()
        await first.start()
        await second.start()
        await posting(one, deposit(p, 10))  # p's available and contributed
        await posting(two, deposit(q, 20))  # q's available and contributed
        # Each now posts to the other's accounts. With the balance rows locked as each journal posted,
        # each waited for the other: a deadlock, one of them rolled back.
        await asyncio.gather(posting(one, reserve(q, 5)), posting(two, reserve(p, 7)))
        await first.commit()
        await second.commit()
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


async def test_a_journal_in_a_rolled_back_savepoint_leaves_the_cache_untouched(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    p = new_provider()
    conn = await connect(runtime)
    try:
        async with conn.transaction():
            await posting(conn, deposit(p, 100))
            savepoint = conn.transaction()
            await savepoint.start()
            await posting(conn, reserve(p, 40))
            await savepoint.rollback()
            await posting(conn, reserve(p, 25))
    finally:
        await conn.close()
    assert await cached_and_summed(core_db, p) == {
        "capital_available": (75, 75),
        "capital_contributed": (-100, -100),
        "capital_reserved": (25, 25),
    }
