"""Lenders' decisions are tallied apart and folded into their provider rows by the workers (migration
0046, ``database/marketplace/decision_tallies.py``): each decision counted exactly once, whether folds
run in batches, at once in several processes, or one of them holds the turn."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.locks import AdvisoryLock
from database.marketplace.decision_tallies import fold_provider_decisions
from mcp_servers.runtime import Runtime
from tests.helpers.providers import onboard

COUNTS = "SELECT decided_count, approved_count FROM caas_core.providers WHERE id = $1"


async def _tally(db: asyncpg.Connection, provider_id: uuid.UUID, approved: int, declined: int) -> None:
    await db.executemany(
        "INSERT INTO caas_core.provider_decision_tallies (provider_id, approved) VALUES ($1, $2)",
        [(provider_id, True)] * approved + [(provider_id, False)] * declined,
    )


async def _lenders(server: Any, principal: Any, n: int) -> list[uuid.UUID]:
    async with Client(server) as mono:
        return [uuid.UUID((await onboard(mono, principal))["provider"]["id"]) for _ in range(n)]


async def test_folds_in_batches_and_at_once_count_every_decision_once(
    server: Any, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.core_pool is not None
    first, second = await _lenders(server, principal, 2)
    await fold_provider_decisions(runtime.core_pool)  # whatever other tests left
    before = [tuple(await core_db.fetchrow(COUNTS, p)) for p in (first, second)]
    await _tally(core_db, first, approved=5, declined=2)
    await _tally(core_db, second, approved=0, declined=4)
    folded = await asyncio.gather(*(fold_provider_decisions(runtime.core_pool, batch=3) for _ in range(4)))
    assert sum(folded) == 11
    after = [tuple(await core_db.fetchrow(COUNTS, p)) for p in (first, second)]
    assert after == [(before[0][0] + 7, before[0][1] + 5), (before[1][0] + 4, before[1][1])]
    assert await core_db.fetchval("SELECT count(*) FROM caas_core.provider_decision_tallies") == 0


async def test_a_fold_that_finds_the_turn_taken_leaves_the_decisions_to_it(
    server: Any, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.core_pool is not None
    (lender,) = await _lenders(server, principal, 1)
    await fold_provider_decisions(runtime.core_pool)
    before = tuple(await core_db.fetchrow(COUNTS, lender))
    await _tally(core_db, lender, approved=1, declined=0)
    async with core_db.transaction():  # another process's fold holds the turn
        await core_db.execute("SELECT pg_advisory_xact_lock($1)", AdvisoryLock.DECISION_FOLD.value)
        assert await fold_provider_decisions(runtime.core_pool) == 0  # so this one leaves the row
        assert await core_db.fetchval("SELECT count(*) FROM caas_core.provider_decision_tallies") >= 1
    assert tuple(await core_db.fetchrow(COUNTS, lender)) == before
    assert await fold_provider_decisions(runtime.core_pool) == 1
    assert tuple(await core_db.fetchrow(COUNTS, lender)) == (before[0] + 1, before[1] + 1)


async def test_a_lender_whose_row_a_bid_holds_is_left_for_the_next_fold_and_holds_up_no_one(
    server: Any, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # A probe's find: the fold waited for a lender whose bids kept its row shared, never got it while
    # they overlapped, and meanwhile held the lenders it had locked, and their bids, with it.
    assert runtime.core_pool is not None and runtime.targets is not None
    other, busy = sorted(await _lenders(server, principal, 2))  # other first in the fold's lock order
    await fold_provider_decisions(runtime.core_pool)
    before = {p: tuple(await core_db.fetchrow(COUNTS, p)) for p in (other, busy)}
    await _tally(core_db, other, approved=1, declined=1)
    await _tally(core_db, busy, approved=2, declined=0)
    bidding = await asyncpg.connect(runtime.targets.direct_core)
    try:
        async with bidding.transaction():  # a bid of the busy lender, not yet committed
            await bidding.execute("SELECT 1 FROM caas_core.providers WHERE id = $1 FOR SHARE", busy)
            folded = await asyncio.wait_for(fold_provider_decisions(runtime.core_pool), timeout=10)
            assert folded == 2
            assert tuple(await core_db.fetchrow(COUNTS, other)) == (
                before[other][0] + 2,
                before[other][1] + 1,
            )
            assert tuple(await core_db.fetchrow(COUNTS, busy)) == before[busy]
    finally:
        await bidding.close()
    assert await fold_provider_decisions(runtime.core_pool) == 2
    assert tuple(await core_db.fetchrow(COUNTS, busy)) == (before[busy][0] + 2, before[busy][1] + 2)


async def test_a_held_lenders_rows_however_many_never_stop_the_fold_before_the_others(
    server: Any, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # A second probe's find: the rows of a held lender filling a whole batch ended the fold (it folded
    # nothing), so while that lender was busy no other lender's decisions were counted.
    assert runtime.core_pool is not None and runtime.targets is not None
    busy, other = await _lenders(server, principal, 2)
    await fold_provider_decisions(runtime.core_pool)
    before = tuple(await core_db.fetchrow(COUNTS, other))
    await _tally(core_db, busy, approved=5, declined=0)  # first in the id order
    await _tally(core_db, other, approved=1, declined=1)
    bidding = await asyncpg.connect(runtime.targets.direct_core)
    try:
        async with bidding.transaction():
            await bidding.execute("SELECT 1 FROM caas_core.providers WHERE id = $1 FOR SHARE", busy)
            assert await fold_provider_decisions(runtime.core_pool, batch=3) == 2
    finally:
        await bidding.close()
    assert tuple(await core_db.fetchrow(COUNTS, other)) == (before[0] + 2, before[1] + 1)
    assert await fold_provider_decisions(runtime.core_pool, batch=3) == 5
