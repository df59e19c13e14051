"""The outbox feed behind resource subscriptions reports every event committed after its start once,
including one whose id was taken before a later event committed (ids are not commit order)."""

from __future__ import annotations

import uuid

import asyncpg

from database.platform.outbox_feed import Change, OutboxFeed
from mcp_servers.runtime import Runtime

INSERT = """
INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES ('test_feed', $1, 'test_feed.changed', '{}')
"""


async def test_each_event_committed_after_the_start_is_read_once_even_out_of_id_order(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    pool = runtime.core_pool
    assert pool is not None and runtime.targets is not None
    before, slow, fast = (str(uuid.uuid4()) for _ in range(3))
    await core_db.execute(INSERT, before)
    feed = OutboxFeed(("test_feed",))
    await feed.start(pool)
    other = await asyncpg.connect(runtime.targets.core)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(INSERT, slow)  # takes the lower id, commits last
        await core_db.execute(INSERT, fast)
        assert await feed.read(pool) == [Change("test_feed", fast)]
        await transaction.commit()
    finally:
        await other.close()
    assert await feed.read(pool) == [Change("test_feed", slow)]
    assert await feed.read(pool) == []
