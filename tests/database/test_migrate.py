"""Migrations on fresh databases: order, ledger, edited or missing files, concurrency, atomicity."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from database import migrate
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from tests.helpers.common import PII_ENV

REPO = Path(__file__).resolve().parents[2]
REAL_LOAD = migrate.load
TARGETS = pytest.mark.parametrize("target", migrate.TARGETS)


def names(target: migrate.Target) -> list[str]:
    return [m.name for m in REAL_LOAD(target)]


def extra(target: migrate.Target, version: int, sql: str) -> migrate.Migration:
    name = f"{version:04d}_extra.sql"
    return migrate.Migration(target, version, name, sql, hashlib.sha256(sql.encode()).hexdigest())


def edited(m: migrate.Migration) -> migrate.Migration:
    sql = m.sql + "\n-- an edit after the file was applied\n"
    return dataclasses.replace(m, sql=sql, checksum=hashlib.sha256(sql.encode()).hexdigest())


def use_files(monkeypatch: pytest.MonkeyPatch, change: Callable[[list[migrate.Migration]], list]) -> None:
    """Make ``load`` see the real files changed by ``change``, as if the files on disk had changed."""
    monkeypatch.setattr(migrate, "load", lambda target: change(REAL_LOAD(target)))


async def ledger(conn: asyncpg.Connection) -> list[tuple[int, str, str]]:
    rows = await conn.fetch(
        "SELECT version, name, checksum FROM caas_meta.schema_migrations ORDER BY version"
    )
    return [(r["version"], r["name"], r["checksum"]) for r in rows]


@pytest.fixture
async def dsn(fresh_database) -> str:  # type: ignore[no-untyped-def]
    return await fresh_database()


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture(scope="module")
async def migrated(fresh_database) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One migrated database per target, shared by tests that must leave it as they found it."""
    dsns = {}
    for target in migrate.TARGETS:
        dsns[target] = await fresh_database()
        c = await asyncpg.connect(dsns[target])
        try:
            await migrate.migrate(c, target)
        finally:
            await c.close()
    return dsns


@pytest.fixture
async def migrated_conn(migrated: dict[str, str], target: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(migrated[target])
    try:
        yield c
    finally:
        await c.close()


@TARGETS
async def test_migrate_applies_every_file_in_order_and_records_name_and_checksum(conn, target) -> None:
    files = REAL_LOAD(target)
    assert files, "a target without migrations tests nothing"
    assert [m.version for m in files] == sorted({m.version for m in files})
    assert await migrate.migrate(conn, target) == [m.name for m in files]
    assert await ledger(conn) == [(m.version, m.name, m.checksum) for m in files]
    for m in files:
        assert m.checksum == hashlib.sha256(m.sql.encode()).hexdigest()
    times = await conn.fetch("SELECT applied_at FROM caas_meta.schema_migrations ORDER BY version")
    assert [r["applied_at"] for r in times] == sorted(r["applied_at"] for r in times)
    marker = "caas_audit.audit_log" if target == "core" else "public.application_status"
    assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", marker)


@TARGETS
async def test_running_again_applies_nothing_and_leaves_the_ledger_alone(conn, target) -> None:
    await migrate.migrate(conn, target)
    before = await conn.fetch("SELECT * FROM caas_meta.schema_migrations ORDER BY version")
    assert await migrate.migrate(conn, target) == []
    assert await conn.fetch("SELECT * FROM caas_meta.schema_migrations ORDER BY version") == before
    await migrate.verify(conn, target)


@TARGETS
async def test_status_reports_pending_before_and_applied_after(conn, target) -> None:
    before = await migrate.status(conn, target)
    assert [(s.migration_name, s.state, s.applied_at) for s in before] == [
        (n, "pending", None) for n in names(target)
    ]
    with pytest.raises(migrate.MigrationError):
        await migrate.verify(conn, target)
    await migrate.migrate(conn, target)
    after = await migrate.status(conn, target)
    assert [(s.migration_name, s.state) for s in after] == [(n, "applied") for n in names(target)]
    assert all(s.applied_at is not None for s in after)


@TARGETS
async def test_status_reports_a_new_file_as_pending_and_an_edited_one_as_edited(
    migrated_conn, target, monkeypatch
) -> None:
    conn = migrated_conn
    use_files(monkeypatch, lambda ms: [edited(ms[0]), *ms[1:], extra(target, 9000, "SELECT 1;")])
    states = {s.migration_name: s.state for s in await migrate.status(conn, target)}
    assert states == {names(target)[0]: "edited"} | dict.fromkeys(names(target)[1:], "applied") | {
        "9000_extra.sql": "pending"
    }


@TARGETS
async def test_an_edited_applied_migration_is_refused_and_nothing_else_is_applied(
    migrated_conn, target, monkeypatch
) -> None:
    conn = migrated_conn
    before = await ledger(conn)
    use_files(
        monkeypatch, lambda ms: [edited(ms[0]), *ms[1:], extra(target, 9000, "CREATE TABLE later (id int);")]
    )
    with pytest.raises(migrate.MigrationError):
        await migrate.migrate(conn, target)
    with pytest.raises(migrate.MigrationError):
        await migrate.verify(conn, target)
    assert await ledger(conn) == before
    assert await conn.fetchval("SELECT to_regclass('public.later')") is None


@TARGETS
async def test_a_recorded_migration_whose_file_is_missing_is_refused(
    migrated_conn, target, monkeypatch
) -> None:
    conn = migrated_conn
    before = await ledger(conn)
    use_files(monkeypatch, lambda ms: ms[:-1])
    with pytest.raises(migrate.MigrationError):
        await migrate.migrate(conn, target)
    with pytest.raises(migrate.MigrationError):
        await migrate.verify(conn, target)
    assert [s.state for s in await migrate.status(conn, target)][-1] == "unknown"
    assert await ledger(conn) == before


@pytest.mark.parametrize("auto_migrate", [True, False], ids=["auto-migrate", "verify-only"])
@TARGETS
async def test_runtime_refuses_to_start_when_an_applied_migration_was_edited(
    migrated, tmp_path, monkeypatch, target, auto_migrate
) -> None:
    settings = load_settings(
        database_url=migrated["core"],
        supabase_db_url=migrated["supabase"],
        data_dir=tmp_path,
        auto_migrate=auto_migrate,
    )
    async with Runtime(settings).session():  # the real files start it
        pass
    monkeypatch.setattr(
        migrate, "load", lambda t: [edited(m) for m in REAL_LOAD(t)] if t == target else REAL_LOAD(t)
    )
    rt = Runtime(settings)
    with pytest.raises(migrate.MigrationError):
        async with rt.session():
            pass
    assert not rt.ready


async def test_runtime_verifies_without_auto_migrate_and_migrates_with_it(fresh_database, tmp_path) -> None:
    urls = {"database_url": await fresh_database(), "supabase_db_url": await fresh_database()}
    rt = Runtime(load_settings(**urls, data_dir=tmp_path, auto_migrate=False))
    with pytest.raises(migrate.MigrationError):  # pending migrations
        async with rt.session():
            pass
    assert not rt.ready
    async with Runtime(load_settings(**urls, data_dir=tmp_path)).session() as started:
        assert started.ready
    async with rt.session():  # now verified, so it starts without migrating
        assert rt.ready


async def test_runtime_starts_with_only_the_core_url_configured(fresh_database, tmp_path) -> None:
    # SUPABASE_DB_URL is optional: both targets then live in the one database and must not collide.
    rt = Runtime(load_settings(database_url=await fresh_database(), data_dir=tmp_path))
    async with rt.session():
        assert rt.ready
        assert await rt.core_pool.fetchval("SELECT to_regclass('public.application_status') IS NOT NULL")
        assert await rt.core_pool.fetchval("SELECT to_regclass('caas_audit.audit_log') IS NOT NULL")


def assert_each_applied_once(target: migrate.Target, reports: list[list[str]]) -> None:
    applied = [name for report in reports for name in report]
    assert Counter(applied) == Counter(names(target)), reports


@TARGETS
async def test_concurrent_migrators_apply_every_migration_exactly_once(fresh_database, target) -> None:
    dsn = await fresh_database()
    conns = [await asyncpg.connect(dsn) for _ in range(6)]
    try:
        reports = await asyncio.gather(*(migrate.migrate(c, target) for c in conns))
        assert_each_applied_once(target, reports)
        assert [row[1] for row in await ledger(conns[0])] == names(target)
        for c in conns:
            await migrate.verify(c, target)
    finally:
        for c in conns:
            await c.close()


def parse_cli(stdout: str) -> dict[str, list[str]]:
    """``core: applied 2 migration(s): a.sql, b.sql`` lines -> {"core": ["a.sql", "b.sql"]}."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        target, _, rest = line.partition(": applied ")
        _, _, listed = rest.partition(": ")
        out[target] = [n for n in listed.split(", ") if n]
    return out


@pytest.mark.subprocess
async def test_concurrent_cli_migrate_processes_apply_every_migration_exactly_once(
    fresh_database, tmp_path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "SUPABASE_", "CAAS_"))}
    env |= {"NEON_DATABASE_URL": core, "SUPABASE_DB_URL": supabase, "CAAS_DATA_DIR": str(tmp_path), **PII_ENV}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mcp_servers.cli",
            "db",
            "migrate",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), timeout=120)
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    reports = [parse_cli(out.decode()) for out, _ in outputs]
    assert all(set(r) == {"core", "supabase"} for r in reports), reports
    for target, dsn in (("core", core), ("supabase", supabase)):
        assert_each_applied_once(target, [r[target] for r in reports])
        c = await asyncpg.connect(dsn)
        try:
            assert [row[1] for row in await ledger(c)] == names(target)
        finally:
            await c.close()


@TARGETS
async def test_each_migration_runs_in_its_own_transaction(dsn, conn, target, monkeypatch) -> None:
    good = extra(target, 9998, "CREATE TABLE caas_meta.made_by_9998 AS SELECT pg_current_xact_id() AS xact;")
    broken = dataclasses.replace(
        extra(target, 9999, "CREATE TABLE caas_meta.made_by_9999 (id int); SELECT 1 / 0;"), name="9999_x.sql"
    )
    use_files(monkeypatch, lambda ms: [*ms, good, broken])
    with pytest.raises(asyncpg.PostgresError) as failure:
        await migrate.migrate(conn, target)
    assert failure.value.sqlstate == "22012"  # division_by_zero, from the broken file itself
    assert [row[1] for row in await ledger(conn)] == [*names(target), good.name]
    assert await conn.fetchval("SELECT to_regclass('caas_meta.made_by_9999')") is None
    # A migration's own work and its ledger row commit together, in a transaction of their own.
    assert await conn.fetchval(
        """SELECT (SELECT xact::text::bigint % 4294967296 FROM caas_meta.made_by_9998)
                  = (SELECT xmin::text::bigint FROM caas_meta.schema_migrations WHERE name = $1)""",
        good.name,
    )
    assert await conn.fetchval(
        "SELECT count(DISTINCT xmin::text) = count(*) FROM caas_meta.schema_migrations"
    )
    # The advisory lock was released: another session migrates at once, finding only the fixed file.
    fixed = dataclasses.replace(broken, sql="SELECT 1;", checksum=hashlib.sha256(b"SELECT 1;").hexdigest())
    use_files(monkeypatch, lambda ms: [*ms, good, fixed])
    other = await asyncpg.connect(dsn)
    try:
        assert await asyncio.wait_for(migrate.migrate(other, target), timeout=10) == ["9999_x.sql"]
    finally:
        await other.close()
