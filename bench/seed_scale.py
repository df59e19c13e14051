#!/usr/bin/env python
"""Seeds a fresh database with a lending book at scale (issue 14, part 6), in minutes.

A new database on the PostgreSQL at --dsn (default $CAAS_BENCH_POSTGRES_URL) is migrated like production
(the core and the Supabase-side migrations, into the one database as the embedded default does), then
filled: the providers are COPYed (bench/provider_gen.py, as bench_matching.py makes them), everything
else is INSERT ... SELECT over generate_series on the server (bench/scale_sql.py says what the book holds).
Triggers and foreign-key checks are off while loading (session_replication_role = replica, as
bench_metrics.py does): the rows are consistent by construction, and the cached balances are written
from the postings afterwards. The indexes no constraint stands on are dropped first and built again
after the load, from their own definitions (one sort each). Then VACUUM ANALYZE (statistics, and the
visibility map for index-only scans). The time per table is printed. The database is kept (its DSN
is printed) unless --drop.

    .venv/bin/python bench/seed_scale.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    # the issue's sizes (1.25M applications, of which 1M loans; 100k providers; 10M postings);
    # --scale 0.01 for a hundredth of each; or --applications/--providers/--loans/--postings
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from provider_gen import COLUMNS, provider  # noqa: E402  (beside this script)
from scale_sql import APPS, SID, STEPS  # noqa: E402

from database import migrate  # noqa: E402
from tools.ledger.domain.chart import account_id  # noqa: E402

# 1M loans need 1M applications that were disbursed; the other 250k are the pipeline in flight.
DEFAULTS = {"applications": 1_250_000, "providers": 100_000, "loans": 1_000_000, "postings": 10_000_000}
CLEARING = "platform:cash_clearing:onasis:NGN"


@dataclass(frozen=True)
class Sizes:
    applications: int
    providers: int
    loans: int
    postings: int

    @classmethod
    def scaled(cls, factor: float, **given: int | None) -> Sizes:
        values = {k: given.get(k) or max(1, round(v * factor)) for k, v in DEFAULTS.items()}
        values["loans"] = min(values["loans"], values["applications"])
        return cls(**values)

    @property
    def repayments(self) -> int:
        """Repayment journals per loan: each journal is two postings, beside the disbursement's two."""
        return max(0, min(6, (self.postings // max(self.loans, 1) - 2) // 2))

    @property
    def heavy_inbox(self) -> int:
        """Notifications in one user's inbox: enough for 100 pages of 20 at any scale."""
        return max(2_500, self.applications // 100)


def sid(kind: int, n: int) -> uuid.UUID:
    """The Python side of pg_temp.sid (scale_sql.SID)."""
    return uuid.UUID(f"{kind:08x}-0000-4000-8000-{n:012x}")


def fill(sql: str, sizes: Sizes, now: datetime) -> str:
    tokens = {
        "@NOW": now.isoformat(),
        "@A": str(sizes.applications),
        "@L": str(sizes.loans),
        "@R": str(sizes.repayments),
        "@H": str(sizes.heavy_inbox),
    }
    for token, value in tokens.items():
        sql = sql.replace(token, value)
    return sql


async def copy_providers(conn: asyncpg.Connection, sizes: Sizes) -> None:
    rnd = random.Random(14)
    rows = [(sid(2, n), *provider(rnd, n)[1:]) for n in range(sizes.providers)]
    # Every application here is in NGN: at least three active NGN lenders to invite, whatever the draw.
    rows[:3] = [(*r[:3], "active", None, None, None, "NGN", ["NG"], *r[9:]) for r in rows[:3]]
    await conn.copy_records_to_table("providers", schema_name="caas_core", records=rows, columns=COLUMNS)
    await conn.execute(
        "CREATE TEMP TABLE seed_ngn AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id "
        "FROM caas_core.providers WHERE currency = 'NGN' AND status = 'active';"
        "CREATE UNIQUE INDEX ON seed_ngn (k); ANALYZE seed_ngn"
    )


async def copy_accounts(conn: asyncpg.Connection, sizes: Sizes) -> None:
    """The ledger's account ids are UUIDv5 of their codes (tools/ledger/domain/chart.py): made here."""
    rows: list[tuple[Any, ...]] = [(account_id(CLEARING), CLEARING, "platform", None)]
    for (pid,) in await conn.fetch("SELECT id FROM seed_ngn"):
        code = f"provider:{pid}:capital_reserved:NGN"
        rows.append((account_id(code), code, "provider", str(pid)))
    for n in range(sizes.loans):
        code = f"loan:{sid(4, n)}:principal_receivable:NGN"
        rows.append((account_id(code), code, "loan", str(sid(4, n))))
    await conn.execute(
        "CREATE TEMP TABLE seed_accounts (account_id uuid, code text, owner_type text, owner_id text)"
    )
    await conn.copy_records_to_table("seed_accounts", records=rows)
    await conn.execute("CREATE INDEX ON seed_accounts (owner_id); ANALYZE seed_accounts")


# The indexes no constraint stands on: dropped before the load and made again after it from their own
# definitions, so each is built once by a sort instead of updated row by row (the primary keys and
# unique constraints stay, and the seed's joins use them).
_SECONDARY = """
SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_get_indexdef(i.indexrelid) AS ddl
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('caas_core', 'caas_ledger', 'public')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""


async def drop_secondary_indexes(conn: asyncpg.Connection) -> list[str]:
    indexes = await conn.fetch(_SECONDARY)
    for index in indexes:
        await conn.execute(f"DROP INDEX {index['name']}")
    return [index["ddl"] for index in indexes]


async def build_indexes(conn: asyncpg.Connection, ddls: list[str]) -> None:
    for ddl in ddls:
        await conn.execute(ddl)


STATE_COUNTS = """
INSERT INTO caas_core.application_state_counts (status, currency, slot, n)
SELECT status, currency, 0, count(*) FROM caas_core.applications GROUP BY status, currency
"""


async def seed(dsn: str, sizes: Sizes, say: Any = print) -> dict[str, float]:
    """Migrates and fills the (empty) database at dsn; returns the seconds spent per step."""
    conn = await asyncpg.connect(dsn)
    spent: dict[str, float] = {}

    async def step(name: str, work: Any) -> None:
        t0 = time.perf_counter()
        await work
        spent[name] = round(time.perf_counter() - t0, 2)
        say(f"  {name:<26} {spent[name]:8.2f} s")

    try:
        await step("migrate", _migrate(conn))
        now = datetime.now(UTC)
        await conn.execute("SET session_replication_role = replica; SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'; SET work_mem = '64MB'")
        await conn.execute(SID)
        indexes = await drop_secondary_indexes(conn)
        await step("providers (COPY)", copy_providers(conn, sizes))
        await step("plan of the book", conn.execute(fill(APPS, sizes, now)))
        for name, sql in STEPS:
            if name == "ledger accounts":
                await step("account ids (COPY)", copy_accounts(conn, sizes))
            await step(name, conn.execute(fill(sql, sizes, now)))
        await step(f"{len(indexes)} indexes", build_indexes(conn, indexes))
        # Its trigger was off with the others: the per-state counts the dashboard reads (0028).
        await step("application state counts", conn.execute(STATE_COUNTS))
        # And the running totals /metrics reads (0029), counted from the rows as the migration does.
        await step("metric totals", conn.execute("SELECT caas_core.recount_metric_totals()"))
        await conn.execute("SET session_replication_role = origin")
        await conn.execute(f"SELECT setval('caas_core.application_reference_seq', {sizes.applications + 1})")
        await step("vacuum analyze", conn.execute("VACUUM ANALYZE"))
    finally:
        await conn.close()
    return spent


async def _migrate(conn: asyncpg.Connection) -> None:
    await migrate.migrate(conn, "core")
    await migrate.migrate(conn, "supabase")


async def counts(dsn: str) -> dict[str, int]:
    tables = (
        "caas_core.applications", "caas_core.application_transitions", "caas_core.providers",
        "caas_core.provider_invitations", "caas_core.bids", "caas_core.loans", "caas_core.loan_installments",
        "caas_core.payments", "caas_ledger.journals", "caas_ledger.postings", "caas_ledger.account_balances",
        "caas_core.outbox", "caas_core.jobs", "caas_core.documents", "caas_core.pending_actions",
        "public.notifications", "public.support_conversations",
    )  # fmt: skip
    conn = await asyncpg.connect(dsn)
    try:
        # The planner's estimates: exact after VACUUM ANALYZE, and instant where count(*) would scan.
        rows = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS t, c.reltuples::bigint AS n FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = ANY ($1)",
            list(tables),
        )
    finally:
        await conn.close()
    return {r["t"]: int(r["n"]) for r in rows}


def database_dsn(admin: str, name: str) -> str:
    return urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))


async def create_database(admin: str, prefix: str) -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def size_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0, help="a fraction of the issue's sizes")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=None, help=f"default {value:,} x --scale")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"))
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    size_options(parser)
    opts = parser.parse_args()
    if not opts.dsn:
        parser.error("--dsn or CAAS_BENCH_POSTGRES_URL: a PostgreSQL that can CREATE and DROP DATABASE")
    sizes = Sizes.scaled(opts.scale, **{k: getattr(opts, k) for k in DEFAULTS})
    print(f"# {asdict(sizes)}, {sizes.repayments} repayments per loan; load {os.getloadavg()[0]:.2f}")
    name = await create_database(opts.dsn, "caas_bench_scale")
    t0 = time.perf_counter()
    try:
        await seed(database_dsn(opts.dsn, name), sizes)
        print(f"# seeded in {time.perf_counter() - t0:.1f} s: {await counts(database_dsn(opts.dsn, name))}")
    finally:
        if opts.drop:
            await drop_database(opts.dsn, name)
            print(f"# dropped database {name}")
        else:
            print(f"# database kept: {database_dsn(opts.dsn, name)}")


if __name__ == "__main__":
    asyncio.run(main())
