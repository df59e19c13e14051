#!/usr/bin/env python
"""reconcile_ledger at book scale: a full run against an incremental one after an hour's journals.

A fresh migrated database on one PostgreSQL (`--dsn` or `$CAAS_BENCH_POSTGRES_URL`), a quick SQL seed
(generate_series; not the book seeder of bench/seed_scale.py): `--accounts` accounts and `--postings`
postings in two-line journals, written with the ledger's triggers bypassed (session_replication_role
= replica) and the cached balances then computed from them, as the triggers would have. Then:
1. a first run (full: no checkpoint yet), 2. `--recent` more journals (an hour's worth), 3. an
incremental run, 4. a full run (`full=True`). Each is `database.ledger.reconcile.reconcile`, the
tool's own query path, timed by wall clock; all must report the ledger consistent.

    .venv/bin/python bench/bench_reconcile.py --dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --accounts 100000 --postings 10000000 --recent 20000 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
from submit_harness import admin_exec, with_db  # noqa: E402

from database import migrate  # noqa: E402
from database.ledger.reconcile import reconcile  # noqa: E402

ACCOUNTS = """
INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id)
SELECT md5('acct' || n)::uuid, 'loan:l-' || n || ':principal:NGN', 'asset', 'NGN', 'loan', 'l-' || n
FROM generate_series(1, $1::bigint) n
"""
# Journal n moves (n mod 997 + 1) minor units from account n mod A to account (n * 7919) mod A.
JOURNALS = """
INSERT INTO caas_ledger.journals (id, kind, source_id, memo, created_by)
SELECT md5('j' || $3::text || n)::uuid, 'repayment', $3::text || n, 'seed', 'bench'
FROM generate_series($1::bigint, $2::bigint) n
"""
POSTINGS = """
INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor)
SELECT md5('j' || $4::text || n)::uuid, md5('acct' || (side * n % $3 + 1))::uuid, 'NGN',
       CASE WHEN side = 1 THEN 1 ELSE -1 END * (n % 997 + 1)
FROM generate_series($1::bigint, $2::bigint) n, (VALUES (1), (7919)) s(side)
"""
BALANCES = """
INSERT INTO caas_ledger.account_balances AS b (account_id, balance_minor)
SELECT md5('acct' || (side * n % $3 + 1))::uuid, sum(CASE WHEN side = 1 THEN 1 ELSE -1 END * (n % 997 + 1))
FROM generate_series($1::bigint, $2::bigint) n, (VALUES (1), (7919)) s(side)
GROUP BY 1
ON CONFLICT (account_id) DO UPDATE SET balance_minor = b.balance_minor + EXCLUDED.balance_minor
"""


async def seed(conn: asyncpg.Connection, first: int, last: int, accounts: int, tag: str) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(JOURNALS, first, last, tag)
        await conn.execute(POSTINGS, first, last, accounts, tag)
        await conn.execute(BALANCES, first, last, accounts)


async def timed(pool: asyncpg.Pool, full: bool) -> dict[str, Any]:
    start = time.perf_counter()
    found = await reconcile(pool, full)
    seconds = time.perf_counter() - start
    if not found.consistent:
        raise RuntimeError(f"the seeded ledger does not reconcile: {found}")
    return {"mode": found.mode, "s": round(seconds, 3), "postings_checked": found.postings_checked}


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    name = f"caas_bench_reconcile_{secrets.token_hex(4)}"
    await admin_exec(opts.dsn, f'CREATE DATABASE "{name}"')
    dsn = with_db(opts.dsn, name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate.migrate(conn, "core")
            start = time.perf_counter()
            await conn.execute(ACCOUNTS, opts.accounts)
            journals = opts.postings // 2
            for first in range(1, journals + 1, 500_000):
                await seed(conn, first, min(first + 499_999, journals), opts.accounts, "s")
            await conn.execute("ANALYZE")
            seeded_s = time.perf_counter() - start
            async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
                first_run = await timed(pool, False)
                await seed(conn, 1, opts.recent, opts.accounts, "r")
                incremental = await timed(pool, False)
                full = await timed(pool, True)
        finally:
            await conn.close()
    finally:
        await admin_exec(opts.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "accounts": opts.accounts,
        "postings": journals * 2,
        "recent_postings": opts.recent * 2,
        "seed_s": round(seeded_s, 1),
        "first_run": first_run,
        "incremental": incremental,
        "full": full,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"))
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--postings", type=int, default=1_000_000)
    ap.add_argument("--recent", type=int, default=10_000, help="journals (two postings each) since")
    ap.add_argument("--json", metavar="OUT.json")
    opts = ap.parse_args()
    if not opts.dsn:
        ap.error("give --dsn or CAAS_BENCH_POSTGRES_URL (a server that may CREATE DATABASE)")
    load = os.getloadavg()
    result = asyncio.run(run(opts)) | {"load_1_5_15": [round(x, 2) for x in load]}
    print(json.dumps(result, indent=2))
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
