"""The outbox feed behind resource subscriptions and live updates reports every event committed after
its start once, including one whose id was taken before a later event committed (ids are not commit
order)."""

from __future__ import annotations

import uuid

import asyncpg

from database.platform.outbox_feed import Change, OutboxFeed
from mcp_servers.runtime import Runtime

INSERT = """
INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES ('test_feed', $1, 'test_feed.changed', $2::text::jsonb)
"""
OWNERS = '{"provider_id": "p-1", "application_id": "a-1", "reference": "APP-1", "borrower_id": "b-1"}'


def told(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.aggregate_type, c.aggregate_id, c.event_type) for c in changes]


async def test_each_event_committed_after_the_start_is_read_once_even_out_of_id_order(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    pool = runtime.core_pool
    assert pool is not None and runtime.targets is not None
    before, slow, fast = (str(uuid.uuid4()) for _ in range(3))
    await core_db.execute(INSERT, before, "{}")
    feed = OutboxFeed(("test_feed",))
    await feed.start(pool)
    other = await asyncpg.connect(runtime.targets.direct_core)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(INSERT, slow, "{}")  # takes the lower id, commits last
        await core_db.execute(INSERT, fast, OWNERS)
        [change] = await feed.read(pool)
        assert told([change]) == [("test_feed", fast, "test_feed.changed")]
        # The keys that say whose it is, and when; nothing else of the payload.
        assert (change.provider_id, change.application_id, change.reference) == ("p-1", "a-1", "APP-1")
        assert change.occurred_at is not None and change.occurred_at.utcoffset() is not None
        await transaction.commit()
    finally:
        await other.close()
    assert told(await feed.read(pool)) == [("test_feed", slow, "test_feed.changed")]
    assert await feed.read(pool) == []
