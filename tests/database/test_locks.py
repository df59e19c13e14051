"""Advisory locks: every key comes from one table, no two locks share a key, and the migration runner
and the outbox relay (which once shared ``0x0CAA50001``) hold theirs at the same time."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from database import migrate
from database.locks import AdvisoryLock, KeyedAdvisoryLock
from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tools.platform.jobs import relay_outbox

ROOT = Path(__file__).resolve().parents[2]
CALL = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?(?:un)?lock(?:_shared)?(?:_all)?\s*\(")


def core_dsn(runtime: Runtime) -> str:
    # The migration runner's session lock needs a session: the direct URL (never PgBouncer's).
    assert runtime.targets is not None
    return runtime.targets.direct_core


def test_every_key_is_distinct_and_a_bigint() -> None:
    values = [lock.value for lock in AdvisoryLock]
    assert len(values) == len(set(values)) >= 2
    assert all(-(2**63) <= v < 2**63 for v in values)


def test_every_keyed_lock_names_its_kind_in_an_int4() -> None:
    # pg_advisory_xact_lock(int, int): the kind is the first key, so it must fit a 32-bit integer.
    values = [lock.value for lock in KeyedAdvisoryLock]
    assert len(values) == len(set(values)) >= 1
    assert all(0 < v < 2**31 for v in values)


def test_every_advisory_lock_in_the_code_takes_its_key_from_the_table() -> None:
    calls, unnamed = 0, []
    for folder in ("database", "tools", "adapters", "mcp_servers"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".sql"} or path.name == "locks.py":
                continue
            lines = path.read_text().splitlines()
            for n, line in enumerate(lines):
                if not CALL.search(line):
                    continue
                calls += 1
                # The key is the statement's argument: on the same line or the next one.
                if "AdvisoryLock." not in " ".join(lines[n : n + 2]):
                    unnamed.append(f"{path.relative_to(ROOT)}:{n + 1}: {line.strip()}")
    assert calls >= 3  # migrate's lock and unlock, the relay's: the scan sees them
    assert unnamed == [], "take the key from database.locks.AdvisoryLock"


async def outbox_event(core_db: asyncpg.Connection) -> object:
    return await core_db.fetchval(
        "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
        "VALUES ('test', gen_random_uuid()::text, 'test.locks', '{}'::jsonb) RETURNING event_id"
    )


async def test_the_relay_runs_while_the_migration_runner_holds_its_lock(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.core_pool is not None
    event = await outbox_event(core_db)
    holder = await asyncpg.connect(core_dsn(runtime))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.MIGRATIONS.value)
        while await relay_outbox(PgJobStore(runtime.core_pool)):
            pass
        published = await core_db.fetchval(
            "SELECT published_at IS NOT NULL FROM caas_core.outbox WHERE event_id = $1", event
        )
        assert published, "the relay skipped its turn because the migration lock was held"
    finally:
        await holder.close()


async def test_migrations_run_while_the_relay_holds_its_lock(runtime: Runtime) -> None:
    relay = await asyncpg.connect(core_dsn(runtime))
    runner = await asyncpg.connect(core_dsn(runtime))
    try:
        async with relay.transaction():
            assert await relay.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", AdvisoryLock.OUTBOX_RELAY.value
            )
            # Nothing is pending: the runner only has to get its lock, check and leave.
            assert await asyncio.wait_for(migrate.migrate(runner, "core"), timeout=10) == []
    finally:
        await runner.close()
        await relay.close()


@pytest.mark.parametrize("lock", list(AdvisoryLock))
def test_each_key_is_used_by_the_code(lock: AdvisoryLock) -> None:
    used = "\n".join(p.read_text() for p in sorted((ROOT / "database").rglob("*.py")) if p.name != "locks.py")
    assert f"AdvisoryLock.{lock.name}" in used
