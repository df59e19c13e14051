"""Forward-only, numbered SQL migrations for the two databases, applied under an advisory lock.

Each file ``NNNN_name.sql`` runs in its own transaction and is recorded with its SHA-256. A file that
was edited after it was applied stops everything: the fix is a new migration, never an edit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Literal

import asyncpg

from database.locks import AdvisoryLock
from tools.platform.transactions import transaction

__all__ = [
    "TARGETS",
    "Migration",
    "MigrationError",
    "MigrationState",
    "load",
    "migrate",
    "status",
    "through_pooler",
    "verify",
]

Target = Literal["core", "supabase"]
TARGETS: tuple[Target, ...] = ("core", "supabase")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS caas_meta;
CREATE TABLE IF NOT EXISTS caas_meta.schema_migrations (
    target     text NOT NULL,
    version    integer NOT NULL,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, version)
);
"""


class MigrationError(RuntimeError):
    """The database and the migration files disagree; start-up must stop."""


@dataclass(frozen=True, slots=True)
class Migration:
    target: Target
    version: int
    name: str
    sql: str
    checksum: str


@dataclass(frozen=True, slots=True)
class MigrationState:
    migration_name: str
    state: Literal["applied", "pending", "edited", "unknown"]
    applied_at: datetime | None


def load(target: Target) -> list[Migration]:
    folder = resources.files("database") / "migrations" / target
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        data = entry.read_bytes()
        found.append(
            Migration(target, int(match[1]), entry.name, data.decode(), hashlib.sha256(data).hexdigest())
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two {target} migrations share a number: {versions}")
    return found


async def _applied(conn: asyncpg.Connection, target: Target) -> dict[int, asyncpg.Record]:
    exists = await conn.fetchval("SELECT to_regclass('caas_meta.schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch(
        "SELECT version, name, checksum, applied_at FROM caas_meta.schema_migrations WHERE target = $1",
        target,
    )
    return {r["version"]: r for r in rows}


def _check_history(target: Target, files: list[Migration], applied: dict[int, asyncpg.Record]) -> None:
    by_version = {m.version: m for m in files}
    for version, row in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise MigrationError(
                f"{target} migration {row['name']} is recorded as applied but its file is missing; "
                "this build is older than the database"
            )
        if current.checksum != row["checksum"]:
            raise MigrationError(
                f"{target} migration {row['name']} was edited after it was applied "
                f"(recorded sha256 {row['checksum'][:12]}, file now {current.checksum[:12]}); "
                "restore the file and put the change in a new numbered migration"
            )


async def through_pooler(conn: asyncpg.Connection) -> bool:
    """True when ``conn`` reaches PostgreSQL through a pooler such as PgBouncer: the backend it was
    told at connect (BackendKeyData) is not the one answering, as a pooler hands out its own key."""
    return conn.get_server_pid() != await conn.fetchval("SELECT pg_backend_pid()")


async def migrate(conn: asyncpg.Connection, target: Target) -> list[str]:
    """Apply every pending migration of ``target``; returns the names applied by this call."""
    if await through_pooler(conn):
        # Through a transaction pooler the session lock below would stay on whichever server
        # connection took it, and the unlock would run on another: refused before any change.
        raise MigrationError(
            f"{target} migrations need a session, and this URL goes through a connection pooler; "
            "use the direct URL (NEON_DIRECT_URL, Neon's host without -pooler)"
        )
    files = load(target)
    done: list[str] = []
    # A session lock (not a transaction lock) spans all the per-migration transactions below, so a
    # second process starting at the same moment waits here and then finds nothing left to do.
    await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.MIGRATIONS.value)
    try:
        await conn.execute(_LEDGER_DDL)
        applied = await _applied(conn, target)
        _check_history(target, files, applied)
        for migration in files:
            if migration.version in applied:
                continue
            async with transaction(conn):
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO caas_meta.schema_migrations (target, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    target,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", AdvisoryLock.MIGRATIONS.value)
    return done


async def status(conn: asyncpg.Connection, target: Target) -> list[MigrationState]:
    files = load(target)
    applied = await _applied(conn, target)
    states: list[MigrationState] = []
    for migration in files:
        row = applied.pop(migration.version, None)
        if row is None:
            states.append(MigrationState(migration.name, "pending", None))
        else:
            state: Literal["applied", "edited"] = (
                "applied" if row["checksum"] == migration.checksum else "edited"
            )
            states.append(MigrationState(migration.name, state, row["applied_at"]))
    states.extend(MigrationState(r["name"], "unknown", r["applied_at"]) for r in applied.values())
    return states


async def verify(conn: asyncpg.Connection, target: Target) -> None:
    """Raise MigrationError unless every migration is applied and unedited."""
    files = load(target)
    applied = await _applied(conn, target)
    _check_history(target, files, applied)
    pending = [m.name for m in files if m.version not in applied]
    if pending:
        raise MigrationError(f"{target} database has pending migrations {pending}; run `caas db migrate`")
